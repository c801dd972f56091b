"""VinDr-Mammo (PhysioNet 1.0.0, credentialed), read as downloaded.

Layout (docs/dataset-sources.md §12): ``finding_annotations.csv`` and ``images/<study_id>/<image_id>.dicom``. Columns
``study_id``, ``image_id``, ``laterality`` (L/R), ``view_position`` (CC/MLO), ``breast_birads``
(``BI-RADS n``), ``breast_density`` (``DENSITY A``..), ``finding_categories`` (a Python list literal),
``xmin``..``ymax`` and the official ``split`` (training/test).

Breast level: rows grouped per ``image_id``: the first BI-RADS/density (they repeat per row) and the union of
categories (``No Finding`` dropped when a real finding is present). Finding level: one record per row whose
categories are not exactly ``['No Finding']``, box = the row's box (floor/ceil to pixels); a box with several
categories gives a multi-label answer. Patient and exam key ``study_id`` (one exam per patient).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Iterator
from pathlib import Path

from ...errors import DataError
from ..records import Record
from .base import Reader, provenance_extra, read_table

COLUMNS = {"study_id": (), "image_id": (), "laterality": (), "view_position": (), "breast_birads": (),
           "breast_density": (), "finding_categories": (), "xmin": (), "ymin": (), "xmax": (), "ymax": ()}
OPTIONAL = {"split": (), "series_id": (), "finding_birads": ()}
CSV = ("finding_annotations.csv", "vindr-mammo/1.0.0/finding_annotations.csv", "1.0.0/finding_annotations.csv")


def parse_categories(cell: str, file: Path, row: int) -> list[str]:
    try:
        val = ast.literal_eval(cell)
    except (ValueError, SyntaxError):
        raise DataError(file, row, f"VinDr-Mammo: finding_categories {cell!r} is not a list literal") from None
    if not isinstance(val, list | tuple) or not all(isinstance(c, str) for c in val):
        raise DataError(file, row, f"VinDr-Mammo: finding_categories {cell!r} is not a list of strings")
    return [c.strip() for c in val]


def _categories(reader: Reader, cell: str, file: Path, row: int) -> list[str] | None:
    """Categories of one row, or None (Abnormality withheld for that row, counted) when the cell is unreadable."""
    try:
        return parse_categories(cell, file, row)
    except DataError as exc:
        reader.withhold("Abnormality", cell, file, row, str(exc).split(": ", 1)[-1])
        return None


class VinDrReader(Reader):
    name = "VinDr-Mammo"
    patient_key = "study_id column (one exam per patient)"

    def _records(self) -> Iterator[Record]:
        csv = self.find_file(*CSV)
        assert csv is not None
        table = read_table(self.name, csv, COLUMNS, optional=OPTIONAL)
        img_root = csv.parent / "images"
        by_image: dict[str, list[tuple[int, dict[str, str]]]] = {}
        self._cats: dict[int, list[str] | None] = {}
        for row, v in table.rows:
            by_image.setdefault(v["image_id"], []).append((row, v))
        for image_id in sorted(by_image):
            rows = by_image[image_id]
            image = img_root / rows[0][1]["study_id"] / f"{image_id}.dicom"
            yield self._breast(image_id, rows, image, csv)
            k = 0
            for row, v in rows:
                cats = self._cats.get(row)
                if cats is None or cats == ["No Finding"]:
                    continue
                rec = self._finding(image_id, k + 1, row, v, cats, image, csv)
                if rec is not None:
                    k += 1
                    yield rec

    def _common(self, v: dict[str, str]) -> dict:
        return {"patient_id": v["study_id"], "exam_id": v["study_id"],
                "laterality": {"L": "Left", "R": "Right"}.get(v["laterality"].strip().upper()),
                "view": v["view_position"].strip().upper() or None}

    def _breast(self, image_id: str, rows: list, image: Path, csv: Path) -> Record:
        part = "breast"
        row0, v0 = rows[0]
        labels: dict[str, list[str]] = {}
        raw: dict = {}
        self.add_label(labels, raw, part, "Bi-Rads", v0["breast_birads"], csv, row0)
        self.add_label(labels, raw, part, "ACR", v0["breast_density"], csv, row0)
        self.add_label(labels, raw, part, "Laterality", v0["laterality"].strip().upper(), csv, row0)
        self.add_label(labels, raw, part, "View", v0["view_position"].strip().upper(), csv, row0)
        for row, v in rows:
            cats = _categories(self, v["finding_categories"], csv, row)
            self._cats[row] = cats
            for c in cats or []:
                self.add_label(labels, raw, part, "Abnormality", c, csv, row)
        abn = labels.get("Abnormality", [])
        if len(abn) > 1 and "Normal" in abn:
            abn.remove("Normal")
        return Record(record_id=f"{self.part_name(part)}/{image_id}", dataset=self.part_name(part), kind="breast",
                      images=[str(image)], labels=labels, raw_labels=raw, **self._common(v0),
                      extra=provenance_extra(csv, row0, image_id, official_split=v0.get("split")))

    def _finding(self, image_id: str, k: int, row: int, v: dict[str, str], cats: list[str], image: Path,
                 csv: Path) -> Record | None:
        part = "finding"
        try:
            x0, y0, x1, y1 = (float(v[c]) for c in ("xmin", "ymin", "xmax", "ymax"))
        except ValueError:
            self.drop(f"finding {cats} without a numeric box", csv, row,
                      [v["xmin"], v["ymin"], v["xmax"], v["ymax"]])
            return None
        labels: dict[str, list[str]] = {}
        raw: dict = {}
        for c in cats:
            if c != "No Finding":
                self.add_label(labels, raw, part, "Abnormality", c, csv, row)
        return Record(record_id=f"{self.part_name(part)}/{image_id}_{k}", dataset=self.part_name(part),
                      kind="finding", images=[str(image)], labels=labels, raw_labels=raw, source_image=str(image),
                      box=[math.floor(x0), math.floor(y0), math.ceil(x1), math.ceil(y1)], **self._common(v),
                      extra=provenance_extra(csv, row, image_id, official_split=v.get("split"),
                                             finding_birads=v.get("finding_birads")))
