"""Mammogram Mastery (Mendeley Data, DOI 10.17632/fvjhtskg93.1), external breast set, read as downloaded.

Layout (docs/dataset-sources.md §16): ``Breast Cancer Dataset/Original Dataset/{Cancer,Non-Cancer}/IMG*.jpg``; the
``Augmented Dataset`` beside it is not read (excluded by design). Only files whose names start with ``IMG`` are
used (official). Record ids keep the original file name (correction: the official ``<class>_img<counter>``
names depended on unsorted ``os.listdir`` order). No patient id exists: the file stands in.
Non-Cancer covers normal and benign breasts alike; it maps to Benign as officially (convention kept, no way to
tell them apart).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ...errors import DataError
from ..records import Record
from .base import Reader, provenance_extra

CLASSES = ("Cancer", "Non-Cancer")
ORIGINAL = ("Breast Cancer Dataset/Original Dataset", "Original Dataset")
IMAGE_EXT = (".jpg", ".jpeg", ".png")


class MMReader(Reader):
    name = "MM"

    def _records(self) -> Iterator[Record]:
        base = next((self.root / c for c in ORIGINAL if (self.root / c).is_dir()), None)
        if base is None:
            raise DataError(self.root / ORIGINAL[0], None, f"{self.name}: folder not found (expected "
                                                           f"'{ORIGINAL[0]}/{{Cancer,Non-Cancer}}/')")
        part = "breast"
        for klass in CLASSES:
            folder = base / klass
            if not folder.is_dir():
                self.note(f"{folder} not found: class {klass} skipped")
                continue
            for p in sorted(folder.iterdir()):
                if not p.is_file() or p.suffix.lower() not in IMAGE_EXT:
                    continue
                if not p.name.upper().startswith("IMG"):
                    self.exclude("file name does not start with IMG (official filter)", folder, p.name, p.name)
                    continue
                labels: dict[str, list[str]] = {}
                raw: dict = {}
                self.add_label(labels, raw, part, "Pathology", klass, folder, p.name)
                key = f"{klass}/{p.stem}"
                yield Record(record_id=f"{self.part_name(part)}/{key}", dataset=self.part_name(part), kind="breast",
                             images=[str(p)], labels=labels, raw_labels=raw, patient_id=f"MM-{klass}-{p.stem}",
                             extra=provenance_extra(folder, p.name, f"MM-{key}"))

    @staticmethod
    def augmented_dir(root: Path) -> Path:
        return Path(root) / "Breast Cancer Dataset" / "Augmented Dataset"
