"""Score prediction files against QA items: one row per item, the contract for metrics and statistics.

Why one row per item (not per-topic sums): the statistics module needs the 0/1 scores with their patient,
exam and record ids for clustered bootstraps and paired tests, and every later table derives from this frame.

Missing predictions (no line, or a line whose ``error`` is set, or no answer: null, empty or whitespace-only
output, or the string "null" a client makes of a JSON null) are scored wrong and reported, never skipped (the official scorer skips them, which inflates accuracy). Predictions for ids that
are not among the items are reported too. A stored prompt or option list that disagrees with the item's
options means the prediction answered a different question: that is an error naming the item, and so is a file whose rows name another model than its provenance.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from operator import attrgetter
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import DataError
from ..io import gc_paused
from ..predictions import PredictionSet, is_missing_output
from ..qa.items import LETTERS, QAItem, topic_label
from .matching import Matcher, match_many_shared, random_chance

SCORE_COLUMNS = ("id", "model", "matcher", "split", "level", "topic", "topic_key", "kind", "dataset", "part", "role",
                 "record_id", "patient_id", "exam_id", "n_options", "gold", "pred", "correct", "missing", "random_p")


@dataclass
class ScoreReport:
    """What scoring had to work around; ``DataFrame.attrs["report"]`` holds it as a dict."""

    n_items: int
    n_missing: int
    n_errors: int
    missing_ids: list[str] = field(default_factory=list)
    unknown_ids: list[str] = field(default_factory=list)
    duplicate_ids: list[str] = field(default_factory=list)
    n_empty: int = 0  # rows present without an answer (null, empty, whitespace, "null"), counted in n_missing
    n_random_fill: int = 0  # rows a harness filled in at random (``harness_random_fill``), counted in n_missing

    def lines(self) -> list[str]:
        out = []
        if self.n_missing:
            fill = f", {self.n_random_fill} filled in at random by the harness" if self.n_random_fill else ""
            out.append(f"{self.n_missing} of {self.n_items} items have no usable prediction "
                       f"({self.n_errors} failed with an error, {self.n_empty} answered nothing{fill}); scored wrong: "
                       f"{self.missing_ids[:5]}")
        if self.unknown_ids:
            out.append(f"{len(self.unknown_ids)} predictions name no known item: {self.unknown_ids[:5]}")
        if self.duplicate_ids:
            out.append(f"{len(self.duplicate_ids)} items were answered twice (first kept): {self.duplicate_ids[:5]}")
        return out


def _rows_of(predictions: PredictionSet | Mapping[str, Mapping[str, Any]]) -> tuple[Mapping[str, Any], str, list[str]]:
    if isinstance(predictions, PredictionSet):
        return predictions.rows, str(predictions.path), list(predictions.duplicates)
    return predictions, "<predictions>", []


def _prompt_options(prompt: str) -> str | None:
    """The options section of a protocol prompt, or None when the prompt is not in the protocol format."""
    head, sep, tail = prompt.partition("### Options: ")
    if not sep:
        return None
    body, sep, _ = tail.rpartition(". ### Answer:")
    return body if sep else None


def _options_text(options: tuple[str, ...]) -> str:
    """The options section a protocol prompt shows for ``options`` (see :func:`_prompt_options`)."""
    return ", ".join(f"{LETTERS[i]}: {o}" for i, o in enumerate(options))


@lru_cache(maxsize=65536)
def _prompt_mismatch(prompt: str, options: tuple[str, ...]) -> str | None:
    """The options section ``prompt`` shows when it is not ``options``'s, else None; cached because 565K rows
    share a few thousand (prompt, options) pairs."""
    shown = _prompt_options(prompt)
    return shown if shown is not None and shown != _options_text(options) else None


def _check_row(item: QAItem, row: Mapping[str, Any], source: str) -> None:
    check_stored(item, row.get("options"), row.get("prompt"), source)


def check_stored(item: QAItem, stored: Any, prompt: Any, source: str) -> None:
    """Raise when a row's stored option list or prompt (None: not stored) is not the item's question.

    Public so that a caller holding the rows it has just written (``mammovqa import-predictions --score``)
    runs the very checks a scorer reading the file runs.
    """
    # equal lists compare without copies; anything else is compared as lists, as ever
    if stored is not None and stored != item.options and list(stored) != list(item.options):
        raise DataError(source, item.id, f"item {item.id}: stored options {list(stored)} differ from the item's "
                        f"options {item.options} (answered a different question or option order)")
    if isinstance(prompt, str):
        shown = _prompt_mismatch(prompt, tuple(item.options))
        if shown is not None:
            raise DataError(source, item.id, f"item {item.id}: stored prompt shows options {shown!r}, "
                            f"the item has {_options_text(tuple(item.options))!r}")


def _model_of(predictions: PredictionSet | Mapping[str, Any], rows: Mapping[str, Any]) -> str | None:
    if isinstance(predictions, PredictionSet):
        return predictions.model()  # raises when provenance and rows name different models
    for row in rows.values():
        if row.get("model"):
            return str(row["model"])
    return None


def is_random_fill(row: Mapping[str, Any]) -> bool:
    """True for a row whose answer a harness filled in at random (VLMEvalKit, when its judge fails): no answer.

    Why: the harness's random option says nothing about the model; scoring the raw output instead would still
    credit an answer the harness itself could not read. Either matcher treats the row as missing.
    """
    return bool(row.get("harness_random_fill"))


MISSING_REASONS = ("errors", "empty", "random_fill")  # the keys of :func:`missing_reason`'s answers


def missing_reason(output: Any, error: Any, random_fill: bool) -> str | None:
    """Why a present row gives no answer to match (a key of :data:`MISSING_REASONS`), or None when it does.

    In this order: the row failed (``error`` set), it answered nothing (:func:`is_missing_output`), a harness
    filled it in at random. One function for the scorer reading a file and for an import scoring the rows it
    has just written, so both count alike.
    """
    if error is not None:
        return "errors"
    if is_missing_output(output):
        return "empty"
    if random_fill:
        return "random_fill"
    return None


def _usable_outputs(items: list[QAItem], rows: Mapping[str, Mapping[str, Any]],
                    source: str) -> tuple[list[str | None], list[bool], dict[str, int]]:
    """Each item's output to match (None when missing), whether it is missing, and why rows were missing."""
    outputs: list[str | None] = []
    missing: list[bool] = []
    counts = dict.fromkeys(MISSING_REASONS, 0)
    for it in items:
        row = rows.get(it.id)
        if row is None:
            outputs.append(None)
            missing.append(True)
            continue
        _check_row(it, row, source)
        out = row.get("output")
        reason = missing_reason(out, row.get("error"), is_random_fill(row))
        if reason is None:
            outputs.append(out if type(out) is str else str(out))
            missing.append(False)
            continue
        counts[reason] += 1
        outputs.append(None)
        missing.append(True)
    return outputs, missing, counts


