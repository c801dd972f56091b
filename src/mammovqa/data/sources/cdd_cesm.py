"""CDD-CESM (TCIA), low-energy (DM) images only, read as downloaded.

Layout (docs/dataset-sources.md §5): ``Radiology-manual-annotations.xlsx`` (sheet ``all``) and
``PKG - CDD-CESM/CDD-CESM/Low energy images of CDD-CESM/<Image_name>.jpg``. Only rows whose ``Image_name``
contains ``DM`` are low-energy images (the CESM rows are excluded and counted). ``Image_name`` is stripped
(trailing spaces occur). The density and pathology columns have short (``ACR``, ``Pathology``) and long
(``Breast density (ACR)``, ``Pathology Classification/ Follow up``) names; both are accepted.
BI-RADS cells may hold several values (``4$2``): the maximum is taken (official); ``6`` is excluded.
Patient key ``P<n>``. The workbook as published repeats some rows identically: they are merged (one record)
and counted; rows sharing an ``Image_name`` with different cells are reported with both rows (first kept).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..records import Record
from .base import Reader, provenance_extra, read_table

COLUMNS = {
    "Image_name": ("Image name",),
    "Patient_ID": ("Patient ID",),
    "Side": (),
    "Type": (),
    "View": (),
    "ACR": ("Breast density (ACR)",),
    "BIRADS": ("BI-RADS",),
    "Pathology": ("Pathology Classification/ Follow up", "Pathology Classification/Follow up"),
}
XLSX = ("Radiology-manual-annotations.xlsx", "PKG - CDD-CESM/Radiology-manual-annotations.xlsx",
        "PKG - CDD-CESM/CDD-CESM/Radiology-manual-annotations.xlsx", "CDD-CESM/Radiology-manual-annotations.xlsx")
IMAGE_DIRS = ("PKG - CDD-CESM/CDD-CESM/Low energy images of CDD-CESM", "CDD-CESM/Low energy images of CDD-CESM",
              "Low energy images of CDD-CESM")
NAME_RE = re.compile(r"^(P\d+)_([LR])_DM_(CC|MLO)", re.IGNORECASE)


class CDDCESMReader(Reader):
    name = "CDD-CESM"
    patient_key = "P<n> from Image_name (Patient_ID column when the name has none)"

    def _records(self) -> Iterator[Record]:
        xlsx = self.find_file(*XLSX)
        assert xlsx is not None
        table = read_table(self.name, xlsx, COLUMNS, sheet="all")
        img_dir = self.find_dir(*IMAGE_DIRS)
        part = "breast"
        for row, v in self.merge_duplicate_rows(table.rows, "Image_name", xlsx):
            name = v["Image_name"].strip()
            if "DM" not in name:
                self.exclude("not a low-energy (DM) image", xlsx, row, name)
                continue
            m = NAME_RE.match(name)
            pid = m.group(1).upper() if m else _patient(v["Patient_ID"])
            labels: dict[str, list[str]] = {}
            raw: dict = {}
            self.add_label(labels, raw, part, "ACR", v["ACR"].replace(" ", ""), xlsx, row)
            birads = _max_birads(v["BIRADS"])
            if birads is None:
                raw["Bi-Rads"] = v["BIRADS"]
                self.withhold("Bi-Rads", v["BIRADS"], xlsx, row, f"BIRADS value {v['BIRADS']!r} is not a number or "
                                                                 f"a '$'-list")
            else:
                self.add_label(labels, raw, part, "Bi-Rads", birads, xlsx, row)
            self.add_label(labels, raw, part, "Laterality", v["Side"].strip().upper(), xlsx, row)
            self.add_label(labels, raw, part, "View", v["View"].strip().upper(), xlsx, row)
            self.add_label(labels, raw, part, "Pathology", v["Pathology"].strip().capitalize(), xlsx, row)
            if v["BIRADS"] and "$" in v["BIRADS"]:
                raw["Bi-Rads"] = v["BIRADS"]
            image = img_dir / f"{name}.jpg"
            yield Record(record_id=f"{self.part_name(part)}/{name}", dataset=self.part_name(part), kind="breast",
                         images=[str(image)], labels=labels, raw_labels=raw, patient_id=pid, exam_id=pid,
                         laterality={"L": "Left", "R": "Right"}.get(v["Side"].strip().upper()),
                         view=v["View"].strip().upper() or None, extra=provenance_extra(xlsx, row, name))


def _patient(value: str) -> str:
    return value if value.upper().startswith("P") else f"P{value}"


def _max_birads(value: str) -> str | None:
    """Largest of the ``$``-separated BI-RADS values (official choice for multi-valued cells); None if unreadable."""
    if not value:
        return ""
    parts = [p.strip() for p in value.split("$") if p.strip()]
    try:
        return str(max(int(float(p)) for p in parts))
    except ValueError:
        return None
