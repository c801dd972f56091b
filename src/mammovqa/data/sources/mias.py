"""mini-MIAS (Kaggle ``kmader/mias-mammography`` or the PEIPA tarball): ``Info.txt`` + ``all-mias/mdbNNN.pgm``.

Layout quirks handled (docs/dataset-sources.md §11, §19): ``Info.txt`` opens with ~50 lines of README prose and has CRLF
line endings; table rows have 3 (normal), 4 (no coordinates, e.g. ``mdb059 CIRC B``), 7 fields, or carry
``*NOTE 3*`` in place of coordinates; a refnum may have several rows (one per abnormality).

Geometry: MIAS coordinates have a **bottom-left** origin; boxes here are top-left (``y_top = height - y``), the
height read from the PGM header (1024 for every mini-MIAS image). The official code flipped with the width,
harmless only because the images are square.
Laterality is the parity of the refnum (odd = right, even = left; each pair is one patient), every view is MLO.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ...errors import DataError
from ..records import Record
from .base import Reader, provenance_extra

ROW_RE = re.compile(r"^(mdb\d{3})\s+(\S+)\s+(\S+)(.*)$")
SIZE = 1024  # mini-MIAS images are 1024 x 1024 (used when the header cannot be read)


@dataclass
class MiasRow:
    line: int
    refnum: str
    tissue: str
    klass: str
    severity: str
    x: int | None
    y: int | None
    radius: int | None
    note: str


def parse_info(file: Path) -> list[MiasRow]:
    """Table rows of ``Info.txt``; README prose and blank lines are skipped, CRLF tolerated."""
    rows = []
    text = file.read_bytes().decode("latin-1")
    for i, line in enumerate(text.splitlines(), start=1):
        m = ROW_RE.match(line.strip())
        if not m:
            continue
        refnum, tissue, klass, rest = m.group(1), m.group(2), m.group(3), m.group(4).split()
        severity = ""
        if rest and rest[0] in ("B", "M"):
            severity = rest.pop(0)
        x = y = r = None
        note = ""
        if len(rest) >= 3 and all(re.fullmatch(r"\d+", t) for t in rest[:3]):
            x, y, r = (int(t) for t in rest[:3])
        elif rest:
            note = " ".join(rest)
            if not note.startswith("*"):
                raise DataError(file, i, f"MIAS: unexpected fields {note!r} after {refnum} {tissue} {klass} "
                                         f"(expected SEVERITY X Y RADIUS or *NOTE n*)")
        rows.append(MiasRow(i, refnum, tissue, klass, severity, x, y, r, note))
    if not rows:
        raise DataError(file, None, "MIAS: no table rows (mdbNNN ...) found")
    return rows


def pgm_size(path: Path) -> tuple[int, int]:
    """(width, height) from a binary PGM header, skipping comment lines (the GIMP comment of mini-MIAS)."""
    with open(path, "rb") as fh:
        head = fh.read(512)
    tokens: list[bytes] = []
    for line in head.split(b"\n"):
        line = line.split(b"#")[0]
        tokens.extend(line.split())
        if len(tokens) >= 3:
            break
    if len(tokens) < 3 or tokens[0] not in (b"P5", b"P2") or not (tokens[1].isdigit() and tokens[2].isdigit()):
        what = "empty file (0 bytes)" if not head else f"not a PGM file (header {head[:20]!r})"
        raise DataError(path, None, f"MIAS: {what}")
    return int(tokens[1]), int(tokens[2])


class MIASReader(Reader):
    name = "MIAS"

    def _paths(self) -> tuple[Path, Path]:
        info = self.find_file("Info.txt", "archive/Info.txt", "all-mias/Info.txt", "mias/Info.txt")
        assert info is not None
        for cand in (info.parent / "all-mias", info.parent, self.root / "all-mias"):
            if cand.is_dir() and any(cand.glob("mdb*.pgm")):
                return info, cand
        return info, info.parent / "all-mias"

    def _records(self) -> Iterator[Record]:
        info, img_dir = self._paths()
        rows = parse_info(info)
        by_ref: dict[str, list[MiasRow]] = {}
        for r in rows:
            by_ref.setdefault(r.refnum, []).append(r)
        for refnum in sorted(by_ref):
            group = by_ref[refnum]
            image = img_dir / f"{refnum}.pgm"
            try:  # the y flip needs the height: an unreadable header costs this image only, never the dataset
                size = pgm_size(image) if image.exists() else (SIZE, SIZE)
            except (DataError, OSError) as exc:
                for r in group:
                    self.drop("unreadable image", info, r.line, str(exc))
                continue
            yield self._breast(refnum, group, image, info)
            yield from self._findings(refnum, group, image, info, size)

    def _common(self, refnum: str) -> dict:
        n = int(refnum[3:])
        return {"patient_id": f"MIAS-{(n + 1) // 2:03d}", "exam_id": f"MIAS-{(n + 1) // 2:03d}",
                "laterality": "Right" if n % 2 else "Left", "view": "MLO"}

    def _breast(self, refnum: str, group: list[MiasRow], image: Path, info: Path) -> Record:
        part = "breast"
        labels: dict[str, list[str]] = {}
        raw: dict = {}
        for r in group:
            self.add_label(labels, raw, part, "Abnormality", r.klass, info, r.line)
        tissue = group[0].tissue
        for r in group[1:]:
            if r.tissue != tissue:
                raise DataError(info, r.line, f"MIAS: {refnum} background tissue {r.tissue!r} differs from "
                                              f"{tissue!r} on line {group[0].line}")
        self.add_label(labels, raw, part, "Background tissue", tissue, info, group[0].line)
        sev = {r.severity for r in group}
        if any(r.klass == "NORM" for r in group) and len(group) == 1:
            pathology = "N"
        else:  # official: malignant if any row is malignant (docs/dataset-sources.md §11)
            pathology = "M" if "M" in sev else "B" if "B" in sev else ""
        self.add_label(labels, raw, part, "Pathology", pathology, info, group[0].line)
        return Record(record_id=f"{self.part_name(part)}/{refnum}", dataset=self.part_name(part), kind="breast",
                      images=[str(image)], labels=labels, raw_labels=raw, **self._common(refnum),
                      extra=provenance_extra(info, group[0].line, refnum))

    def _findings(self, refnum: str, group: list[MiasRow], image: Path, info: Path,
                  size: tuple[int, int]) -> Iterator[Record]:
        part = "finding"
        k = 0
        for r in group:
            if r.klass == "NORM":
                continue
            if r.x is None or r.y is None or r.radius is None:
                self.exclude("finding without coordinates (widely distributed calcification or *NOTE*)",
                             info, r.line, f"{r.refnum} {r.klass} {r.severity} {r.note}".strip())
                continue
            k += 1
            width, height = size
            y_top = height - r.y
            box = [max(0, r.x - r.radius), max(0, y_top - r.radius), min(width, r.x + r.radius),
                   min(height, y_top + r.radius)]
            labels: dict[str, list[str]] = {}
            raw: dict = {}
            self.add_label(labels, raw, part, "Abnormality", r.klass, info, r.line)
            self.add_label(labels, raw, part, "Pathology", r.severity, info, r.line)
            yield Record(record_id=f"{self.part_name(part)}/{refnum}_{k}", dataset=self.part_name(part),
                         kind="finding", images=[str(image)], labels=labels, raw_labels=raw,
                         source_image=str(image), box=box, **self._common(refnum),
                         extra=provenance_extra(info, r.line, refnum, center=[r.x, y_top], radius=r.radius,
                                                raw_xy=[r.x, r.y], origin="top-left (MIAS y flipped)"))