# what :func:`_score_frame` reads of every item, in one C-level call per item
_ITEM_COLUMNS = attrgetter("id", "split", "level", "topic", "kind", "dataset", "part", "role", "record_id",
                           "patient_id", "exam_id", "options", "answer")
# ``QAItem.topic_label`` from (topic, part), computed once per distinct pair
_topic_label = lru_cache(maxsize=1024)(topic_label)

_RANDOM_P: dict[tuple[int, str], float] = {}


def _random_p(n_options: int, kind: str) -> float:
    key = (n_options, kind)
    p = _RANDOM_P.get(key)
    if p is None:
        p = _RANDOM_P[key] = random_chance(n_options, kind)
    return p


def _score_frame(items: list[QAItem], model: str | None, matcher: str, missing: list[bool],
                 chosen: list[tuple[str, ...]]) -> pd.DataFrame:
    """The score table built column by column (one list per column, no per-item dict).

    ``gold``/``pred`` are the sorted option texts joined by ``|``; ``correct`` is a non-empty choice whose
    sorted texts equal the sorted gold texts. Both are worked out once per distinct answer or decision.
    """
    if not items:  # no values to infer dtypes from: object columns, as a frame of no records has
        return pd.DataFrame([], columns=list(SCORE_COLUMNS))
    sets: dict[tuple[str, ...], tuple[list[str], str]] = {}

    def canon(texts: Sequence[str]) -> tuple[list[str], str]:
        key = tuple(texts)
        got = sets.get(key)
        if got is None:
            srt = sorted(key)
            got = sets[key] = (srt, "|".join(srt))
        return got

    # the plain item fields, column by column, read in C (one attrgetter call per item, then a transpose)
    (ids, split, level, topic, kind, dataset, part, role, record_id, patient_id, exam_id, options,
     answer) = map(list, zip(*map(_ITEM_COLUMNS, items), strict=True))
    gold = list(map(canon, answer))
    pred = list(map(canon, chosen))
    n_options = list(map(len, options))
    n = len(items)
    cols: dict[str, list[Any]] = {
        "id": ids, "model": [model] * n, "matcher": [matcher] * n, "split": split, "level": level,
        "topic": list(map(_topic_label, topic, part)), "topic_key": topic, "kind": kind, "dataset": dataset,
        "part": part, "role": role, "record_id": record_id, "patient_id": patient_id, "exam_id": exam_id,
        "n_options": n_options, "gold": [g[1] for g in gold], "pred": [p[1] for p in pred],
        "correct": [int(bool(p[0]) and p[0] == g[0]) for p, g in zip(pred, gold, strict=True)],
        "missing": missing,
        "random_p": list(map(_random_p, n_options, kind)),
    }
    return pd.DataFrame(cols, columns=list(SCORE_COLUMNS))


