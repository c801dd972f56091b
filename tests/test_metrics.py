"""Metrics on hand-computed tiny examples."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mammovqa.eval.metrics import (
    METRIC_COLUMNS,
    accuracy,
    class_weighted_mean,
    macro_f1,
    metrics_table,
    weighted_accuracy,
)


def test_weighted_accuracy_is_balanced_accuracy():
    # class L: 3 items, 2 right; class R: 1 item, 0 right -> balanced (2/3 + 0) / 2 = 1/3; plain 2/4
    gold = ["L", "L", "L", "R"]
    correct = [1, 1, 0, 0]
    assert accuracy(correct) == 0.5
    assert weighted_accuracy(correct, gold) == pytest.approx(1 / 3)
    per_class = np.mean([np.mean([c for c, g in zip(correct, gold) if g == k]) for k in set(gold)])
    assert weighted_accuracy(correct, gold) == pytest.approx(per_class)


def test_abnormality_classes_are_gold_sets():
    # "Mass|Normal" and "Mass" are different classes even though they share "Mass"
    gold = ["Mass", "Mass", "Calcification|Mass", "Normal"]
    correct = [1, 0, 1, 0]
    assert weighted_accuracy(correct, gold) == pytest.approx((0.5 + 1 + 0) / 3)


def test_macro_f1_with_no_choice_class():
    gold = ["A", "A", "B", "B"]
    pred = ["A", "", "B", "A"]
    # A: tp1 fp1 fn1 -> 0.5 ; B: tp1 fp0 fn1 -> 2/3 ; <no choice>: tp0 -> 0
    assert macro_f1(gold, pred) == pytest.approx((0.5 + 2 / 3 + 0) / 3)
    assert macro_f1(["A", "B"], ["A", "B"]) == 1.0
    assert math.isnan(macro_f1([], []))


def test_random_guess_uses_same_weights():
    # two classes, one with K=2 items x3 and one with K=4 item x1: weighted = (0.5 + 0.25) / 2
    assert class_weighted_mean([0.5, 0.5, 0.5, 0.25], ["a", "a", "a", "b"]) == pytest.approx(0.375)


def _scores() -> pd.DataFrame:
    rows = []
    spec = [  # topic, dataset, gold, pred, correct, random_p
        ("Laterality", "D1", "Left", "Left", 1, 0.5), ("Laterality", "D1", "Left", "Right", 0, 0.5),
        ("Laterality", "D1", "Right", "Right", 1, 0.5), ("Laterality", "D2", "Left", "Left", 1, 0.5),
        ("View", "D1", "CC", "", 0, 0.5), ("View", "D2", "MLO", "MLO", 1, 0.5),
        ("Abnormality (finding)", "D2", "Mass", "Mass", 1, 1 / 7), ("Abnormality (finding)", "D2", "Mass|Normal",
                                                                    "Mass", 0, 1 / 7),
    ]
    for i, (t, d, g, p, c, r) in enumerate(spec):
        rows.append({"id": str(i), "model": "m", "matcher": "strict", "split": "test", "level": "image", "topic": t,
                     "dataset": d, "gold": g, "pred": p, "correct": c, "random_p": r})
    return pd.DataFrame(rows)


def test_metrics_table_rows_and_columns():
    t = metrics_table(_scores())
    assert tuple(t.columns) == METRIC_COLUMNS
    lat = t[(t.topic == "Laterality") & (t.dataset == "all")].iloc[0]
    assert lat.n == 4 and lat.accuracy == 0.75
    assert lat.weighted_accuracy == pytest.approx((2 / 3 + 1) / 2)
    cell = t[(t.topic == "Laterality") & (t.dataset == "D1")].iloc[0]
    assert cell.n == 3 and cell.weighted_accuracy == pytest.approx((0.5 + 1) / 2)
    d2 = t[(t.topic == "all") & (t.dataset == "D2")].iloc[0]
    assert d2.n == 4 and d2.accuracy == 0.75  # plain mean over the dataset's items
    # mean of D2's topic cells: Laterality 1.0, View 1.0, Abnormality (1 + 0)/2
    assert d2.weighted_accuracy == pytest.approx((1 + 1 + 0.5) / 3)
    overall = t[(t.topic == "all") & (t.dataset == "all")].iloc[0]
    topic_rows = t[(t.topic != "all") & (t.dataset == "all")]
    assert overall.n == 8
    assert overall.weighted_accuracy == pytest.approx(topic_rows.weighted_accuracy.mean())
    assert overall.random_guess == pytest.approx((0.5 + 0.5 + 1 / 7) / 3)
    assert list(topic_rows.topic) == ["Laterality", "View", "Abnormality (finding)"]
    assert ((t[["accuracy", "weighted_accuracy", "macro_f1", "random_guess"]] <= 1).all().all())


def test_metrics_table_names_missing_columns():
    with pytest.raises(ValueError, match="random_p"):
        metrics_table(_scores().drop(columns=["random_p"]))



# ----------------------------------------------------------------- fast path == straightforward path

def _ref_class_weighted_mean(values: object, gold: object) -> float:
    v = np.asarray(values, dtype=float)
    if not v.size:
        return float("nan")
    g = pd.Series(np.asarray(gold, dtype=object))
    w = 1.0 / g.map(g.value_counts()).to_numpy(dtype=float)
    return float(np.sum(w * v) / np.sum(w))


def _ref_macro_f1(gold: object, pred: object) -> float:
    g = np.asarray(gold, dtype=object)
    p = np.asarray([x if x else "<no choice>" for x in pred], dtype=object)
    f1s = []
    for c in sorted(set(g) | set(p)):
        tp = int(np.sum((g == c) & (p == c)))
        fp = int(np.sum((g != c) & (p == c)))
        fn = int(np.sum((g == c) & (p != c)))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(f1s))


def _ref_group(df: pd.DataFrame) -> dict:
    return {"n": int(len(df)), "accuracy": float(np.asarray(df["correct"], dtype=float).mean()),
            "weighted_accuracy": _ref_class_weighted_mean(df["correct"], df["gold"]),
            "macro_f1": _ref_macro_f1(df["gold"], df["pred"]),
            "random_guess": _ref_class_weighted_mean(df["random_p"], df["gold"])}


def reference_metrics_table(scores: pd.DataFrame) -> pd.DataFrame:
    """metrics_table the straightforward way: frame filters per topic, cell and dataset, per-class loops."""
    from mammovqa.eval.metrics import TOPIC_ORDER

    def rank(t: str) -> int:
        return TOPIC_ORDER.index(t) if t in TOPIC_ORDER else len(TOPIC_ORDER)

    group = ["model", "matcher", "split", "level"]
    rows: list[dict] = []
    df = scores.assign(model=scores["model"].fillna("unknown"))
    for key, g in df.groupby(group, sort=True, dropna=False):
        base = dict(zip(group, key, strict=True))
        topics = sorted(g["topic"].unique(), key=lambda t: (rank(t), t))
        topic_rows = [{**base, "topic": t, "dataset": "all", **_ref_group(g[g["topic"] == t])} for t in topics]
        cell_rows = [{**base, "topic": t, "dataset": d, **_ref_group(gd)}
                     for t in topics for d, gd in g[g["topic"] == t].groupby("dataset", sort=True)]
        cells = pd.DataFrame(cell_rows)
        ds_rows = []
        for d, gd in g.groupby("dataset", sort=True):
            c = cells[cells["dataset"] == d]
            ds_rows.append({**base, "topic": "all", "dataset": d, "n": int(len(gd)),
                            "accuracy": float(np.asarray(gd["correct"], dtype=float).mean()),
                            **{m: float(c[m].mean()) for m in ("weighted_accuracy", "macro_f1", "random_guess")}})
        t = pd.DataFrame(topic_rows)
        rows += [{**base, "topic": "all", "dataset": "all", "n": int(len(g)),
                  **{m: float(t[m].mean()) for m in ("accuracy", "weighted_accuracy", "macro_f1", "random_guess")}},
                 *topic_rows, *ds_rows, *cell_rows]
    return pd.DataFrame(rows, columns=list(METRIC_COLUMNS)).astype({"n": int})


def _realistic_scores() -> pd.DataFrame:
    from mammovqa.eval.scoring import score_items
    from test_scoring import realistic_set

    items, rows = realistic_set(4000, seed=11)
    for n, it in enumerate(items):
        it.split = "external" if n % 5 == 0 else "test"
    frames = [score_items(items, rows, m, model=model, warn=False)
              for m in ("strict", "official") for model in ("m/a", None)]
    return pd.concat(frames, ignore_index=True)


def test_fast_metrics_equal_the_straightforward_path() -> None:
    scores = _realistic_scores()
    fast = metrics_table(scores)
    ref = reference_metrics_table(scores)
    pd.testing.assert_frame_equal(fast, ref, check_exact=True)
    assert len(fast) > 100 and fast["macro_f1"].between(0, 1).all()
    for col in ("correct", "gold", "pred"):  # each metric is checked on a column that varies
        assert scores[col].nunique() > 1


def test_non_string_datasets_take_the_frame_path_with_equal_numbers() -> None:
    """A dataset column of numbers (a table read back from CSV with numeric dataset codes) is not a plain
    string column: the straightforward frame path runs, with the same numbers as the reference."""
    scores = _realistic_scores()
    scores["dataset"] = scores["dataset"].map({"D1-breast": 1, "D2-finding": 2, "D3-exam": 3})
    pd.testing.assert_frame_equal(metrics_table(scores), reference_metrics_table(scores), check_exact=True)
