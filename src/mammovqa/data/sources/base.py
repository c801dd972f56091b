"""Shared machinery of the real-dataset readers: label maps, table reading, the ``Reader`` base, local config.

Why one base: every reader must fail the same way (a ``DataError`` naming dataset, file, row and value), count
the same things (records per topic/option, missing images, deliberate exclusions with their reason, duplicate
image ids) and stream records the same way, so that downstream code and the ``inspect`` command never need to
know which dataset they are looking at.
"""

from __future__ import annotations

import logging
import math
import re
from abc import ABC, abstractmethod
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from ...config import TOPIC_KEYS, load_datasets, load_topics, load_yaml, local_dataset_roots
from ...errors import ConfigError, DataError
from ...paths import LABELS_DIR, LOCAL_CONFIG
from ...schema import Schema, validate
from ..records import Record

log = logging.getLogger("mammovqa.data.sources")

#: How many missing images / exclusions are listed one by one in ``summary`` (all are counted).
DETAIL_LIMIT = 200
#: How many missing images are logged one by one before the reader only counts them.
LOG_LIMIT = 20


# ------------------------------------------------------------------ small value helpers


def is_absent(value: Any) -> bool:
    """True for the empty cells every table format produces (None, NaN, '', 'nan')."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip().lower() in ("", "nan", "none", "nat")


def cell_str(value: Any) -> str:
    """One canonical string per cell: spreadsheets give ``4.0`` where the CSV says ``4``; both become ``"4"``."""
    if is_absent(value):
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    text = str(value).strip()
    if re.fullmatch(r"-?\d+\.0+", text):
        return text.split(".")[0]
    return text


# ------------------------------------------------------------------ label maps


SOURCE_RULE = "every entry needs a source (documentation, paper, or 'official pipeline (docs/dataset-sources.md §N)')"


def _text(value: Any) -> str:
    """Free text (``note``, ``notes``) as label files have always been read: null or empty is '', else its text."""
    return str(value or "")


def _sourced(value: str) -> str:
    """A source must say something: blank text is refused like a missing one."""
    if not value.strip():
        raise ValueError(SOURCE_RULE)
    return value


def _by_cell(value: Any) -> Any:
    """Raw values keyed as the readers see cells: YAML's ``4``, ``4.0`` and ``'4'`` are the one key ``"4"``."""
    return {cell_str(k): v for k, v in value.items()} if isinstance(value, dict) else value


Text = Annotated[str, BeforeValidator(_text)]


class LabelEntryFile(Schema):
    """One ``raw value: {target, source, note}`` entry of a label file as written."""

    target: str | None = Field(description="use null for a documented exclusion")
    source: Annotated[str, AfterValidator(_sourced)] = Field(description=SOURCE_RULE)
    note: Text = ""


class LabelMapFile(Schema):
    """``data_manifest/labels/<dataset>.yaml``: topic -> raw value -> entry, for one dataset."""

    dataset: str = Field(min_length=1)
    topics: dict[str, Annotated[dict[str, LabelEntryFile], BeforeValidator(_by_cell), Field(min_length=1)]] = Field(
        min_length=1)
    notes: Text = ""


@dataclass(frozen=True)
class LabelEntry:
    target: str | None  # unified option, or None for a documented deliberate exclusion
    source: str
    note: str = ""


