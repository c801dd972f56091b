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


def class_weights(gold: Sequence[str] | np.ndarray) -> np.ndarray:
    """1/|C_i| for each item, |C_i| the count of items sharing its gold class."""
    g = pd.Series(np.asarray(gold, dtype=object))
    return 1.0 / g.map(g.value_counts()).to_numpy(dtype=float)


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
        rows += [overall, *topic_rows, *ds_rows, *cell_rows]
    out = pd.DataFrame(rows, columns=list(METRIC_COLUMNS))
    return out.astype({"n": int})
