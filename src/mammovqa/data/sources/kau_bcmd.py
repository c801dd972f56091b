"""KAU-BCMD (Kaggle ``asmaasaad/king-abdulaziz-university-mammogram-dataset``), read as downloaded.

Layout (docs/dataset-sources.md §10): ``Birad1``, ``Birad3``, ``Birad4``, ``Birad5`` folders (under ``archive/`` in the
Kaggle zip) of ``<year>_<BCid>_<CC|MLO>_<L|R>.jpg``, searched recursively, ``._*`` skipped; the folder digit is
the BI-RADS (a case-level label, so both breasts inherit it). Every ``Birad<n>`` folder present is read (the
official code listed four; a ``Birad2`` folder, if a mirror has one, maps to Bi-Rads 2).

A file name found in two folders is one image listed twice: it is kept once, with the highest folder's BI-RADS
(matching both the official overwrite order and VersaMammo's forced Bi-Rads 5), and reported as a duplicate.
Spaces are removed from names before parsing (official). Patient key ``<year>_<BCid>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from ..records import Record
from .base import Reader, provenance_extra

FOLDER_RE = re.compile(r"^Birad(\d)$", re.IGNORECASE)
NAME_RE = re.compile(r"^(\d{4})_(BC\d+)_(CC|MLO)_([LR])", re.IGNORECASE)


class KAUBCMDReader(Reader):
    name = "KAU-BCMD"

    def _folders(self) -> list[tuple[str, Path]]:
        for base in (self.root / "archive", self.root):
            if base.is_dir():
                found = sorted((m.group(1), p) for p in base.iterdir() if p.is_dir() and (m := FOLDER_RE.match(p.name)))
                if found:
                    return found
        self.find_file("archive/Birad1", "Birad1")  # raises with the expected layout
        return []

    def _records(self) -> Iterator[Record]:
        chosen: dict[str, tuple[str, Path, Path]] = {}
        for digit, folder in self._folders():
            for p in sorted(folder.rglob("*")):
                if p.name.startswith("._") or p.suffix.lower() not in (".jpg", ".jpeg"):
                    continue
                stem = p.stem.replace(" ", "")
                if stem in chosen:
                    prev = chosen[stem]
                    self.duplicate(stem, str(prev[2]), str(p), f"kept the higher BI-RADS folder (Birad{digit})")
                chosen[stem] = (f"Birad{digit}", folder, p)  # folders sorted ascending: the highest wins
        part = "breast"
        for stem in sorted(chosen):
            folder_name, folder, path = chosen[stem]
            m = NAME_RE.match(stem)
            if m is None:
                self.note(f"file name {path.name} does not follow <year>_<BCid>_<view>_<side>: patient = stem")
            labels: dict[str, list[str]] = {}
            raw: dict = {}
            self.add_label(labels, raw, part, "Bi-Rads", folder_name, folder, path.name)
            patient = f"{m.group(1)}_{m.group(2).upper()}" if m else stem
            yield Record(record_id=f"{self.part_name(part)}/{stem}", dataset=self.part_name(part), kind="breast",
                         images=[str(path)], labels=labels, raw_labels=raw, patient_id=f"KAU-{patient}",
                         exam_id=f"KAU-{patient}", view=m.group(3).upper() if m else None,
                         laterality={"L": "Left", "R": "Right"}.get(m.group(4).upper()) if m else None,
                         extra=provenance_extra(folder, path.name, stem))