@dataclass
class LabelMap:
    """Raw value -> unified option, per topic, for one dataset; loaded from ``data_manifest/labels/<name>.yaml``.

    Why a file and not code: the mapping *is* the protocol decision (and where we deviate from the official
    pipeline we must say why), so it lives where a reviewer reads it, each entry with its ``source``.
    """

    dataset: str
    file: Path
    topics: dict[str, dict[str, LabelEntry]]
    notes: str = ""

    @classmethod
    def load(cls, dataset: str, labels_dir: Path | None = None) -> LabelMap:
        file = Path(labels_dir or LABELS_DIR) / f"{dataset_file_stem(dataset)}.yaml"
        lm = cls.from_raw(load_yaml(file), file)
        if lm.dataset.lower() != dataset.lower():
            raise ConfigError(file, "dataset", f"file is for {lm.dataset!r}, expected {dataset!r}")
        return lm

    @classmethod
    def from_raw(cls, raw: Any, file: Path) -> LabelMap:
        """A label file's parsed YAML, validated: the shape by :class:`LabelMapFile`, then the rules that tie an
        entry to ``topics.yaml`` (known topic, target among its options) or to its other keys (an exclusion's
        note); every error names the file, the key path and the offending value."""
        doc = validate(LabelMapFile, raw, file)
        official = load_topics()
        topics: dict[str, dict[str, LabelEntry]] = {}
        for topic, entries in doc.topics.items():
            where = f"topics.{topic}"
            if topic not in TOPIC_KEYS:
                raise ConfigError(file, where, f"unknown topic {topic!r} (known: {', '.join(TOPIC_KEYS)})")
            topics[topic] = {key: _entry(e, file, f"{where}.{key}", topic, official) for key, e in entries.items()}
        return cls(doc.dataset, file, topics, doc.notes)

    def entry(self, topic: str, raw: Any, file: object, row: object) -> LabelEntry:
        key = cell_str(raw)
        entries = self.topics.get(topic)
        if entries is None:
            raise DataError(file, row, f"{self.dataset}: topic {topic!r} has no label map in {self.file}")
        if key not in entries:
            raise DataError(file, row, f"{self.dataset}: unmapped {topic} value {key!r} (mapped values: "
                                       f"{sorted(entries)}; add it to {self.file} with its source)")
        return entries[key]

    def get(self, topic: str, raw: Any, file: object = None, row: object = None) -> LabelEntry | None:
        """The entry for ``raw``, or ``None`` when the label map has no entry for it (the caller withholds)."""
        entries = self.topics.get(topic)
        if entries is None:
            raise DataError(file, row, f"{self.dataset}: topic {topic!r} has no label map in {self.file}")
        return entries.get(cell_str(raw))

    def map(self, topic: str, raw: Any, file: object, row: object) -> str | None:
        """Unified option for ``raw``; ``None`` for a documented exclusion; ``DataError`` for an unknown value."""
        return self.entry(topic, raw, file, row).target

    def raw_values(self, topic: str) -> list[str]:
        return list(self.topics.get(topic, {}))


def _entry(e: LabelEntryFile, file: Path, where: str, topic: str, official: Any) -> LabelEntry:
    """One validated entry as a LabelEntry, after the rules that tie it to topics.yaml and to its own note."""
    if e.target is None:
        if not e.note:
            raise ConfigError(file, f"{where}.note", "a null target (exclusion) needs a note giving the reason")
        return LabelEntry(None, e.source, e.note)
    if e.target not in official[topic].options:
        raise ConfigError(file, f"{where}.target", f"{e.target!r} is not an option of {topic!r} "
                                                    f"(allowed: {list(official[topic].options)})")
    return LabelEntry(e.target, e.source, e.note)


def dataset_file_stem(name: str) -> str:
    """Label-file stem of a dataset: lower case, '-' -> '_' (``CBIS-DDSM`` -> ``cbis_ddsm``)."""
    return name.lower().replace("-", "_")


# ------------------------------------------------------------------ tables


@dataclass
class Table:
    """A label table read as strings; ``rows`` carry their 1-based line/row number as in the file."""

    file: Path
    columns: list[str]
    rows: list[tuple[int, dict[str, str]]]
    found_by: str = "header"  # "header", or "content" for a headerless table read in its published column order


def _norm_col(name: Any) -> str:
    return re.sub(r"\s+", " ", cell_str(name)).strip().lower()


