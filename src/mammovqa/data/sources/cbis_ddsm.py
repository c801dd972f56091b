"""CBIS-DDSM, Kaggle JPEG copy (``awsaf49/cbis-ddsm-breast-cancer-image-dataset``), read as downloaded.

Layout (docs/dataset-sources.md §4): ``csv/dicom_info.csv`` (``image_path`` = ``CBIS-DDSM/jpeg/<SeriesUID>/<n>-<m>.jpg``,
``SeriesDescription`` in {full mammogram images, cropped images, ROI mask images}) and the four
``csv/{mass,calc}_case_description_{train,test}_set.csv``. A description row's DICOM path is linked to its JPEG
through the series UID (second-to-last path segment), filtered on ``SeriesDescription`` because a crop and its
ROI mask can share a series folder.

Breast part: one record per full image. Corrections of the official pipeline (bugs, docs/dataset-sources.md §4):
- the breast BI-RADS is the *highest* ``assessment`` over the image's abnormality rows (officially the last
  row written won, which depends on CSV order);
- the same patient/side/view listed under both a ``Mass-`` and a ``Calc-`` prefix is one mammogram: merged
  into one record (rows of both contribute) and reported in ``summary["duplicates"]``.
Finding part: one record per abnormality row; the image is the official ``cropped images`` JPEG, the source
image the full JPEG, the ROI mask path in ``extra``. Normal crops are made at preparation time (§2).
Patient key ``P_xxxxx``; ``extra["official_split"]`` is Training/Test from the prefix.

``dicom_info.csv`` as published leaves ``SeriesDescription`` empty for some images. Those are resolved by what
the description CSVs name: a series named as a full image's series whose only file has no description is that
full image; in a series holding several undescribed files the larger image (``Rows`` x ``Columns``) is the ROI
mask (full-image size) and the smaller the crop. Each resolution is counted in the summary notes.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from ..records import Record
from .base import Reader, provenance_extra, read_table

DESC_FILES = ("mass_case_description_train_set.csv", "mass_case_description_test_set.csv",
              "calc_case_description_train_set.csv", "calc_case_description_test_set.csv")
DESC_COLUMNS = {
    "patient_id": (),
    "breast_density": ("breast density",),
    "left or right breast": (),
    "image view": (),
    "abnormality id": (),
    "abnormality type": (),
    "assessment": (),
    "pathology": (),
    "subtlety": (),
    "image file path": (),
    "cropped image file path": (),
    "ROI mask file path": (),
}
INFO_COLUMNS = {"image_path": (), "SeriesDescription": (), "SeriesInstanceUID": ()}
INFO_OPTIONAL = {"Rows": (), "Columns": ()}
FULL, CROP, MASK = "full mammogram images", "cropped images", "roi mask images"
KEY_RE = re.compile(r"^(Mass|Calc)-(Training|Test)_(P_\d+)_(LEFT|RIGHT)_(CC|MLO)(?:_(\d+))?$")


def series_uid(path: str) -> str:
    parts = [p for p in path.strip().replace("\\", "/").split("/") if p]
    return parts[-2] if len(parts) >= 2 else ""


class CBISDDSMReader(Reader):
    name = "CBIS-DDSM"
    patient_key = "P_xxxxx from the case key in the image file path"

    def _jpeg_index(self, info_file: Path) -> dict[tuple[str, str], Path]:
        """(series UID, SeriesDescription) -> local JPEG path; undescribed files kept per series for ``_lookup``."""
        table = read_table(self.name, info_file, INFO_COLUMNS, optional=INFO_OPTIONAL)
        index: dict[tuple[str, str], Path] = {}
        self._undescribed: dict[str, list[tuple[int, Path]]] = {}
        self._resolved: dict[str, int] = {}
        self._described: Counter[str] = Counter()
        for _, v in table.rows:
            rel = v["image_path"].replace("\\", "/")
            rel = rel.split("CBIS-DDSM/", 1)[1] if rel.startswith("CBIS-DDSM/") else rel
            desc = v["SeriesDescription"].strip().lower()
            if desc:
                index[(series_uid(v["image_path"]), desc)] = self.root / rel
                self._described[series_uid(v["image_path"])] += 1
            else:
                size = _int(v.get("Rows", "")) * _int(v.get("Columns", ""))
                self._undescribed.setdefault(series_uid(v["image_path"]), []).append((size, self.root / rel))
        return index

    def _lookup(self, jpegs: dict, path: str, desc: str) -> Path | None:
        """The JPEG of ``desc`` in the series ``path`` names; undescribed files resolved by series and size."""
        uid = series_uid(path)
        found = jpegs.get((uid, desc))
        if found is not None:
            return found
        cands = sorted(self._undescribed.get(uid, []), key=lambda x: (x[0], str(x[1])))
        described = self._described[uid]
        if not cands:
            return None
        if len(cands) == 1 and (desc == FULL or described <= 1):
            pick = cands[0][1]  # the only undescribed file of a series named for ``desc``
        elif desc == CROP:
            pick = cands[0][1]  # smallest: the crop
        else:
            pick = cands[-1][1]  # largest: the full image or its full-size ROI mask
        how = f"{desc} resolved with empty SeriesDescription (by series UID{' and size' if len(cands) > 1 else ''})"
        if how not in self._resolved:
            self._resolved[how] = 0
        self._resolved[how] += 1
        return pick

    def _records(self) -> Iterator[Record]:
        csv_dir = self.find_file("csv", "CBIS-DDSM/csv")
        assert csv_dir is not None
        info = self.find_file("csv/dicom_info.csv", "CBIS-DDSM/csv/dicom_info.csv")
        assert info is not None
        jpegs = self._jpeg_index(info)
        self._jpegs = jpegs
        rows = []
        for name in DESC_FILES:
            f = csv_dir / name
            if not f.exists():
                self.note(f"{name} not found in {csv_dir}: its rows are skipped")
                continue
            rows.extend((f, row, v) for row, v in read_table(self.name, f, DESC_COLUMNS).rows)
        yield from self._breasts(rows, jpegs)
        for f, row, v in rows:
            rec = self._finding(f, row, v, jpegs)
            if rec is not None:
                yield rec
        for how, n in sorted(self._resolved.items()):
            self.note(f"{n} image lookup(s): {how}")

    def _key(self, path: str, f: Path, row: int) -> re.Match | None:
        first = path.strip().replace("\\", "/").split("/")[0]
        m = KEY_RE.match(first)
        if m is None:
            self.exclude("unparseable case key in image file path", f, row, first)
        return m

    def _breasts(self, rows: list, jpegs: dict) -> Iterator[Record]:
        part = "breast"
        groups: dict[tuple[str, str, str], list] = {}
        for f, row, v in rows:
            m = self._key(v["image file path"], f, row)
            if m:
                groups.setdefault((m.group(3), m.group(4), m.group(5)), []).append((f, row, v, m))
        for (pid, side, view), members in sorted(groups.items()):
            keys = sorted({m.group(0) for *_, m in members})
            key = keys[0]
            for other in keys[1:]:
                self.duplicate(f"{pid}_{side}_{view}", key, other, "merged into one breast record")
            f0, row0, v0, m0 = next(x for x in members if x[3].group(0) == key)
            image = self._lookup(jpegs, v0["image file path"], FULL)
            labels: dict[str, list[str]] = {}
            raw: dict = {}
            self.add_label(labels, raw, part, "ACR", v0["breast_density"], f0, row0)
            worst = max(members, key=lambda x: _birads_rank(x[2]["assessment"]))
            self.add_label(labels, raw, part, "Bi-Rads", worst[2]["assessment"], worst[0], worst[1])
            self.add_label(labels, raw, part, "Laterality", side, f0, row0)
            self.add_label(labels, raw, part, "View", view, f0, row0)
            for f, row, v, _ in members:
                if v["breast_density"] != v0["breast_density"]:
                    self.note(f"{pid} {side} {view}: density differs between rows ({f.name} row {row}); "
                              f"first row kept")
            if image is None:
                image = self.root / "jpeg" / series_uid(v0["image file path"]) / "<not in dicom_info.csv>"
            yield Record(record_id=f"{self.part_name(part)}/{key}", dataset=self.part_name(part), kind="breast",
                         images=[str(image)], labels=labels, raw_labels=raw, patient_id=pid,
                         exam_id=f"{pid}_{side}", laterality=side.capitalize(), view=view,
                         extra=provenance_extra(f0, row0, series_uid(v0["image file path"]), aliases=keys[1:],
                                                official_split=m0.group(2)))

    def _finding(self, f: Path, row: int, v: dict[str, str], jpegs: dict) -> Record | None:
        part = "finding"
        m = self._key(v["image file path"], f, row)
        if m is None:
            return None
        crop = self._lookup(jpegs, v["cropped image file path"], CROP)
        full = self._lookup(jpegs, v["image file path"], FULL)
        mask = self._lookup(jpegs, v["ROI mask file path"], MASK)
        labels: dict[str, list[str]] = {}
        raw: dict = {}
        self.add_label(labels, raw, part, "Abnormality", v["abnormality type"].strip().lower(), f, row)
        self.add_label(labels, raw, part, "Pathology", v["pathology"].strip().upper(), f, row)
        self.add_label(labels, raw, part, "Subtlety", v["subtlety"], f, row)
        key = f"{m.group(0)}_{v['abnormality id']}"
        missing = self.root / "jpeg" / series_uid(v["cropped image file path"]) / "<not in dicom_info.csv>"
        return Record(record_id=f"{self.part_name(part)}/{key}", dataset=self.part_name(part), kind="finding",
                      images=[str(crop or missing)], labels=labels, raw_labels=raw, patient_id=m.group(3),
                      exam_id=f"{m.group(3)}_{m.group(4)}", laterality=m.group(4).capitalize(), view=m.group(5),
                      source_image=str(full) if full else None,
                      extra=provenance_extra(f, row, series_uid(v["cropped image file path"]),
                                             roi_mask=str(mask) if mask else None, official_split=m.group(2)))


def _int(value: str) -> int:
    try:
        return int(float(value))
    except ValueError:
        return 0


def _birads_rank(value: str) -> int:
    """Severity order of BI-RADS assessments (ACR atlas hierarchy 1 < 2 < 3 < 0 < 4 < 5); unknown sorts first."""
    return {"1": 1, "2": 2, "3": 3, "0": 4, "4": 5, "5": 6}.get(value.strip(), 0)
