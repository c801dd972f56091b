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
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

from ...errors import DataError
from ..records import Record
from .base import Reader, provenance_extra, read_table

COLUMNS = {"ID": (), "view": (), "background tissue": ("background_tissue", "tissue"), "abnormality": (),
           "pathology": (), "x": (), "y": (), "radius": ()}
XLSX = ("Metadata.xlsx", "archive/Metadata.xlsx", "DMID/Metadata.xlsx")
IMAGE_DIRS = ("DICOM Images/DICOM Images", "archive/DICOM Images/DICOM Images", "DICOM Images",
              "archive/DICOM Images", "DMID/DICOM Images/DICOM Images", "DMID/DICOM Images")
VIEW_RE = re.compile(r"^(CC|MLO)(LT|RT)$")
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


def _num(value: str, file: Path, row: int, col: str) -> int | None:
    if value in ("", "-"):
        return None
    try:
        return int(round(float(value)))
    except ValueError:
        raise DataError(file, row, f"DMID: column {col!r} value {value!r} is not a number") from None


class DMIDReader(Reader):
    name = "DMID"

    def _records(self) -> Iterator[Record]:
        xlsx = self.find_file(*XLSX)
        assert xlsx is not None
        table = read_table(self.name, xlsx, COLUMNS, header_search=80)
        img_dir = self.find_dir(*IMAGE_DIRS)
        groups: dict[str, list[tuple[int, dict[str, str]]]] = {}
        for row, v in table.rows:
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

    def _view(self, v: dict[str, str], xlsx: Path, row: int) -> tuple[str, str]:
        code = v["view"].strip().upper().replace(" ", "")
        m = VIEW_RE.match(code)
        if not m:
            raise DataError(xlsx, row, f"DMID: view {v['view']!r} is not one of CCLT/CCRT/MLOLT/MLORT")
        return m.group(1), m.group(2)

    def _common(self, image_id: str, rows: list, xlsx: Path) -> dict:
        view, side = self._view(rows[0][1], xlsx, rows[0][0])
        return {"patient_id": f"DMID-{image_id}", "exam_id": f"DMID-{image_id}", "view": view,
                "laterality": "Left" if side == "LT" else "Right"}

    def _breast(self, image_id: str, rows: list, image: Path, xlsx: Path, report: str | None,
                report_file: Path | None) -> Record:
        part = "breast"
        labels: dict[str, list[str]] = {}
        raw: dict = {}
        first = rows[0][0]
        view, side = self._view(rows[0][1], xlsx, first)
        self.add_label(labels, raw, part, "View", view, xlsx, first)
        self.add_label(labels, raw, part, "Laterality", side, xlsx, first)
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
            x, y, r = (_num(v[c].strip(), xlsx, row, c) for c in ("x", "y", "radius"))
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