def _match_columns(header: Sequence[Any], wanted: Mapping[str, Sequence[str]], optional: Mapping[str, Sequence[str]]
                   ) -> tuple[dict[str, int], list[str]]:
    """Map canonical names to column indices; aliases and spacing/case variants (BMCD's trailing space) match."""
    normed = [_norm_col(h) for h in header]
    found: dict[str, int] = {}
    missing = []
    for group, required in ((wanted, True), (optional, False)):
        for canon, aliases in group.items():
            idx = next((normed.index(_norm_col(a)) for a in (canon, *aliases) if _norm_col(a) in normed), None)
            if idx is None:
                if required:
                    missing.append(canon)
            else:
                found[canon] = idx
    return found, missing


def _columns_error(dataset: str, file: Path, missing: list[str], header: Sequence[Any],
                   wanted: Mapping[str, Sequence[str]]) -> DataError:
    names = [f"{m!r}" + (f" (or {', '.join(map(repr, wanted[m]))})" if wanted[m] else "") for m in missing]
    return DataError(file, None, f"{dataset}: missing required column(s) {', '.join(names)}; "
                                 f"columns present: {[cell_str(h) for h in header]}")


def read_table(dataset: str, file: Path, columns: Mapping[str, Sequence[str]], *,
               optional: Mapping[str, Sequence[str]] | None = None, sep: str = ",", sheet: str | int | None = None,
               header_search: int = 0, positional: Sequence[str] | None = None,
               first_row: re.Pattern[str] | None = None) -> Table:
    """Read a CSV or spreadsheet as strings, checking the required columns.

    ``columns``/``optional`` map the canonical column name to accepted aliases. ``header_search`` > 0 scans that
    many leading rows for the header (DMID's Metadata.xlsx has a legend block above the table). When no header is
    found and ``positional`` (the published column order) and ``first_row`` (a pattern the first cell of a data
    row matches) are given, the table is found by content: it starts at the first row whose first cell matches,
    and its columns are taken in the published order (DMID's Metadata.xlsx as published has no header row).
    """
    import pandas as pd

    optional = optional or {}
    suffix = file.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm", ".xls"):
            kwargs: dict[str, Any] = {"header": None, "dtype": object}
            if sheet is not None:
                kwargs["sheet_name"] = sheet
            grid = pd.read_excel(file, **kwargs).values.tolist()
            first_line = 1
        else:
            grid = pd.read_csv(file, sep=sep, header=None, dtype=str, keep_default_na=False,
                               encoding="utf-8-sig", skip_blank_lines=False).values.tolist()
            first_line = 1
    except ImportError as exc:
        raise DataError(file, None, f"{dataset}: cannot read {suffix} files ({exc}); install the reader package "
                                    f"or save the sheet as .xlsx/.csv") from None
    except ValueError as exc:  # e.g. a missing sheet
        raise DataError(file, None, f"{dataset}: cannot read table: {exc}") from None
    if not grid:
        raise DataError(file, None, f"{dataset}: empty table")
    header_idx, found, missing = 0, {}, list(columns)
    for i, row in enumerate(grid[: max(1, header_search)]):
        found, missing = _match_columns(row, columns, optional)
        if not missing:
            header_idx = i
            break
    if missing and positional and first_row is not None:
        return _table_by_content(file, grid, positional, first_row, first_line) or _raise(
            _columns_error(dataset, file, missing, grid[0], columns))
    if missing:
        raise _columns_error(dataset, file, missing, grid[0] if not header_search else grid[header_idx], columns)
    header = grid[header_idx]
    rows = []
    for j, raw_row in enumerate(grid[header_idx + 1:], start=header_idx + 1 + first_line):
        if all(is_absent(v) for v in raw_row):
            continue
        rows.append((j, {canon: cell_str(raw_row[idx]) for canon, idx in found.items()}))
    return Table(file, [cell_str(h) for h in header], rows)


def _raise(exc: Exception) -> Table:
    raise exc