def score_items(items: list[QAItem], predictions: PredictionSet | Mapping[str, Mapping[str, Any]],
                matcher: Matcher, model: str | None = None, warn: bool = True) -> pd.DataFrame:
    """One row per item (columns :data:`SCORE_COLUMNS`); ``df.attrs["report"]`` is the :class:`ScoreReport`.

    Missing and unknown predictions are reported with a ``UserWarning`` (``warn=False`` to silence it when
    the caller prints the report itself). Rows a harness filled in at random (``harness_random_fill``) are
    scored as no answer under either matcher and counted in ``n_random_fill``.
    """
    rows, source, dups = _rows_of(predictions)
    file_model = _model_of(predictions, rows)  # checked even when the caller names the model
    model = model or file_model
    with gc_paused():  # hundreds of thousands of acyclic rows: nothing for the cycle collector to find
        outputs, missing, counts = _usable_outputs(items, rows, source)
        ids = {it.id for it in items}
        return score_outputs(items, outputs, missing, counts, matcher, model, unknown_ids=sorted(set(rows) - ids),
                             duplicate_ids=sorted(set(dups)), source=source, warn=warn)


def score_outputs(items: list[QAItem], outputs: list[str | None], missing: list[bool], counts: Mapping[str, int],
                  matcher: Matcher, model: str | None, *, unknown_ids: Sequence[str] = (),
                  duplicate_ids: Sequence[str] = (), source: str = "<predictions>", warn: bool = True) -> pd.DataFrame:
    """:func:`score_items` from each item's output already taken out of its row (None where ``missing``) and
    the count of missing rows per :data:`MISSING_REASONS` key.

    Why: an import that has just written the rows scores them from memory (``mammovqa import-predictions
    --score``) instead of reading the file it wrote back; the table is the same.
    """
    with gc_paused():
        chosen = match_many_shared(outputs, [it.options for it in items], [it.kind for it in items], matcher)
        df = _score_frame(items, model, matcher, missing, chosen)
    df = df.astype({"correct": int, "missing": bool, "n_options": int})
    miss_ids = [it.id for it, m in zip(items, missing, strict=True) if m]
    report = ScoreReport(len(items), len(miss_ids), counts["errors"], miss_ids, list(unknown_ids),
                         list(duplicate_ids), counts["empty"], counts["random_fill"])
    df.attrs["report"] = asdict(report)
    if warn:
        for line in report.lines():
            warnings.warn(f"{source}: {line}", UserWarning, stacklevel=3)
    return df


def disagreement_table(items: list[QAItem], predictions: PredictionSet | Mapping[str, Mapping[str, Any]],
                       by: Sequence[str] = ("level", "topic")) -> pd.DataFrame:
    """How often the official and strict matchers decide differently, per topic (and level), plus an "all" row.

    Columns: the ``by`` keys, n, n_differ, differ (fraction), accuracy_official, accuracy_strict,
    no_choice_official, no_choice_strict (fractions of items with no choice, missing predictions included).
    """
    off = score_items(items, predictions, "official", warn=False)
    st = score_items(items, predictions, "strict", warn=False)
    both = off[list(by)].copy()
    both["differ"] = (off["pred"] != st["pred"]).astype(int)
    both["acc_o"], both["acc_s"] = off["correct"], st["correct"]
    both["nc_o"], both["nc_s"] = (off["pred"] == "").astype(int), (st["pred"] == "").astype(int)

    def summarise(g: pd.DataFrame) -> dict[str, float]:
        return {"n": int(len(g)), "n_differ": int(g["differ"].sum()), "differ": float(g["differ"].mean()),
                "accuracy_official": float(g["acc_o"].mean()), "accuracy_strict": float(g["acc_s"].mean()),
                "no_choice_official": float(g["nc_o"].mean()), "no_choice_strict": float(g["nc_s"].mean())}

    rows = [{**dict(zip(by, k if isinstance(k, tuple) else (k,), strict=True)), **summarise(g)}
            for k, g in both.groupby(list(by), sort=True)]
    if len(both):
        rows.append({**dict.fromkeys(by, "all"), **summarise(both)})
    return pd.DataFrame(rows)


def score_file(items: list[QAItem], predictions_path: str | Path, matcher: Matcher, warn: bool = True) -> pd.DataFrame:
    """Read a prediction file and score it; items outside the file's (split, level) should be filtered first."""
    from ..predictions import read_predictions

    return score_items(items, read_predictions(predictions_path), matcher, warn=warn)
