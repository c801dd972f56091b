"""Prediction files: one JSONL per (model, split, level); first line the provenance, then one line per item.

Append-only and resumable: a re-run skips ids already present; a torn last line (process killed) is dropped
and redone. Reading reports duplicate ids, unknown ids and items with no prediction instead of hiding them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import DataError
from .io import JsonlAppender, iter_jsonl

PREDICTION_KEYS = ("id", "model", "prompt", "options", "output", "latency_s", "error")


@dataclass
class PredictionSet:
    path: Path
    provenance: dict[str, Any]
    rows: dict[str, dict[str, Any]]  # id -> row (first success wins; a retry replaces a failure)
    duplicates: list[str] = field(default_factory=list)

    def check_against(self, item_ids: Iterable[str]) -> dict[str, list[str]]:
        """Ids with no prediction (``missing``, scored wrong) and predictions for no known item (``unknown``)."""
        ids = set(item_ids)
        return {
            "missing": sorted(ids - set(self.rows)),
            "unknown": sorted(set(self.rows) - ids),
            "duplicates": sorted(set(self.duplicates)),
        }


def read_predictions(path: str | Path) -> PredictionSet:
    path = Path(path)
    provenance: dict[str, Any] = {}
    rows: dict[str, dict[str, Any]] = {}
    dups: list[str] = []
    for line, obj in iter_jsonl(path, tolerate_torn_tail=True):
        if "provenance" in obj and "id" not in obj:
            provenance = obj["provenance"]
            continue
        if "id" not in obj or "output" not in obj:
            raise DataError(path, line, f"prediction line lacks 'id' or 'output': keys {sorted(obj)}")
        prev = rows.get(obj["id"])
        if prev is not None and prev.get("error") is None:
            dups.append(obj["id"])  # two successful answers for one item: reported, first one kept
            continue
        rows[obj["id"]] = obj  # new, or a retry replacing a failed attempt
    return PredictionSet(path, provenance, rows, dups)


def done_ids(path: str | Path) -> set[str]:
    path = Path(path)
    if not path.exists():
        return set()
    return {i for i, r in read_predictions(path).rows.items() if r.get("error") is None}


class PredictionWriter:
    """Appends predictions; writes the provenance line when the file is new.

    Rows that failed (``error`` set) are written too, so failures are visible; a later run retries them
    (``done_ids`` only counts successes) and the reader keeps the latest successful answer.
    """

    def __init__(self, path: str | Path, provenance: dict[str, Any]):
        self.path = Path(path)
        new = not self.path.exists() or self.path.stat().st_size == 0
        self._out = JsonlAppender(self.path)
        if new:
            self._out.write({"provenance": provenance})

    def write(self, *, id: str, model: str, prompt: str, options: list[str], output: str | None,
              latency_s: float | None, error: str | None = None, **extra: Any) -> None:
        row = {"id": id, "model": model, "prompt": prompt, "options": list(options), "output": output,
               "latency_s": None if latency_s is None else round(float(latency_s), 4), "error": error}
        row.update(extra)
        self._out.write(row)

    def close(self) -> None:
        self._out.close()

    def __enter__(self) -> PredictionWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