def _table_by_content(file: Path, grid: list[list[Any]], positional: Sequence[str], first_row: re.Pattern[str],
                      first_line: int) -> Table | None:
    """A headerless table: rows from the first whose first cell matches ``first_row``, columns in published order."""
    start = next((i for i, r in enumerate(grid) if r and first_row.fullmatch(cell_str(r[0]))), None)
    if start is None:
        return None
    rows = []
    for j, raw_row in enumerate(grid[start:], start=start + first_line):
        if all(is_absent(v) for v in raw_row):
            continue
        cells = [cell_str(v) for v in raw_row] + [""] * max(0, len(positional) - len(raw_row))
        rows.append((j, dict(zip(positional, cells, strict=False))))
    return Table(file, list(positional), rows, found_by="content")


# ------------------------------------------------------------------ the reader base


@dataclass
class _Summary:
    records: int = 0
    parts: Counter = field(default_factory=Counter)
    labels: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(Counter)))
    missing_images: int = 0
    missing: list = field(default_factory=list)
    exclusions: Counter = field(default_factory=Counter)
    excluded: list = field(default_factory=list)
    absent_labels: dict = field(default_factory=lambda: defaultdict(Counter))
    duplicates: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    withheld: dict = field(default_factory=dict)  # (file, topic, value) -> {"count": n, "rows": [...]}
    dropped: Counter = field(default_factory=Counter)
    dropped_rows: list = field(default_factory=list)
    rows_merged: int = 0
    merged_rows: list = field(default_factory=list)
    conflicts: list = field(default_factory=list)
    patient_keys: Counter = field(default_factory=Counter)


