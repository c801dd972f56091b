"""NL-Breast-Screening (FRDR, credentialed), external breast set, read as downloaded.

Layout (docs/dataset-sources.md §17): ``NLBS Data/NLBSP-metadata.csv`` (``File Path`` with Windows back-slashes,
``Image Laterality``, ``View Position``, ``Cancer``, ``False Positive``) and the DICOMs at
``<category>/<exam id>/<left|right>/<CC|MLO>/IM-....dcm`` (categories ``normal``, ``False Positive``,
``abnormal``), resolved relative to the CSV's folder. Missing or truncated files are common: counted, not fatal.

Pathology is keyed on ``Cancer`` and ``False Positive`` together. Correction (bug): the official pipeline
called every non-cancer breast Benign; here a false-positive (recalled, biopsy-negative) exam is Benign and a
normal exam is Normal. Patient/exam key: the exam folder (no patient id is published).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath

from ..records import Record
from .base import Reader, provenance_extra, read_table

COLUMNS = {"File Path": (), "Image Laterality": (), "View Position": (), "Cancer": (), "False Positive": ()}


class NLBSReader(Reader):
    name = "NLBS"

    def _records(self) -> Iterator[Record]:
        csv = self.find_file("NLBS Data/NLBSP-metadata.csv", "NLBSP-metadata.csv")
        assert csv is not None
        part = "breast"
        for row, v in read_table(self.name, csv, COLUMNS).rows:
            rel = PurePosixPath(v["File Path"].replace("\\", "/").lstrip("/"))
            image = csv.parent / rel
            if not image.exists() and (self.root / rel).exists():
                image = self.root / rel
            comps = rel.parts
            exam = comps[1] if len(comps) > 2 else rel.stem
            labels: dict[str, list[str]] = {}
            raw: dict = {}
            self.add_label(labels, raw, part, "Laterality", v["Image Laterality"].strip().upper(), csv, row)
            self.add_label(labels, raw, part, "View", v["View Position"].strip().upper(), csv, row)
            self.add_label(labels, raw, part, "Pathology",
                           f"Cancer={v['Cancer'] or '?'}, False Positive={v['False Positive'] or '?'}", csv, row)
            yield Record(record_id=f"{self.part_name(part)}/{rel.as_posix()}", dataset=self.part_name(part),
                         kind="breast", images=[str(image)], labels=labels, raw_labels=raw,
                         patient_id=f"NLBS-{exam}", exam_id=f"NLBS-{exam}",
                         laterality={"L": "Left", "R": "Right"}.get(v["Image Laterality"].strip().upper()),
                         view=v["View Position"].strip().upper() or None,
                         extra=provenance_extra(csv, row, f"NLBS-{rel.as_posix()}", category=comps[0]))
