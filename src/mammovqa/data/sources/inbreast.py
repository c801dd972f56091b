"""INbreast (restricted; Kaggle mirror ``tommyngx/inbreast2012``), read as distributed.

Layout (docs/dataset-sources.md §9, §19): the label table is ``INbreast.xls`` (original), ``INbreast.xlsx``, or the
``;``-separated ``INbreast.csv`` some mirrors ship; DICOMs in ``AllDICOMs/`` named
``<File Name>_<patientHash>_MG_<L|R>_<CC|ML>_ANON.dcm`` (the official code expected ``<File Name>.dcm``, a renamed
copy; both are found). Column names are stripped (``Mass `` has a trailing space). Summary rows at the end of
the sheet (no ``File Name``) are excluded and counted.

Abnormality comes from the ``X`` marks in ``Mass``/``Micros``/``Distortion``/``Asymmetry`` (no ``X`` -> Normal);
mirrors whose table lacks these columns give no Abnormality label (noted in the summary).
Patient key: the hash in the DICOM file name. When the file name carries no hash (a renamed copy), ``Patient ID``
is used, unless that column is anonymised (mirrors write ``removed`` on every row, which would group every image
into one patient): then each image is its own patient. ``summary["patient_keys"]`` says which key was used.
View codes outside CC/MLO (``FB`` occurs in the published table) withhold the View label only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..records import Record
from .base import Reader, anonymised_column, provenance_extra, read_table

COLUMNS = {"File Name": ("FileName",), "Laterality": (), "View": (), "ACR": (), "Bi-Rads": ("BI-RADS", "Bi-RADS")}
OPTIONAL = {"Patient ID": (), "Acquisition date": (), "Mass": (), "Micros": (), "Distortion": (), "Asymmetry": ()}
ABNORMALITY_COLUMNS = ("Mass", "Micros", "Distortion", "Asymmetry")
TABLES = ("INbreast.xls", "INbreast.xlsx", "INbreast.csv", "INbreast/INbreast.xls", "INbreast/INbreast.xlsx",
          "INbreast/INbreast.csv", "INbreast Release 1.0/INbreast.xls", "INbreast Release 1.0/INbreast.csv")
DICOM_RE = re.compile(r"^(\d+)_([0-9a-fA-F]+)_MG_([LR])_([A-Z]+)_ANON$", re.IGNORECASE)


class INbreastReader(Reader):
    name = "INbreast"

    def _records(self) -> Iterator[Record]:
        table_file = self.find_file(*TABLES)
        assert table_file is not None
        table = read_table(self.name, table_file, COLUMNS, optional=OPTIONAL,
                           sep=";" if table_file.suffix.lower() == ".csv" else ",")
        dicom_dir = self.find_dir("AllDICOMs", "INbreast/AllDICOMs", "INbreast Release 1.0/AllDICOMs")
        files = {}
        if dicom_dir.is_dir():
            for p in sorted(dicom_dir.glob("*.dcm")):
                files.setdefault(p.stem.split("_")[0], p)
        has_abn = all(c in (table.rows[0][1] if table.rows else {}) for c in ABNORMALITY_COLUMNS)
        if not has_abn:
            self.note(f"{table_file.name} lacks the Mass/Micros/Distortion/Asymmetry columns: no Abnormality labels")
        anonymised = anonymised_column(v.get("Patient ID", "") for _, v in table.rows if v["File Name"].strip())
        if anonymised and any("Patient ID" in v for _, v in table.rows[:1]):
            self.note(f"{table_file.name}: the Patient ID column is anonymised (one value on every row): patient "
                      f"key taken from the DICOM file names (hash), else one patient per image")
        part = "breast"
        for row, v in table.rows:
            fname = v["File Name"].split(".")[0].strip()
            if not fname:
                self.exclude("summary row without a file name", table_file, row, v.get("Laterality"))
                continue
            image = files.get(fname, dicom_dir / f"{fname}.dcm")
            m = DICOM_RE.match(image.stem)
            patient, key_used = _patient(m, v, fname, anonymised)
            labels: dict[str, list[str]] = {}
            raw: dict = {}
            self.add_label(labels, raw, part, "ACR", v["ACR"], table_file, row)
            self.add_label(labels, raw, part, "Bi-Rads", v["Bi-Rads"].strip().lower(), table_file, row)
            self.add_label(labels, raw, part, "Laterality", v["Laterality"].strip().upper(), table_file, row)
            self.add_label(labels, raw, part, "View", v["View"].strip().upper(), table_file, row)
            if has_abn:
                marked = [c for c in ABNORMALITY_COLUMNS if v[c].strip().upper() == "X"]
                for c in marked or ["no X"]:
                    self.add_label(labels, raw, part, "Abnormality", c, table_file, row)
            yield Record(record_id=f"{self.part_name(part)}/{fname}", dataset=self.part_name(part), kind="breast",
                         images=[str(image)], labels=labels, raw_labels=raw, patient_id=patient,
                         exam_id=f"{patient}-{v.get('Acquisition date', '')}".rstrip("-"),
                         laterality={"L": "Left", "R": "Right"}.get(v["Laterality"].strip().upper()),
                         view={"CC": "CC", "MLO": "MLO", "ML": "MLO"}.get(v["View"].strip().upper()),
                         extra=provenance_extra(table_file, row, fname, patient_key=key_used))


def _patient(m: re.Match | None, v: dict[str, str], fname: str, anonymised: bool) -> tuple[str, str]:
    """(patient key, which key it is): file-name hash, else a usable Patient ID column, else the image itself."""
    if m:
        return f"INbreast-{m.group(2)}", "DICOM file-name hash"
    if v.get("Patient ID") and not anonymised:
        return f"INbreast-pid-{v['Patient ID']}", "Patient ID column"
    return f"INbreast-img-{fname}", "image file name (no usable patient key: one patient per image)"


