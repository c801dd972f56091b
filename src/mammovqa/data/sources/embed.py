"""EMBED Open Data (AWS, credentialed), exam level, read as downloaded.

Layout (docs/dataset-sources.md §8): ``tables/EMBED_OpenData_metadata.csv`` (one row per image; ``anon_dicom_path`` starts
with ``/mnt/NAS2/mammo/anon_dicom``, replaced by the local image root: the folder holding ``cohort_1``/
``cohort_2``) and ``tables/EMBED_OpenData_clinical.csv`` (or ``_clinical_reduced``; one row per finding:
``acc_anon``, ``asses`` A/N/B/P/S/M/K = BI-RADS 0/1/2/3/4/5/6, ``tissueden`` 1-4 = A-D, 5 = normal male).

One record per exam (``acc_anon``), ids kept as strings (the official float cast corrupts ids > 2^53).
Exam labels: ACR = the exam's density (the first non-empty value; disagreements noted); Bi-Rads = the most
severe assessment of the exam in the ACR atlas order 1 < 2 < 3 < 6 < 0 < 4 < 5 (the official collapse of
finding rows is unknown). ``K`` (6) and ``tissueden`` 5 are excluded. Spot-compression/magnification images
(``spot_mag`` = 1) are left out of an exam's images (diagnostic add-ons, not the screening views) and counted;
at most 15 images per exam (sorted by path), as the paper states. An absent image is counted as missing
and dropped from its exam; an exam with no image left is skipped. Patient key ``empi_anon``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..records import Record
from .base import Reader, provenance_extra, read_table

META_COLUMNS = {"empi_anon": (), "acc_anon": (), "anon_dicom_path": ()}
META_OPTIONAL = {"spot_mag": (), "FinalImageType": (), "ImageLateralityFinal": (), "ViewPosition": ()}
CLIN_COLUMNS = {"acc_anon": (), "asses": (), "tissueden": ()}
NAS_PREFIX = "/mnt/NAS2/mammo/anon_dicom"
ASSES_ORDER = {"N": 1, "B": 2, "P": 3, "K": 4, "A": 5, "S": 6, "M": 7}
MAX_IMAGES = 15


class EMBEDReader(Reader):
    name = "EMBED"
    patient_key = "empi_anon column"

    def _image_root(self) -> Path:
        for cand in ("images", "anon_dicom", "."):
            p = self.root / cand
            if (p / "cohort_1").is_dir() or (p / "cohort_2").is_dir():
                return p
        return self.root

    def _local(self, dicom_path: str, img_root: Path) -> Path:
        p = dicom_path.strip()
        if p.startswith(NAS_PREFIX):
            p = p[len(NAS_PREFIX):]
        return img_root / p.lstrip("/")

    def _records(self) -> Iterator[Record]:
        meta_f = self.find_file("tables/EMBED_OpenData_metadata.csv", "EMBED_OpenData_metadata.csv",
                                "tables/EMBED_OpenData_metadata_reduced.csv")
        clin_f = self.find_file("tables/EMBED_OpenData_clinical.csv", "tables/EMBED_OpenData_clinical_reduced.csv",
                                "EMBED_OpenData_clinical.csv", "EMBED_OpenData_clinical_reduced.csv")
        assert meta_f is not None and clin_f is not None
        img_root = self._image_root()
        clinical: dict[str, list[tuple[int, dict[str, str]]]] = {}
        for row, v in read_table(self.name, clin_f, CLIN_COLUMNS).rows:
            clinical.setdefault(v["acc_anon"], []).append((row, v))
        exams: dict[str, list[tuple[int, dict[str, str]]]] = {}
        for row, v in read_table(self.name, meta_f, META_COLUMNS, optional=META_OPTIONAL).rows:
            if v.get("spot_mag", "") in ("1", "1.0", "True"):
                self.exclude("spot compression / magnification image left out of the exam", meta_f, row,
                             v["anon_dicom_path"])
                continue
            exams.setdefault(v["acc_anon"], []).append((row, v))
        part = "exam"
        for acc in sorted(exams):
            rows = []
            for row, v in sorted(exams[acc], key=lambda x: x[1]["anon_dicom_path"]):
                local = self._local(v["anon_dicom_path"], img_root)
                if local.exists():
                    rows.append((row, v))
                else:  # one absent image leaves the rest of the exam usable
                    self.report_missing(local, meta_f, row, f"{self.part_name('exam')}/{acc}")
            if not rows:
                continue
            if len(rows) > MAX_IMAGES:
                for row, v in rows[MAX_IMAGES:]:
                    self.exclude(f"exam has more than {MAX_IMAGES} images", meta_f, row, v["anon_dicom_path"])
                rows = rows[:MAX_IMAGES]
            crow = clinical.get(acc)
            if not crow:
                self.exclude("exam without clinical rows (no labels)", meta_f, rows[0][0], acc)
                continue
            labels: dict[str, list[str]] = {}
            raw: dict = {}
            dens = [(r, v["tissueden"]) for r, v in crow if v["tissueden"]]
            if dens:
                if len({d for _, d in dens}) > 1:
                    self.note(f"exam {acc}: tissueden differs between clinical rows; the first is used")
                self.add_label(labels, raw, part, "ACR", dens[0][1], clin_f, dens[0][0])
            else:
                self.add_label(labels, raw, part, "ACR", "", clin_f, crow[0][0])
            asses = [(r, v["asses"].strip().upper()) for r, v in crow if v["asses"].strip()]
            if asses:
                r_w, worst = max(asses, key=lambda x: ASSES_ORDER.get(x[1], 0))
                self.add_label(labels, raw, part, "Bi-Rads", worst, clin_f, r_w)
                raw["Bi-Rads"] = [a for _, a in asses] if len(asses) > 1 else worst
            else:
                self.add_label(labels, raw, part, "Bi-Rads", "", clin_f, crow[0][0])
            patient = rows[0][1]["empi_anon"]
            yield Record(record_id=f"{self.part_name(part)}/{acc}", dataset=self.part_name(part), kind="exam",
                         images=[str(self._local(v["anon_dicom_path"], img_root)) for _, v in rows],
                         labels=labels, raw_labels=raw, patient_id=f"EMBED-{patient}", exam_id=f"EMBED-{acc}",
                         extra=provenance_extra(meta_f, rows[0][0], f"EMBED-{acc}", clinical_file=str(clin_f),
                                                n_images=len(rows)))
