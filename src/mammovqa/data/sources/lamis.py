"""LAMIS-DMDB, external breast set, in either published form.

Full release (docs/dataset-sources.md §15): ``LAMISDMDB VF/<Bening|maling|Normal>/<BIRADS folder>/[<lesion folder>/]
<ACR1..ACR4>/dataMG-PROC_P<pid>_<n>_<L|R>_<CC|MLO>_<DD>_<Month>_<YYYY>.dcm``: labels come from the folder names
(spelled ``Bening``, ``maling``; BI-RADS folders ``BARADS I``, ``BIRADS II``, ...) and the file name.
Public sample (§19): ``LAMIS-DMDB/{Benign,Malign,Nomal}/*.png`` (``Nomal`` so spelled) plus an
``Annotated Images/`` folder of copies with drawings, which are excluded and counted.

Correction (bug): the official pipeline mapped the ``Normal`` folder to Benign; here Normal -> Normal (the
Pathology topic has that option). Laterality and view come from the file name (``LMO``/``ML`` are MLO).
Patient key ``P<pid>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from ..records import Record
from .base import Reader, provenance_extra

NAME_RE = re.compile(r"P(\d+)_(\d+)_([LR])_(CC|MLO|LMO|ML)(?:_|$)", re.IGNORECASE)
BIRADS_RE = re.compile(r"^B[IA]RADS\s*[0-9IVX]+$", re.IGNORECASE)
ACR_RE = re.compile(r"^ACR\s*[1-4]$", re.IGNORECASE)
EXTS = (".dcm", ".png")
TOP_FOLDERS = ("lamisdmdb vf", "lamis-dmdb", "lamisdmdb")


class LAMISReader(Reader):
    name = "LAMIS-DMDB"

    def _records(self) -> Iterator[Record]:
        pathology_folders = {k.lower(): k for k in self.labels.raw_values("Pathology")}
        part = "breast"
        files = sorted(p for p in self.root.rglob("*") if p.is_file() and p.suffix.lower() in EXTS
                       and not p.name.startswith("._"))
        if not files:
            self.find_file("LAMISDMDB VF", "LAMIS-DMDB")  # raises, naming the expected layouts
        for p in files:
            rel = p.relative_to(self.root)
            parts = rel.parts[:-1]
            if any(c.lower() == "annotated images" for c in parts):
                self.exclude("annotated copy (drawings on the image), not a mammogram to ask about", p.parent,
                             p.name, str(rel))
                continue
            top = 1 if parts and parts[0].lower() in TOP_FOLDERS else 0
            if len(parts) <= top:
                self.exclude("file outside a pathology folder", p.parent, p.name, str(rel))
                continue
            path_folder = pathology_folders.get(parts[top].lower(), parts[top])  # unknown -> DataError below
            birads = next((c for c in parts if BIRADS_RE.match(c)), "")
            acr = next((c.replace(" ", "").upper() for c in parts if ACR_RE.match(c)), "")
            m = NAME_RE.search(p.stem)
            labels: dict[str, list[str]] = {}
            raw: dict = {}
            self.add_label(labels, raw, part, "Pathology", path_folder, p.parent, p.name)
            self.add_label(labels, raw, part, "Bi-Rads", re.sub(r"\s+", " ", birads).upper(), p.parent, p.name)
            self.add_label(labels, raw, part, "ACR", acr, p.parent, p.name)
            self.add_label(labels, raw, part, "Laterality", m.group(3).upper() if m else "", p.parent, p.name)
            self.add_label(labels, raw, part, "View", m.group(4).upper() if m else "", p.parent, p.name)
            if m is None:
                self.note(f"file name {p.name} has no P<pid>_<n>_<side>_<view>: patient = file stem")
            patient = f"LAMIS-P{m.group(1)}" if m else f"LAMIS-{p.stem}"
            key = f"P{m.group(1)}_{m.group(2)}_{m.group(3).upper()}_{m.group(4).upper()}" if m else p.stem
            lesion = [c for c in parts if c not in (path_folder, birads) and not ACR_RE.match(c)]
            yield Record(record_id=f"{self.part_name(part)}/{key}", dataset=self.part_name(part), kind="breast",
                         images=[str(p)], labels=labels, raw_labels=raw, patient_id=patient, exam_id=patient,
                         laterality={"L": "Left", "R": "Right"}.get(m.group(3).upper()) if m else None,
                         view=("CC" if m.group(4).upper() == "CC" else "MLO") if m else None,
                         extra=provenance_extra(p.parent, p.name, f"LAMIS-{p.stem}", folders=list(lesion)))

    @staticmethod
    def is_sample(root: Path) -> bool:
        return any(Path(root).rglob("*.png"))
