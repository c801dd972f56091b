"""Breast-Cancer-Screening-DBT (TCIA, Duke), external finding set, read as downloaded (test phase).

Layout (docs/dataset-sources.md §14): under ``manifest-1617905855234/`` the box table
``BCS-DBT-boxes-test-v2-PHASE-2-Jan-2024.csv`` (``PatientID``, ``StudyUID``, ``View``, ``Slice``, ``X``, ``Y``,
``Width``, ``Height``, ``Class``, ``AD``, ``VolumeSlices``) and the path table ``BCS-DBT-file-paths-test-v2.csv``
(``descriptive_path`` = ``Breast-Cancer-Screening-DBT/DBT-Pxxxxx/.../1-1.dcm``, relative to the manifest folder),
joined on ``PatientID``, ``StudyUID`` and ``View`` (``lcc``, ``rmlo``, ...).

One finding record per box: ``box`` = ``[X, Y, X+Width, Y+Height]`` in the *Duke reference frame*: the reference
reader flips the volume on both axes when the breast side seen in the pixels differs from the view's first
letter, and the boxes are defined after that flip (``extra["frame"]`` says so; the preparation step must apply
it). ``extra["slice_index"]`` is ``Slice`` used as a 0-based volume index, as the Duke reference notebook does
(the VersaMammo code subtracted 1, which selects the neighbouring slice: a bug, not reproduced).
Pathology: ``cancer`` -> Malignant, ``benign`` -> Benign. Normal crops are made at preparation time.
Patient key ``PatientID``, exam ``StudyUID``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ...errors import DataError
from ..records import Record
from .base import Reader, provenance_extra, read_table

BOX_COLUMNS = {"PatientID": (), "StudyUID": (), "View": (), "Slice": (), "X": (), "Y": (), "Width": (),
               "Height": (), "Class": ()}
BOX_OPTIONAL = {"AD": (), "VolumeSlices": ()}
PATH_COLUMNS = {"PatientID": (), "StudyUID": (), "View": (), "descriptive_path": ()}
PATH_OPTIONAL = {"classic_path": ()}


class DBTReader(Reader):
    name = "DBT"

    def _find(self, pattern: str) -> Path:
        for base in (self.root, *sorted(self.root.glob("manifest-*"))):
            hits = sorted(base.glob(pattern))
            if hits:
                return hits[-1]
        raise DataError(self.root / pattern, None, f"{self.name}: label file not found (looked for {pattern} "
                                                   f"under {self.root} and its manifest-* folders)")

    def _records(self) -> Iterator[Record]:
        boxes_f = self._find("BCS-DBT-boxes-test*.csv")
        paths_f = self._find("BCS-DBT-file-paths-test*.csv")
        paths: dict[tuple[str, str, str], dict[str, str]] = {}
        for _, v in read_table(self.name, paths_f, PATH_COLUMNS, optional=PATH_OPTIONAL).rows:
            paths[(v["PatientID"], v["StudyUID"], v["View"].lower())] = v
        part = "finding"
        counts: dict[tuple[str, str, str], int] = {}
        for row, v in read_table(self.name, boxes_f, BOX_COLUMNS, optional=BOX_OPTIONAL).rows:
            key = (v["PatientID"], v["StudyUID"], v["View"].lower())
            p = paths.get(key)
            if p is None:
                raise DataError(boxes_f, row, f"DBT: no row in {paths_f.name} for PatientID/StudyUID/View {key}")
            image = self._image(p, paths_f)
            try:
                x, y, w, h, sl = (int(float(v[c])) for c in ("X", "Y", "Width", "Height", "Slice"))
            except ValueError:
                raise DataError(boxes_f, row, f"DBT: non-numeric box {[v[c] for c in ('X', 'Y', 'Width', 'Height', 'Slice')]}"
                                ) from None
            counts[key] = counts.get(key, 0) + 1
            labels: dict[str, list[str]] = {}
            raw: dict = {}
            self.add_label(labels, raw, part, "Pathology", v["Class"].strip().lower(), boxes_f, row)
            view = v["View"].lower()
            suffix = f"{v['PatientID']}_{view}_{counts[key]}"
            yield Record(record_id=f"{self.part_name(part)}/{suffix}", dataset=self.part_name(part), kind="finding",
                         images=[str(image)], labels=labels, raw_labels=raw, source_image=str(image),
                         box=[x, y, x + w, y + h], patient_id=v["PatientID"], exam_id=v["StudyUID"],
                         laterality={"l": "Left", "r": "Right"}.get(view[:1]), view=view[1:].upper() or None,
                         extra=provenance_extra(boxes_f, row, f"{v['StudyUID']}/{view}", slice_index=sl,
                                                volume_slices=v.get("VolumeSlices"), ad=v.get("AD"),
                                                frame="duke-reference (flip when pixel side != view side)"))

    def _image(self, p: dict[str, str], paths_f: Path) -> Path:
        rel = p["descriptive_path"].replace("\\", "/").lstrip("/")
        for base in (paths_f.parent, self.root):
            if (base / rel).exists():
                return base / rel
        classic = p.get("classic_path", "").replace("\\", "/").lstrip("/")
        if classic and (paths_f.parent / classic).exists():
            return paths_f.parent / classic
        return paths_f.parent / rel
