"""DMID, Digital Mammography Dataset for Breast Cancer Diagnosis Research (figshare 24522883), read as downloaded.

Layout (docs/dataset-sources.md §7, §19): ``Metadata.xlsx`` whose table is preceded by a legend block (the header row is
searched for), DICOMs at ``DICOM Images/DICOM Images/IMG001.dcm`` ... (the Kaggle mirror nests it under
``archive/``), and one radiology report per mammogram in a reports folder (``find_report``). Columns ``ID``,
``view`` (``CCLT``/``CCRT``/``MLOLT``/``MLORT``: view prefix + side suffix), ``background tissue``,
``abnormality``, ``pathology``, ``x``, ``y``, ``radius``; one row per finding.

Breast level (official, §7): NORM rows have pathology N; an abnormal row with pathology N is recoded to B;
the image is M if any row is M; abnormalities are unioned over rows, splitting ``+``; background tissue is the
last value that is not ``-``. Finding level: one record per abnormal row with coordinates, box
``[x-r, y-r, x+r, y+r]`` clipped to the image, origin top-left as the official code assumes (unverified against
the DMID paper). Cells are stripped before mapping, so a stray space (``NORM ``) no longer loses the row, a
correction of the official ``Series.replace`` whole-value match. DMID publishes no patient key: the image id
stands in (grouped splits are per image).

As published, ``Metadata.xlsx`` has the legend block and then the table with **no header row**: the table is then
found by content (the first row whose first cell is ``IMGnnn``) and its columns taken in the published order.
DMID also ships a MIAS-style ``Info.txt`` (whitespace-separated ``ID view tissue abnormality [pathology x y r]``,
prose lines skipped), read when no ``Metadata.xlsx`` is there. View codes are parsed as a view prefix (CC/MLO)
and a side suffix looked up in the label map (``CCLRT`` names both sides: View kept, Laterality withheld by a
documented exclusion). A finding whose coordinates are not numbers is dropped alone and counted.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

from ..records import Record
from .base import Reader, provenance_extra, read_table

COLUMNS = {"ID": (), "view": (), "background tissue": ("background_tissue", "tissue"), "abnormality": (),
           "pathology": (), "x": (), "y": (), "radius": ()}
XLSX = ("Metadata.xlsx", "archive/Metadata.xlsx", "DMID/Metadata.xlsx")
INFO = ("Info.txt", "archive/Info.txt", "DMID/Info.txt")
POSITIONAL = ("ID", "view", "background tissue", "abnormality", "pathology", "x", "y", "radius")
ID_RE = re.compile(r"IMG\d+", re.IGNORECASE)
IMAGE_DIRS = ("DICOM Images/DICOM Images", "archive/DICOM Images/DICOM Images", "DICOM Images",
              "archive/DICOM Images", "DMID/DICOM Images/DICOM Images", "DMID/DICOM Images")
VIEW_RE = re.compile(r"^(CC|MLO)([A-Z]*)$")
REPORT_EXTS = (".txt", ".rtf", ".docx")


def _report_dirs(root: Path) -> list[Path]:
    """Folders (down to 3 levels) whose name mentions 'report': the layout differs between mirrors."""
    out = []
    for depth in ("*", "*/*", "*/*/*"):
        out.extend(p for p in sorted(root.glob(depth)) if p.is_dir() and "report" in p.name.lower())
    return out


def find_report(root: str | Path, image_id: str) -> Path | None:
    """The report file of one DMID image (``IMG001`` -> ``.../Reports/IMG001.txt|.rtf|.docx``), or None."""
    for d in _report_dirs(Path(root)):
        for ext in REPORT_EXTS:
            for cand in (d / f"{image_id}{ext}", d / f"{image_id.upper()}{ext}", d / f"{image_id.lower()}{ext}"):
                if cand.exists():
                    return cand
    return None


def read_report(path: str | Path) -> str:
    """Plain text of a report file (.txt as is, .rtf with control words stripped, .docx paragraphs)."""
    path = Path(path)
    if path.suffix.lower() == ".docx":
        with zipfile.ZipFile(path) as z:
            xml = z.read("word/document.xml").decode("utf-8", "replace")
        paras = re.findall(r"<w:p[ >].*?</w:p>", xml, flags=re.S)
        text = "\n".join("".join(re.findall(r"<w:t[^>]*>([^<]*)</w:t>", p)) for p in paras)
    else:
        text = path.read_bytes().decode("utf-8", "replace")
        if path.suffix.lower() == ".rtf" or text.startswith("{\\rtf"):
            text = rtf_to_text(text)
    return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")).strip()


def rtf_to_text(rtf: str) -> str:
    """Minimal RTF -> text: drop header groups, turn \\par into newlines, remove control words and braces."""
    rtf = re.sub(r"\{\\(?:fonttbl|colortbl|stylesheet|info|\*)[^{}]*(?:\{[^{}]*\}[^{}]*)*\}", "", rtf)
    rtf = re.sub(r"\\par[d]?\b ?", "\n", rtf)
    rtf = re.sub(r"\\'([0-9a-fA-F]{2})", lambda m: bytes.fromhex(m.group(1)).decode("latin-1"), rtf)
    rtf = re.sub(r"\\[a-zA-Z]+-?\d* ?", "", rtf)
    return rtf.replace("{", "").replace("}", "").replace("\\\\", "\\")


def _num(value: str) -> int | None:
    """Integer pixel coordinate; None for an empty cell or ``-``; ValueError for anything else."""
    if value in ("", "-"):
        return None
    return int(round(float(value)))


def read_info_txt(file: Path) -> list[tuple[int, dict[str, str]]]:
    """Rows of DMID's MIAS-style ``Info.txt``: lines starting with an ``IMGnnn`` id; prose and headers skipped.

    Fields: id, view, tissue, abnormality, then pathology and x y radius when present (normal rows stop early).
    """
    rows = []
    text = file.read_bytes().decode("latin-1")
    for i, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts or not ID_RE.fullmatch(parts[0]):
            continue
        cells = parts + [""] * max(0, len(POSITIONAL) - len(parts))
        rows.append((i, dict(zip(POSITIONAL, cells[: len(POSITIONAL)], strict=True))))
    return rows


class DMIDReader(Reader):
    name = "DMID"
    patient_key = "image id (DMID publishes no patient key)"

    def _records(self) -> Iterator[Record]:
        xlsx = self.find_file(*XLSX, required=False)
        if xlsx is not None:
            table = read_table(self.name, xlsx, COLUMNS, header_search=80, positional=POSITIONAL, first_row=ID_RE)
            table_rows = table.rows
            if table.found_by == "content":
                self.note(f"{xlsx.name}: no header row; table found by content (first IMGnnn row), columns in the "
                          f"published order {', '.join(POSITIONAL)}")
        else:
            xlsx = self.find_file(*INFO, *XLSX)
            assert xlsx is not None
            table_rows = read_info_txt(xlsx)
            self.note(f"read the MIAS-style {xlsx.name} (no Metadata.xlsx found)")
        img_dir = self.find_dir(*IMAGE_DIRS)
        groups: dict[str, list[tuple[int, dict[str, str]]]] = {}
        for row, v in table_rows:
            image_id = v["ID"].strip()
            if not re.fullmatch(r"IMG\d+", image_id, flags=re.IGNORECASE):
                self.exclude("not a table row (legend or note below the table)", xlsx, row, image_id)
                continue
            groups.setdefault(image_id.upper(), []).append((row, v))
        reports = {p.stem.upper(): p for d in _report_dirs(self.root) for p in d.iterdir()
                   if p.suffix.lower() in REPORT_EXTS}
        if not reports:
            self.note("no DMID report folder found: records carry no report")
        for image_id in sorted(groups):
            image = img_dir / f"{image_id}.dcm"
            report_file = reports.get(image_id)
            report = read_report(report_file) if report_file else None
            yield self._breast(image_id, groups[image_id], image, xlsx, report, report_file)
            yield from self._findings(image_id, groups[image_id], image, xlsx)

    @staticmethod
    def _view(v: dict[str, str]) -> tuple[str, str]:
        """(view prefix, side suffix) of a view code (``MLORT`` -> MLO, RT); an unparseable code -> (code, "")."""
        code = v["view"].strip().upper().replace(" ", "")
        m = VIEW_RE.match(code)
        return (m.group(1), m.group(2)) if m else (code, "")

    def _common(self, image_id: str, rows: list, xlsx: Path) -> dict:
        view, side = self._view(rows[0][1])
        return {"patient_id": f"DMID-{image_id}", "exam_id": f"DMID-{image_id}",
                "view": view if view in ("CC", "MLO") else None,
                "laterality": {"LT": "Left", "RT": "Right"}.get(side)}

    def _breast(self, image_id: str, rows: list, image: Path, xlsx: Path, report: str | None,
                report_file: Path | None) -> Record:
        part = "breast"
        labels: dict[str, list[str]] = {}
        raw: dict = {}
        first = rows[0][0]
        view, side = self._view(rows[0][1])
        self.add_label(labels, raw, part, "View", view, xlsx, first)
        self.add_label(labels, raw, part, "Laterality", side or rows[0][1]["view"].strip().upper(), xlsx, first)
        tissue, path_codes = "", []
        for row, v in rows:
            for code in _abnormalities(v["abnormality"]):
                self.add_label(labels, raw, part, "Abnormality", code, xlsx, row)
            t = v["background tissue"].strip().upper()
            if t and t != "-":
                tissue = t
            path_codes.append(_pathology(v))
        if labels.get("Abnormality", []) != ["Normal"] and "Normal" in labels.get("Abnormality", []):
            labels["Abnormality"].remove("Normal")
        self.add_label(labels, raw, part, "Background tissue", tissue, xlsx, first)
        agg = "M" if "M" in path_codes else "B" if "B" in path_codes else "N" if path_codes else ""
        self.add_label(labels, raw, part, "Pathology", agg, xlsx, first)
        return Record(record_id=f"{self.part_name(part)}/{image_id}", dataset=self.part_name(part), kind="breast",
                      images=[str(image)], labels=labels, raw_labels=raw, report=report,
                      **self._common(image_id, rows, xlsx),
                      extra=provenance_extra(xlsx, first, image_id,
                                             report_file=str(report_file) if report_file else None))

    def _findings(self, image_id: str, rows: list, image: Path, xlsx: Path) -> Iterator[Record]:
        part = "finding"
        size = _dicom_size(image)
        k = 0
        for row, v in rows:
            codes = _abnormalities(v["abnormality"])
            if codes == ["NORM"]:
                continue
            try:
                x, y, r = (_num(v[c].strip()) for c in ("x", "y", "radius"))
            except ValueError:
                self.drop("finding with coordinates that are not numbers", xlsx, row,
                          [v["x"], v["y"], v["radius"]])
                continue
            if x is None or y is None or r is None:
                self.exclude("finding without coordinates", xlsx, row, v["abnormality"])
                continue
            k += 1
            labels: dict[str, list[str]] = {}
            raw: dict = {}
            for code in codes:
                self.add_label(labels, raw, part, "Abnormality", code, xlsx, row)
            self.add_label(labels, raw, part, "Pathology", _pathology(v), xlsx, row)
            box = [x - r, y - r, x + r, y + r]
            if size:
                w, h = size
                box = [max(0, box[0]), max(0, box[1]), min(w, box[2]), min(h, box[3])]
            yield Record(record_id=f"{self.part_name(part)}/{image_id}_{k}", dataset=self.part_name(part),
                         kind="finding", images=[str(image)], labels=labels, raw_labels=raw, source_image=str(image),
                         box=box, **self._common(image_id, rows, xlsx),
                         extra=provenance_extra(xlsx, row, image_id, center=[x, y], radius=r,
                                                origin="top-left (as the official code assumes)"))


def _abnormalities(cell: str) -> list[str]:
    return [c.strip().upper() for c in cell.split("+") if c.strip()]


def _pathology(v: dict[str, str]) -> str:
    """Row pathology code: NORM rows -> N; abnormal rows coded N -> B (official recoding, docs/dataset-sources.md §7)."""
    codes = _abnormalities(v["abnormality"])
    p = v["pathology"].strip().upper()
    if codes == ["NORM"]:
        return "N"
    return "B" if p in ("N", "") and codes else p


def _dicom_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the DICOM header only (no pixel decode), or None when unreadable/absent."""
    if not path.exists():
        return None
    try:
        import pydicom

        ds = pydicom.dcmread(path, stop_before_pixels=True)
        return int(ds.Columns), int(ds.Rows)
    except Exception:  # noqa: BLE001 - a broken header only loses the clipping, the preparation step reports it
        return None