class Reader(ABC):
    """Base of every dataset reader; implements the ``Source`` protocol.

    Subclasses set ``name`` (the datasets.yaml key) and implement ``_records()``; the base checks each record's
    image files (a missing file is logged, counted and the record skipped, never fatal: downloads are often
    partial), tallies labels per part/topic/option, and tracks image ids to report duplicates.

    Real label files are dirty, so one odd cell must never cost a dataset: a raw value the label map does not
    know withholds that topic's label for that record only (``withhold``: counted per file/topic/value, first
    rows named), and a record that cannot be used at all is dropped alone (``drop``). ``strict_labels=True``
    restores stop-on-first-value (a ``DataError`` naming file, row and value) for people curating label maps.
    """

    name: str = ""
    #: which column or file-name part gives the patient key (said in the summary); readers may refine per record
    patient_key: str = ""

    def __init__(self, root: str | Path, labels_dir: Path | None = None, *, strict_labels: bool = False):
        self.root = Path(root)
        self.strict_labels = strict_labels
        if not self.root.is_dir():
            raise DataError(self.root, None, f"{self.name}: dataset folder not found")
        self.labels = LabelMap.load(self.name, labels_dir)
        self.dataset = load_datasets().get(self.name)
        self._summary = _Summary()
        self.image_ids: dict[str, str] = {}  # image id -> first record id (breast/exam records)

    # ----- Source protocol
    def records(self) -> Iterator[Record]:
        self._summary = _Summary()
        self.image_ids = {}
        for rec in self._records():
            if not self._images_present(rec):
                continue
            self._count(rec)
            yield rec
        if self._summary.missing_images > LOG_LIMIT:
            log.warning("%s: %d images missing in total under %s (a partial download?)", self.name,
                        self._summary.missing_images, self.root)

    @abstractmethod
    def _records(self) -> Iterator[Record]:
        """Yield the dataset's records; each reader implements its own published layout here."""

    @property
    def summary(self) -> dict[str, Any]:
        s = self._summary
        return {
            "dataset": self.name,
            "root": str(self.root),
            "records": s.records,
            "parts": dict(sorted(s.parts.items())),
            "labels": {p: {t: dict(sorted(c.items())) for t, c in sorted(tc.items())}
                       for p, tc in sorted(s.labels.items())},
            "missing_images": s.missing_images,
            "missing": list(s.missing),
            "exclusions": dict(sorted(s.exclusions.items())),
            "excluded": list(s.excluded),
            "absent_labels": {p: dict(sorted(c.items())) for p, c in sorted(s.absent_labels.items())},
            "duplicates": list(s.duplicates),
            "notes": list(s.notes),
            "withheld": [{"file": f, "topic": t, "value": v, **d} for (f, t, v), d in sorted(s.withheld.items())],
            "labels_withheld": sum(d["count"] for d in s.withheld.values()),
            "dropped": dict(sorted(s.dropped.items())),
            "dropped_rows": list(s.dropped_rows),
            "duplicate_rows": {"merged": s.rows_merged, "merged_rows": list(s.merged_rows),
                               "conflicting": len(s.conflicts), "conflicts": list(s.conflicts)},
            "patient_keys": dict(sorted(s.patient_keys.items())) or (
                {self.patient_key: s.records} if self.patient_key and s.records else {}),
        }

    # ----- helpers for subclasses
    def part_name(self, part: str) -> str:
        return self.dataset.parts[part].name

    def part_topics(self, part: str) -> tuple[str, ...]:
        return self.dataset.parts[part].topics

    def find_file(self, *candidates: str, required: bool = True) -> Path | None:
        """First existing path among ``candidates`` (relative to the root): mirrors nest the data differently."""
        for c in candidates:
            p = self.root / c
            if p.exists():
                return p
        if required:
            raise DataError(self.root / candidates[0], None,
                            f"{self.name}: label file not found (looked for {', '.join(candidates)} under {self.root})")
        return None

    def find_dir(self, *candidates: str) -> Path:
        for c in candidates:
            p = self.root / c
            if p.is_dir():
                return p
        return self.root / candidates[0]

    def exclude(self, reason: str, file: object = None, row: object = None, value: Any = None) -> None:
        """Count a deliberate exclusion (a row, a label or an image left out on purpose) with its reason."""
        self._summary.exclusions[reason] += 1
        if len(self._summary.excluded) < DETAIL_LIMIT:
            self._summary.excluded.append({"reason": reason, "file": str(file) if file else None, "row": row,
                                           "value": value})

    def note(self, text: str) -> None:
        if text not in self._summary.notes:
            self._summary.notes.append(text)
            log.info("%s: %s", self.name, text)

    def duplicate(self, image_id: str, first: str, second: str, resolution: str) -> None:
        """Report one image reachable under two names (CBIS Mass-/Calc-, KAU folders, ...)."""
        self._summary.duplicates.append({"image_id": image_id, "first": first, "second": second,
                                         "resolution": resolution})
        log.warning("%s: image %s appears as %s and %s (%s)", self.name, image_id, first, second, resolution)

    def withhold(self, topic: str, raw: Any, file: object, row: object, why: str = "") -> None:
        """Withhold one record's ``topic`` label for a raw value with no mapping; counted per (file, topic, value).

        Under ``strict_labels`` this stops instead, naming dataset, file, row and value (today's curating mode).
        """
        value = cell_str(raw)
        if self.strict_labels:
            if why:
                raise DataError(file, row, f"{self.name}: {why} (--strict-labels)")
            self.labels.entry(topic, raw, file, row)  # raises the unmapped-value error
            raise DataError(file, row, f"{self.name}: {topic} value {value!r} withheld (--strict-labels)")
        key = (str(file) if file is not None else "", topic, value)
        d = self._summary.withheld.get(key)
        if d is None:
            d = self._summary.withheld[key] = {"count": 0, "rows": [], "why": why or "no label-map entry"}
            log.warning("%s: %s value %r in %s row %s has no label-map entry in %s: that label is withheld for "
                        "the record (others kept); add the value with its source to map it", self.name, topic,
                        value, file, row, self.labels.file.name)
        d["count"] += 1
        if len(d["rows"]) < 5:
            d["rows"].append(row)

    def drop(self, reason: str, file: object, row: object, value: Any = None) -> None:
        """Count a record that cannot be used at all (no image key, unusable coordinates); the rest is kept."""
        if self.strict_labels:
            raise DataError(file, row, f"{self.name}: {reason}: {value!r} (--strict-labels)")
        s = self._summary
        s.dropped[reason] += 1
        if len(s.dropped_rows) < DETAIL_LIMIT:
            s.dropped_rows.append({"reason": reason, "file": str(file) if file is not None else None, "row": row,
                                   "value": value})
        if s.dropped[reason] <= 3:
            log.warning("%s: record dropped (%s): %s row %s value %r", self.name, reason, file, row, value)

    def merge_duplicate_rows(self, rows: Iterable[tuple[int, dict[str, str]]], key: str, file: object
                             ) -> list[tuple[int, dict[str, str]]]:
        """Rows with one value of ``key`` kept once: identical repeats merged and counted, conflicting repeats
        reported with both rows (first kept). Why: a workbook that repeats a row must not give two records."""
        s = self._summary
        seen: dict[str, tuple[int, dict[str, str]]] = {}
        out = []
        for row, v in rows:
            k = v.get(key, "").strip()
            if not k or k not in seen:
                if k:
                    seen[k] = (row, v)
                out.append((row, v))
                continue
            row0, v0 = seen[k]
            if v0 == v:
                s.rows_merged += 1
                if len(s.merged_rows) < DETAIL_LIMIT:
                    s.merged_rows.append({"key": k, "file": str(file), "rows": [row0, row]})
                log.warning("%s: %s row %s repeats row %s identically (%s=%s): merged", self.name, file, row, row0,
                            key, k)
            else:
                diff = sorted(c for c in set(v0) | set(v) if v0.get(c) != v.get(c))
                s.conflicts.append({"key": k, "file": str(file), "first": {"row": row0, "values": v0},
                                    "second": {"row": row, "values": v}, "differs_in": diff,
                                    "resolution": "first row kept"})
                log.warning("%s: %s rows %s and %s share %s=%s but differ in %s: first row kept", self.name, file,
                            row0, row, key, k, diff)
        return out

    def add_label(self, rec_labels: dict[str, list[str]], raw_labels: dict[str, Any], part: str, topic: str,
                  raw: Any, file: object, row: object) -> None:
        """Map one raw value into ``rec_labels[topic]`` (a list, deduplicated), if ``topic`` is asked on ``part``.

        Empty cells are counted as absent labels; values the label map excludes are counted with its note;
        values it does not know are withheld (``withhold``) so the record keeps its other labels.
        """
        if topic not in self.part_topics(part):
            return
        if is_absent(raw):
            self._summary.absent_labels[self.part_name(part)][topic] += 1
            return
        entry = self.labels.get(topic, raw, file, row)
        if entry is None:
            raw_labels.setdefault(topic, cell_str(raw))
            self.withhold(topic, raw, file, row)
            return
        prev = raw_labels.get(topic)
        raw_s = cell_str(raw)
        if prev is None:
            raw_labels[topic] = raw_s
        elif prev != raw_s:
            raw_labels[topic] = [*prev, raw_s] if isinstance(prev, list) else [prev, raw_s]
        if entry.target is None:
            self.exclude(f"{topic} {raw_s!r}: {entry.note}", file, row, raw_s)
            return
        lst = rec_labels.setdefault(topic, [])
        if entry.target not in lst:
            lst.append(entry.target)

    # ----- base internals
    def report_missing(self, image: object, file: object, row: object, record_id: str) -> None:
        """Count (and, for the first few, log) one image a label file names but the download lacks."""
        s = self._summary
        s.missing_images += 1
        detail = {"record": record_id, "file": str(file) if file is not None else None, "row": row,
                  "image": str(image)}
        if len(s.missing) < DETAIL_LIMIT:
            s.missing.append(detail)
        if s.missing_images <= LOG_LIMIT:
            log.warning("%s: image missing: %s (named in %s, row %s)", self.name, image, file, row)

    def _images_present(self, rec: Record) -> bool:
        paths = [*rec.images, *([rec.source_image] if rec.source_image else [])]
        gone = [p for p in paths if not Path(p).exists()]
        if not gone:
            return True
        self.report_missing(gone[0], rec.extra.get("label_file"), rec.extra.get("label_row"), rec.record_id)
        return False

    def _count(self, rec: Record) -> None:
        s = self._summary
        s.records += 1
        s.parts[rec.dataset] += 1
        if rec.extra.get("patient_key"):  # which key grouped this record's patient (said in the summary)
            s.patient_keys[rec.extra["patient_key"]] += 1
        for topic, opts in rec.labels.items():
            for o in opts:
                s.labels[rec.dataset][topic][o] += 1
        image_id = rec.extra.get("image_id")
        if image_id and rec.kind in ("breast", "exam"):
            first = self.image_ids.get(image_id)
            if first is None:
                self.image_ids[image_id] = rec.record_id
            else:
                self.duplicate(image_id, first, rec.record_id, "both kept")
        elif image_id:
            self.image_ids.setdefault(image_id, rec.record_id)


