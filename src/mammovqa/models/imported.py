"""Import predictions made with a model's own code (MiniGPT-4, RadFM, Med-Flamingo, MedVInT, MedDr, ...).

Why: five of the paper's models have no transformers checkpoint; they run with their authors' code, and their
raw answers come back here to be scored exactly like ours. Formats (docs/models.md):

- JSONL: one object per line with ``id`` and ``output`` (optional ``error``, ``latency_s``);
- CSV: header with ``id`` and ``output`` columns;
- official MammoVQA result JSON: ``{"1": {..., "model_output"/"output"/"Answer": ...}, ...}`` keyed by the
  position ("1".."N") of the question in an official benchmark file, mapped to our item with
  ``extra["official_key"] == "N"`` (set by ``mammovqa data import-official`` and the official export). There is
  no positional fallback ("the N-th item"): it mapped a test file's answers onto external items. When an entry
  carries the benchmark's ``Question``/``Options``/``Path``, they must equal the item's (a result file of another
  split or benchmark file is an error naming the key and the item).

Every import maps by id only, rejects duplicate and unknown ids, and an import that matches no item is an error.

The prompt written with each prediction is rebuilt from our item, so the scorer reads the option order from it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..io import file_lock, iter_jsonl, provenance, sha256_file
from ..predictions import PredictionWriter
from ..qa.items import QAItem, item_prompt

OUTPUT_KEYS = ("output", "model_output", "model_answer", "prediction", "pred", "response", "answer_pred")


def _output_of(obj: dict[str, Any], file: Path, row: object) -> str:
    for k in OUTPUT_KEYS:
        if k in obj:
            return "" if obj[k] is None else str(obj[k])
    raise DataError(file, row, f"no output field (one of {', '.join(OUTPUT_KEYS)}); keys: {sorted(obj)}")


def read_jsonl_outputs(path: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for line, obj in iter_jsonl(path):
        if "provenance" in obj and "id" not in obj:
            continue
        if "id" not in obj:
            raise DataError(path, line, "missing 'id'")
        if str(obj["id"]) in out:
            raise DataError(path, line, f"id {obj['id']!r} answered twice: keep one answer per item")
        out[str(obj["id"])] = {"output": _output_of(obj, path, line), "error": obj.get("error"),
                               "latency_s": obj.get("latency_s")}
    return out


def read_csv_outputs(path: Path) -> dict[str, dict[str, Any]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "id" not in reader.fieldnames:
            raise DataError(path, 1, f"CSV needs an 'id' column; header: {reader.fieldnames}")
        out: dict[str, dict[str, Any]] = {}
        for i, row in enumerate(reader, start=2):
            if row["id"] in out:
                raise DataError(path, i, f"id {row['id']!r} answered twice: keep one answer per item")
            out[row["id"]] = {"output": _output_of(row, path, i), "error": row.get("error") or None,
                              "latency_s": float(row["latency_s"]) if row.get("latency_s") else None}
        return out


def _check_official_entry(path: Path, key: str, obj: dict[str, Any], item: QAItem) -> None:
    """An entry that repeats the benchmark's question must repeat this item's question, options and image."""
    checks = (("Question", item.question), ("Options", list(item.options)))
    for field_, ours in checks:
        if field_ in obj and obj[field_] != ours:
            raise DataError(path, f"key {key}", f"item {item.id}: the result's {field_.lower()} {obj[field_]!r} is "
                            f"not the item's {ours!r} (a result file of another split or benchmark file?)")
    stored = (item.extra or {}).get("official_path")
    if "Path" in obj and stored is not None and obj["Path"] != stored:
        raise DataError(path, f"key {key}", f"item {item.id}: the result's path {obj['Path']!r} is not the item's "
                        f"{stored!r} (a result file of another split or benchmark file?)")


def read_official_outputs(path: Path, items: Sequence[QAItem]) -> dict[str, dict[str, Any]]:
    """Official result JSON keyed "1".."N" -> our item ids, through the official keys of the benchmark file."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise DataError(path, None, f"expected a JSON object keyed '1'..'N', got {type(raw).__name__}")
    by_key = {str(it.extra["official_key"]): it for it in items if "official_key" in (it.extra or {})}
    if not by_key:
        raise DataError(path, None, f"none of the {len(items)} items has an official_key, so the keys '1'..'N' "
                        "cannot be mapped by id: import the benchmark file with `mammovqa data import-official` "
                        "and pass those items (--items), or convert the answers to JSONL/CSV with our item ids")
    out: dict[str, dict[str, Any]] = {}
    for key, obj in raw.items():
        if key not in by_key:
            raise DataError(path, key, f"key {key!r} has no item in the benchmark file ({len(by_key)} items)")
        value = obj if isinstance(obj, dict) else {"output": obj}
        _check_official_entry(path, key, value, by_key[key])
        out[by_key[key].id] = {"output": _output_of(value, path, key), "error": None, "latency_s": None}
    return out


def import_predictions(model_id: str, source: str | Path, items: Sequence[QAItem], out_path: str | Path,
                       fmt: str | None = None, seed: int = 0) -> dict[str, int]:
    """Write ``source``'s answers as a prediction file; returns counts (written, unknown ids, missing items)."""
    from .predict import items_checksum, single_value

    source = Path(source)
    fmt = fmt or {".jsonl": "jsonl", ".csv": "csv", ".json": "official"}.get(source.suffix.lower())
    readers = {"jsonl": lambda: read_jsonl_outputs(source), "csv": lambda: read_csv_outputs(source),
               "official": lambda: read_official_outputs(source, items)}
    if fmt not in readers:
        raise DataError(source, None, f"unknown format {fmt!r} (jsonl, csv, official)")
    answers = readers[fmt]()
    by_id = {it.id: it for it in items}
    if not answers:
        raise DataError(source, None, f"no prediction in the file (format {fmt}): nothing to import")
    unknown = sorted(set(answers) - set(by_id))
    if unknown:
        raise DataError(source, unknown[0], f"{len(unknown)} prediction id(s) match no item, e.g. {unknown[:3]} "
                        f"(items: {len(items)} of split/level {sorted({(it.split, it.level) for it in items})})")
    # the source file by name, not by machine path: its checksum identifies it wherever the provenance travels
    prov = provenance(seed=seed, model_id=model_id, data_checksum=items_checksum(items), backend="imported",
                      imported_from=source.name, imported_sha256=sha256_file(source), imported_format=fmt,
                      split=single_value({it.split for it in items}),
                      level=single_value({it.level for it in items}))
    with file_lock(out_path, f"mammovqa models import --model {model_id}"):
        Path(out_path).unlink(missing_ok=True)  # an import replaces the whole file (under the lock)
        with PredictionWriter(out_path, prov) as w:
            for it in items:  # item order, so the file is deterministic
                if it.id in answers:
                    a = answers[it.id]
                    w.write(id=it.id, model=model_id, prompt=item_prompt(it), options=it.options,
                            output=a["output"], latency_s=a["latency_s"], error=a["error"])
    return {"written": len(answers), "missing": len(by_id) - len(answers)}
