"""BMCD, Breast Micro-Calcifications Dataset (Zenodo 5036062), read as downloaded.

Layout (docs/dataset-sources.md §3): ``Normal_case.xlsx`` and ``Suspicious_case.xlsx`` at the root, DICOMs in
``Dataset/{Normal_cases,Suspicious_cases}/<Folder #>/{CC,MLO}_{prior,recent}.dcm`` (one file is misspelled
``CC_recemt``). The classification column is ``BI-RADS categories for classification `` with a trailing space;
columns are matched with spacing normalised. One xlsx row labels every image of its folder, prior and recent
alike (kept as the official pipeline did; ``extra["timepoint"]`` says which is which so users can restrict to
the recent exam). Patient key = case type + folder number (Normal and Suspicious numbers are separate series).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from ..records import Record
from .base import Reader, provenance_extra, read_table

COLUMNS = {
    "Folder #": (),
    "Breast (Right/Left)": (),
    "BI-RADS categories for breast density": (),
    "BI-RADS categories for classification": (),
}
CASES = (("Normal", "Normal_case.xlsx", "Normal_cases"), ("Suspicious", "Suspicious_case.xlsx", "Suspicious_cases"))
STEM_RE = re.compile(r"^(CC|MLO)_(prior|recent|recemt)$", re.IGNORECASE)


class BMCDReader(Reader):
    name = "BMCD"

    def _records(self) -> Iterator[Record]:
        found = False
        for case, xlsx_name, folder in CASES:
            xlsx = self.find_file(xlsx_name, f"BMCD/{xlsx_name}", required=False)
            if xlsx is None:
                self.note(f"{xlsx_name} not found under {self.root}: {case} cases skipped")
                continue
            found = True
            table = read_table(self.name, xlsx, COLUMNS)
            img_root = self.find_dir(f"Dataset/{folder}", folder, f"BMCD/Dataset/{folder}")
            for row, vals in table.rows:
                yield from self._folder(case, vals, row, xlsx, img_root)
        if not found:
            self.find_file("Normal_case.xlsx", "Suspicious_case.xlsx")  # raises, naming both

    def _folder(self, case: str, vals: dict[str, str], row: int, xlsx: Path, img_root: Path) -> Iterator[Record]:
        folder = vals["Folder #"]
        if not folder:
            self.exclude("row without a folder number", xlsx, row, None)
            return
        d = img_root / folder
        files = sorted(p for p in d.glob("*") if p.suffix.lower() == ".dcm" and not p.name.startswith("._")) \
            if d.is_dir() else []
        if not files:  # the folder itself is absent: report one missing image for the row
            files = [d / "CC_recent.dcm"]
        part = "breast"
        density = vals["BI-RADS categories for breast density"].strip().lower()
        birads = vals["BI-RADS categories for classification"].strip().lower()
        side = vals["Breast (Right/Left)"].strip().capitalize()
        for f in files:
            m = STEM_RE.match(f.stem)
            view = m.group(1).upper() if m else None
            timepoint = ("recent" if m.group(2).lower() == "recemt" else m.group(2).lower()) if m else None
            if m is None:
                self.note(f"unexpected file name {f.name} in {d}: view unknown")
            labels: dict[str, list[str]] = {}
            raw: dict = {}
            self.add_label(labels, raw, part, "ACR", density, xlsx, row)
            self.add_label(labels, raw, part, "Bi-Rads", birads, xlsx, row)
            self.add_label(labels, raw, part, "Laterality", side, xlsx, row)
            lat = labels.get("Laterality", [None])[0]
            key = f"{case}_{folder}_{f.stem}"
            yield Record(record_id=f"{self.part_name(part)}/{key}", dataset=self.part_name(part), kind="breast",
                         images=[str(f)], labels=labels, raw_labels=raw, patient_id=f"BMCD-{case}-{folder}",
                         exam_id=f"BMCD-{case}-{folder}-{timepoint}", laterality=lat, view=view,
                         extra=provenance_extra(xlsx, row, key, case_type=case, timepoint=timepoint))
