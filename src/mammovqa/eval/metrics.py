"""Metrics over scored items (docs/protocol.md §5): absolute and weighted accuracy, macro-F1, random guess.

All values are fractions in [0, 1] (CSV and DataFrames); figures and text multiply by 100 themselves.

Definitions, and why:

* ``accuracy``: mean of the 0/1 scores.
* ``weighted_accuracy``: weight 1/|C_i| per item, |C_i| = number of items with that item's gold class; this
  equals the mean per-class accuracy over the classes present (balanced accuracy), so a model that always
  answers the majority class is not rewarded. For Abnormality (multiple choice) a class is the sorted set of
  gold answers (our ``gold`` column, texts joined by ``|``).
* ``macro_f1``: unweighted mean of per-class F1 over the union of gold and predicted classes (the scikit-learn
  ``average="macro"`` convention); "no choice" is its own predicted class, so unmatched outputs cost recall
  and add a class with F1 = 0.
* ``random_guess``: expected ``weighted_accuracy`` of the uniform random guesser, from each item's own options
  (``random_p``: 1/K single choice; 1/(2^K - 1) multiple choice, the guesser picking one non-empty subset
  uniformly), aggregated with the same class weights as ``weighted_accuracy``.

Rows of :func:`metrics_table` (per model, matcher, split, level):

* topic rows (``dataset="all"``): items of one topic pooled over sub-datasets (the paper's per-topic numbers);
* dataset rows (``topic="all"``): ``accuracy`` is the plain mean over the dataset's items (the official
  dataset-level number); ``weighted_accuracy``, ``macro_f1`` and ``random_guess`` are the unweighted means of the
  dataset's topic x dataset values, because classes are only comparable within a topic;
* topic x dataset rows;
* one overall row (``topic="all", dataset="all"``): every column the unweighted mean over topic rows, as the
  paper's "image-level mean" (``n`` is the total item count).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd

METRIC_COLUMNS = ("model", "matcher", "split", "level", "topic", "dataset", "n", "accuracy", "weighted_accuracy",
                  "macro_f1", "random_guess")
NO_CHOICE = "<no choice>"
TOPIC_ORDER = ("Laterality", "View", "ACR", "Bi-Rads", "Background tissue", "Subtlety", "Masking potential",
               "Pathology (breast)", "Pathology (finding)", "Abnormality (breast)", "Abnormality (finding)")
_GROUP = ["model", "matcher", "split", "level"]


def accuracy(correct: Sequence[float] | np.ndarray) -> float:
    """Mean 0/1 score; NaN for no items (never a silent 0)."""
    c = np.asarray(correct, dtype=float)
    return float(c.mean()) if c.size else float("nan")


def _all_str(values: Sequence[object] | np.ndarray) -> bool:
    """True when every value is a plain string: the counting fast paths below give the same numbers then."""
    return set(map(type, values)) <= {str}  # the types counted in C; no values: True, as all() of nothing


def class_weights(gold: Sequence[str] | np.ndarray) -> np.ndarray:
    """1/|C_i| for each item, |C_i| the count of items sharing its gold class."""
    g = np.asarray(gold, dtype=object)
    if _all_str(g):  # counted in one pass (the same integer counts pandas' value_counts gives)
        counts = Counter(g)
        return 1.0 / np.array([counts[x] for x in g], dtype=float)
    s = pd.Series(g)
    return 1.0 / s.map(s.value_counts()).to_numpy(dtype=float)


def class_weighted_mean(values: Sequence[float] | np.ndarray, gold: Sequence[str] | np.ndarray) -> float:
    """Mean of ``values`` with weights 1/|C_i| (equal say for every gold class present)."""
    v = np.asarray(values, dtype=float)
    if not v.size:
        return float("nan")
    w = class_weights(gold)
    return float(np.sum(w * v) / np.sum(w))


def weighted_accuracy(correct: Sequence[float] | np.ndarray, gold: Sequence[str] | np.ndarray) -> float:
    """Class-weighted accuracy (= balanced accuracy, the mean of per-class accuracies)."""
    return class_weighted_mean(correct, gold)


def macro_f1(gold: Sequence[str] | np.ndarray, pred: Sequence[str] | np.ndarray) -> float:
    """Macro-F1 over the union of gold and predicted classes; an empty prediction is the "no choice" class."""
    g = np.asarray(gold, dtype=object)
    p = np.asarray([x if x else NO_CHOICE for x in pred], dtype=object)
    if g.size != p.size:
        raise ValueError(f"gold and pred differ in length: {g.size} vs {p.size}")
    if not g.size:
        return float("nan")
    if _all_str(g) and _all_str(p):
        # per class 2TP / (2TP + FP + FN) = 2TP / (n gold + n predicted): the same integers, one counting pass
        n_gold, n_pred = Counter(g), Counter(p)
        tp = Counter(x for x, y in zip(g, p, strict=True) if x == y)
        return float(np.mean([2 * tp[c] / (n_gold[c] + n_pred[c]) if tp[c] else 0.0
                              for c in sorted(n_gold.keys() | n_pred.keys())]))
    f1s = []
    for c in sorted(set(g) | set(p)):
        tp = int(np.sum((g == c) & (p == c)))
        fp = int(np.sum((g != c) & (p == c)))
        fn = int(np.sum((g == c) & (p != c)))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(f1s))


def group_metrics(df: pd.DataFrame) -> dict[str, float]:
    """The four metrics for one group of scored items (columns ``correct``, ``gold``, ``pred``, ``random_p``)."""
    return {
        "n": int(len(df)),
        "accuracy": accuracy(df["correct"]),
        "weighted_accuracy": weighted_accuracy(df["correct"], df["gold"]),
        "macro_f1": macro_f1(df["gold"], df["pred"]),
        "random_guess": class_weighted_mean(df["random_p"], df["gold"]),
    }


def _array_metrics(correct: np.ndarray, gold: np.ndarray, pred: np.ndarray, random_p: np.ndarray) -> dict[str, float]:
    """:func:`group_metrics` on columns already taken out of the frame (same functions, same order of values)."""
    return {
        "n": int(len(correct)),
        "accuracy": accuracy(correct),
        "weighted_accuracy": weighted_accuracy(correct, gold),
        "macro_f1": macro_f1(gold, pred),
        "random_guess": class_weighted_mean(random_p, gold),
    }


def _topic_rank(topic: str) -> int:
    return TOPIC_ORDER.index(topic) if topic in TOPIC_ORDER else len(TOPIC_ORDER)


def _check_columns(scores: pd.DataFrame) -> None:
    need = set(_GROUP) | {"topic", "dataset", "correct", "gold", "pred", "random_p"}
    missing = sorted(need - set(scores.columns))
    if missing:
        raise ValueError(f"score table lacks columns {missing} (have {sorted(scores.columns)})")


def metrics_table(scores: pd.DataFrame) -> pd.DataFrame:
    """The metrics CSV table (columns :data:`METRIC_COLUMNS`) from per-item scores (``scoring.score_items``)."""
    _check_columns(scores)
    rows: list[dict] = []
    df = scores.assign(model=scores["model"].fillna("unknown"))
    for key, g in df.groupby(_GROUP, sort=True, dropna=False):
        base = dict(zip(_GROUP, key, strict=True))
        topic, dataset = g["topic"].to_numpy(dtype=object), g["dataset"].to_numpy(dtype=object)
        fast = _all_str(topic) and _all_str(dataset)
        rows += _block_rows(base, g, topic, dataset) if fast else _block_rows_by_frame(base, g)
    out = pd.DataFrame(rows, columns=list(METRIC_COLUMNS))
    return out.astype({"n": int})


def _positions(*keys: np.ndarray) -> dict:
    """Row positions (ascending, so every subset keeps the frame's order) per value of the key column(s)."""
    out: dict = {}
    for i, k in enumerate(zip(*keys, strict=True) if len(keys) > 1 else keys[0]):
        out.setdefault(k, []).append(i)
    return {k: np.asarray(v, dtype=np.intp) for k, v in out.items()}


def _block_rows(base: dict, g: pd.DataFrame, topic: np.ndarray, dataset: np.ndarray) -> list[dict]:
    """The rows of one (model, matcher, split, level) block, from index positions instead of frame filters.

    Why: the frame-filter version (:func:`_block_rows_by_frame`, kept for odd inputs) converted the string
    columns of every topic and cell anew, most of a 565K-item table's time. Groups, orders and reductions are
    the same, so the numbers are identical (``tests/test_metrics.py`` compares both).
    """
    cols = (g["correct"].to_numpy(dtype=float), g["gold"].to_numpy(dtype=object), g["pred"].to_numpy(dtype=object),
            g["random_p"].to_numpy(dtype=float))

    def at(pos: np.ndarray) -> dict[str, float]:
        return _array_metrics(*(c[pos] for c in cols))

    by_topic, by_cell, by_dataset = _positions(topic), _positions(topic, dataset), _positions(dataset)
    topics = sorted(by_topic, key=lambda t: (_topic_rank(t), t))
    topic_rows = [{**base, "topic": t, "dataset": "all", **at(by_topic[t])} for t in topics]
    cell_rows = [{**base, "topic": t, "dataset": d, **at(by_cell[(t, d)])}
                 for t in topics for d in sorted(d for tt, d in by_cell if tt == t)]
    ds_rows = []
    for d in sorted(by_dataset):
        c = [r for r in cell_rows if r["dataset"] == d]
        ds_rows.append({**base, "topic": "all", "dataset": d, "n": int(len(by_dataset[d])),
                        "accuracy": accuracy(cols[0][by_dataset[d]]),
                        **{m: float(pd.Series([r[m] for r in c], dtype=float).mean())
                           for m in ("weighted_accuracy", "macro_f1", "random_guess")}})
    overall = {**base, "topic": "all", "dataset": "all", "n": int(len(g)),
               **{m: float(pd.Series([r[m] for r in topic_rows], dtype=float).mean())
                  for m in ("accuracy", "weighted_accuracy", "macro_f1", "random_guess")}}
    return [overall, *topic_rows, *ds_rows, *cell_rows]


def _block_rows_by_frame(base: dict, g: pd.DataFrame) -> list[dict]:
    """The rows of one block by filtering the frame (the straightforward way; used when a topic or dataset
    is not a plain string, e.g. missing in a table read back from CSV)."""
    topics = sorted(g["topic"].unique(), key=lambda t: (_topic_rank(t), t))
    topic_rows = [{**base, "topic": t, "dataset": "all", **group_metrics(g[g["topic"] == t])} for t in topics]
    cell_rows = [{**base, "topic": t, "dataset": d, **group_metrics(gd)}
                 for t in topics for d, gd in g[g["topic"] == t].groupby("dataset", sort=True)]
    cells = pd.DataFrame(cell_rows)
    ds_rows = []
    for d, gd in g.groupby("dataset", sort=True):
        c = cells[cells["dataset"] == d]
        ds_rows.append({**base, "topic": "all", "dataset": d, "n": int(len(gd)), "accuracy": accuracy(gd["correct"]),
                        "weighted_accuracy": float(c["weighted_accuracy"].mean()),
                        "macro_f1": float(c["macro_f1"].mean()), "random_guess": float(c["random_guess"].mean())})
    t = pd.DataFrame(topic_rows)
    overall = {**base, "topic": "all", "dataset": "all", "n": int(len(g)),
               **{m: float(t[m].mean()) for m in ("accuracy", "weighted_accuracy", "macro_f1", "random_guess")}}
    return [overall, *topic_rows, *ds_rows, *cell_rows]
