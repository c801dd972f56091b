"""RSNA Screening Mammography Breast Cancer Detection (Kaggle competition), read as downloaded.

Layout (docs/dataset-sources.md §13, §19): ``train.csv`` and ``train_images/<patient_id>/<image_id>.dcm`` (JPEG 2000
lossless; decoding needs pylibjpeg-openjpeg, the preparation step's concern). A PNG copy at the same relative
path (``<image_id>.png``, what the official notebook expects) is accepted when the DICOM is absent.

Labels: ``density`` A-D, ``laterality``, ``view``; ``BIRADS`` and ``density`` are empty for whole sites
(counted as absent labels). Views other than CC/MLO (AT, LM, ML, LMO) are excluded and counted.
Correction (bug): RSNA's ``BIRADS`` is not standard BI-RADS: 0 = follow-up needed, 1 = negative, 2 = normal
(competition data description). 0 and 1 agree with BI-RADS 0/1; 2 has no standard counterpart and is
excluded instead of being called "Bi-Rads 2" (benign) as officially (see data_manifest/labels/rsna.yaml).
Patient key ``patient_id``; ``site_id`` is the site.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..records import Record
from .base import Reader, provenance_extra, read_table

COLUMNS = {"site_id": (), "patient_id": (), "image_id": (), "laterality": (), "view": (), "BIRADS": (),
           "density": ()}
OPTIONAL = {"cancer": (), "machine_id": ()}
VIEWS = ("CC", "MLO")


class RSNAReader(Reader):
    name = "RSNA"
    patient_key = "patient_id column"

    def _records(self) -> Iterator[Record]:
        csv = self.find_file("train.csv", "rsna-breast-cancer-detection/train.csv")
        assert csv is not None
        img_root = csv.parent / "train_images"
        part = "breast"
        for row, v in read_table(self.name, csv, COLUMNS, optional=OPTIONAL).rows:
            view = v["view"].strip().upper()
            if view not in VIEWS:
                self.exclude("view other than CC/MLO", csv, row, view)
                continue
            pid, iid = v["patient_id"], v["image_id"]
            image = img_root / pid / f"{iid}.dcm"
            if not image.exists() and (img_root / pid / f"{iid}.png").exists():
                image = img_root / pid / f"{iid}.png"
            labels: dict[str, list[str]] = {}
            raw: dict = {}
            self.add_label(labels, raw, part, "ACR", v["density"].strip().upper(), csv, row)
            self.add_label(labels, raw, part, "Bi-Rads", v["BIRADS"], csv, row)
            self.add_label(labels, raw, part, "Laterality", v["laterality"].strip().upper(), csv, row)
            self.add_label(labels, raw, part, "View", view, csv, row)
            yield Record(record_id=f"{self.part_name(part)}/{pid}_{iid}", dataset=self.part_name(part),
                         kind="breast", images=[str(image)], labels=labels, raw_labels=raw,
                         patient_id=f"RSNA-{pid}", exam_id=f"RSNA-{pid}", site=v["site_id"] or None,
                         laterality={"L": "Left", "R": "Right"}.get(v["laterality"].strip().upper()), view=view,
                         extra=provenance_extra(csv, row, f"RSNA-{iid}", cancer=v.get("cancer"),
                                                machine_id=v.get("machine_id")))
