"""Prediction files: one JSONL per (model, split, level); first line the provenance, then one line per item.

Append-only and resumable: a re-run skips ids already present; a torn last line (process killed) is dropped
and redone. Reading reports duplicate ids, unknown ids and items with no prediction instead of hiding them.
One writer at a time: the writer holds an exclusive lock (``<file>.lock``) for as long as it is open, so two
processes can never append the same ids twice. One source per file: :meth:`PredictionSet.model` refuses a file
whose rows name another model than its provenance.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import DataError
from .io import JsonlAppender, file_lock, gc_paused, iter_jsonl

PREDICTION_KEYS = ("id", "model", "prompt", "options", "output", "latency_s", "error")
NULL_OUTPUTS = ("null", "none")  # what a JSON null becomes when a client stringifies it (OpenAI ``content: null``)


def is_missing_output(output: object) -> bool:
    """True for no answer at all: None, empty or whitespace-only text, or a stringified null.

    Why: an empty answer is not an answer; counting it as "answered, matched nothing" hides a model that
    produced nothing behind a plausible-looking accuracy and a ``missing`` count of 0.
    """
    if output is None:
        return True
    text = str(output).strip()
    return not text or text.lower() in NULL_OUTPUTS


@dataclass
class PredictionSet:
    path: Path
    provenance: dict[str, Any]
    rows: dict[str, dict[str, Any]]  # id -> row (first success wins; a retry replaces a failure)
    duplicates: list[str] = field(default_factory=list)

    def model(self) -> str | None:
        """The one model this file holds; a :class:`DataError` when provenance and rows disagree.

        Why: a file whose provenance names one model while its rows name another (a copied or concatenated
        file) would otherwise be scored silently under the provenance's name.
        """
        named = {str(r["model"]) for r in self.rows.values() if r.get("model")}
        claimed = self.provenance.get("model_id")
        if len(named) > 1:
            raise DataError(self.path, None, f"rows name {len(named)} models {sorted(named)[:4]}: a prediction file "
                            "must hold one model's answers (split it, or re-run the models into separate files)")
        if claimed and named and str(claimed) not in named:
            raise DataError(self.path, None, f"provenance names model {claimed!r} but the rows were written by "
                            f"{sorted(named)[0]!r}: the file mixes sources; re-run or re-import it")
        return str(claimed) if claimed else (named.pop() if named else None)

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
    with gc_paused():  # hundreds of thousands of small dicts: no collection passes while they are built
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
        self._lock = file_lock(self.path, f"writing predictions of {provenance.get('model_id')}")
        self._lock.__enter__()  # raises FileLocked when another process writes this file
        try:
            new = not self.path.exists() or self.path.stat().st_size == 0
            self._out = JsonlAppender(self.path)
            if new:
                self._out.write({"provenance": provenance})
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise

    def write(self, *, id: str, model: str, prompt: str, options: list[str], output: str | None,
              latency_s: float | None, error: str | None = None, **extra: Any) -> None:
        row = {"id": id, "model": model, "prompt": prompt, "options": list(options), "output": output,
               "latency_s": None if latency_s is None else round(float(latency_s), 4), "error": error}
        row.update(extra)
        self._out.write(row)

    def close(self) -> None:
        try:
            self._out.close()
        finally:
            if self._lock is not None:
                self._lock.__exit__(None, None, None)
                self._lock = None

    def __enter__(self) -> PredictionWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
