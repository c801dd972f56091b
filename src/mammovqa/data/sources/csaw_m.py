"""CSAW-M (SciLifeLab figshare, credentialed), read as downloaded.

Layout (docs/dataset-sources.md §6): ``labels/CSAW-M_train.csv`` and ``labels/CSAW-M_test.csv`` (``;``-separated) and
``images/preprocessed/<train|test>/<Filename>`` (the subfolder is the part of ``Filename`` before its first ``_``).
``Label`` 1-8 is the masking level (1 = lowest masking).

Correction (bug in the official benchmark): the CSAW-M preprocessing flips every right breast to face left, so
laterality cannot be seen in the image; the Laterality label (from ``Dicom_image_laterality``) is therefore
*not* emitted by default and each withheld label is counted as an exclusion. ``Record.laterality`` still carries
the acquired side. Pass ``image_laterality=True`` to reproduce the official questions.
No patient id is published: the file name stands in. ``extra["official_split"]`` is train/test (the test
labels are a five-expert consensus; keep them out of training).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..records import Record
from .base import Reader, provenance_extra, read_table

COLUMNS = {"Filename": (), "Label": (), "Dicom_image_laterality": ()}
OPTIONAL = {"If_cancer": (), "Expert_1": ()}


class CSAWMReader(Reader):
    name = "CSAW-M"

    def __init__(self, root: str | Path, labels_dir: Path | None = None, image_laterality: bool = False, *,
                 strict_labels: bool = False):
        super().__init__(root, labels_dir, strict_labels=strict_labels)
        self.image_laterality = image_laterality

    def _records(self) -> Iterator[Record]:
        found = False
        part = "breast"
        for split in ("train", "test"):
            f = self.find_file(f"labels/CSAW-M_{split}.csv", f"CSAW-M/labels/CSAW-M_{split}.csv", required=False)
            if f is None:
                self.note(f"labels/CSAW-M_{split}.csv not found: {split} images skipped")
                continue
            found = True
            img_root = self.find_dir("images/preprocessed", "CSAW-M/images/preprocessed")
            for row, v in read_table(self.name, f, COLUMNS, optional=OPTIONAL, sep=";").rows:
                fname = v["Filename"].strip()
                sub = fname.split("_", 1)[0]
                labels: dict[str, list[str]] = {}
                raw: dict = {}
                self.add_label(labels, raw, part, "Masking potential", v["Label"], f, row)
                side = v["Dicom_image_laterality"].strip().upper()
                if self.image_laterality:
                    self.add_label(labels, raw, part, "Laterality", side, f, row)
                else:
                    raw["Laterality"] = side
                    self.exclude("Laterality withheld: CSAW-M images are pre-flipped to face left", f, row, side)
                stem = Path(fname).stem
                yield Record(record_id=f"{self.part_name(part)}/{stem}", dataset=self.part_name(part), kind="breast",
                             images=[str(img_root / sub / fname)], labels=labels, raw_labels=raw,
                             patient_id=f"CSAW-M-{stem}", exam_id=None,
                             laterality={"L": "Left", "R": "Right"}.get(side),
                             extra=provenance_extra(f, row, fname, official_split=split,
                                                    if_cancer=v.get("If_cancer")))
        if not found:
            self.find_file("labels/CSAW-M_train.csv", "labels/CSAW-M_test.csv")