def provenance_extra(file: Path, row: object, image_id: str, **more: Any) -> dict[str, Any]:
    """The ``extra`` every reader fills: where the labels came from and the image's id in its dataset."""
    return {"label_file": str(file), "label_row": row, "image_id": image_id, **more}


def shared_image_ids(readers: Iterable[Reader]) -> list[dict[str, Any]]:
    """Image ids seen in more than one dataset (call after each reader's ``records()`` ran); each is logged.

    Why: the same mammogram reached through two datasets (e.g. a re-release) would sit in two splits.
    """
    owners: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for r in readers:
        for image_id, rec_id in r.image_ids.items():
            owners[image_id].append((r.name, rec_id))
    out = []
    for image_id, where in sorted(owners.items()):
        if len({name for name, _ in where}) > 1:
            out.append({"image_id": image_id, "records": [f"{n}:{rid}" for n, rid in where]})
            log.warning("image id %s appears in several datasets: %s", image_id, where)
    return out


def anonymised_column(values: Iterable[str]) -> bool:
    """True when a patient column cannot group patients: one value on every row (INbreast mirrors write
    ``removed``) or an anonymisation marker. Why: such a column would put every image in one patient."""
    vals = [cell_str(v).lower() for v in values]
    distinct = {v for v in vals if v}
    if not distinct:
        return True
    markers = {"removed", "anonymized", "anonymised", "anon", "unknown", "n/a", "na", "-", "x"}
    return distinct <= markers or (len(distinct) == 1 and len(vals) > 2)


def laterality_from(code: str) -> str | None:
    c = code.strip().upper()
    return {"L": "Left", "R": "Right", "LEFT": "Left", "RIGHT": "Right"}.get(c)


def view_from(code: str) -> str | None:
    c = code.strip().upper()
    if c == "CC":
        return "CC"
    if c in ("MLO", "ML", "LMO"):
        return "MLO"
    return None


# ------------------------------------------------------------------ local configuration


def load_local_config(path: Path | str = LOCAL_CONFIG) -> dict[str, Path]:
    """Dataset name (datasets.yaml spelling) -> local folder, from the git-ignored ``local.yaml``; validated by
    ``config.local_dataset_roots`` (the LocalConfig schema, then the names against datasets.yaml)."""
    return local_dataset_roots(path)


def available_datasets(path: Path | str = LOCAL_CONFIG) -> dict[str, dict[str, Any]]:
    """``{"present": {name: folder}, "absent": {name: {link, access, reason}}}`` over the real datasets."""
    local = load_local_config(path)
    present: dict[str, Any] = {}
    absent: dict[str, Any] = {}
    for name, d in load_datasets().real.items():
        folder = local.get(name)
        if folder is not None and folder.is_dir():
            present[name] = str(folder)
        else:
            reason = "not listed in local.yaml" if folder is None else f"folder not found: {folder}"
            absent[name] = {"link": d.link, "access": d.access, "reason": reason}
    return {"present": present, "absent": absent}
