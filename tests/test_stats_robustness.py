"""CircularEval rotations, consistency summary and letter position bias."""

import numpy as np
import pandas as pd
import pytest

from mammovqa.errors import DataError
from mammovqa.qa.items import QAItem
from mammovqa.stats.robustness import circular_summary, position_bias, rotate_items


def _item(i: int, options: list[str], answer: list[str], kind: str = "single") -> QAItem:
    return QAItem(id=f"q{i}", topic="Pathology", kind=kind, level="image", dataset="D-breast", part="breast",
                  role="internal", split="test", record_id=f"r{i}", patient_id=f"p{i}", images=["x.png"],
                  question="What?", options=options, answer=answer, seed=i, extra={"note": [1]})


def _items(n: int = 30) -> list[QAItem]:
    rng = np.random.default_rng(0)
    base = ["Normal", "Benign", "Malignant"]
    return [_item(i, list(rng.permutation(base)), [base[i % 3]]) for i in range(n)]


def test_rotate_items_makes_every_cyclic_rotation():
    items = _items(4)
    rot = rotate_items(items)
    assert len(rot) == 12
    assert [r.id for r in rot[:3]] == ["q0@rot0", "q0@rot1", "q0@rot2"]
    assert rot[0].options == items[0].options  # rotation 0 is the original
    assert rot[1].options == items[0].options[1:] + items[0].options[:1]
    assert all(r.extra["base_id"] == "q0" and r.extra["note"] == [1] for r in rot[:3])
    assert [r.extra["rotation"] for r in rot[:3]] == [0, 1, 2]
    assert items[0].extra == {"note": [1]}  # originals untouched
    assert {tuple(sorted(r.options)) for r in rot} == {("Benign", "Malignant", "Normal")}


def _scored(rot: list[QAItem], choose) -> pd.DataFrame:
    rows = []
    for it in rot:
        pred = choose(it)
        rows.append({"id": it.id, "model": "m", "topic": "Pathology (breast)", "gold": "|".join(it.answer),
                     "pred": pred, "correct": int(pred == "|".join(it.answer)), "n_options": len(it.options),
                     "options": "|".join(it.options)})
    return pd.DataFrame(rows)


def test_circular_summary_separates_knowledge_from_position_preference():
    rot = rotate_items(_items(30))
    oracle = circular_summary(_scored(rot, lambda it: it.answer[0])).iloc[0]
    assert oracle["consistency"] == 1 and oracle["circular_accuracy"] == 1 and oracle["standard_accuracy"] == 1
    always_a = _scored(rot, lambda it: it.options[0])
    s = circular_summary(always_a).iloc[0]
    assert s["consistency"] == 0 and s["circular_accuracy"] == 0
    assert s["mean_accuracy"] == pytest.approx(1 / 3)
    rot0 = always_a[always_a["id"].str.endswith("@rot0")]
    assert s["standard_accuracy"] == pytest.approx(rot0["correct"].mean())
    # an incomplete item (one rotation missing) is counted apart, not guessed
    s2 = circular_summary(always_a.iloc[1:]).iloc[0]
    assert s2["n_items"] == 29 and s2["n_incomplete"] == 1
    with pytest.raises(DataError, match="rotation suffix"):
        circular_summary(always_a.assign(id="plain"))


def test_position_bias_normalised_per_option_count():
    rot = rotate_items(_items(30))
    bias = position_bias(_scored(rot, lambda it: it.options[0])).set_index("letter")
    assert bias.loc["A", "share"] == 1 and bias.loc["A", "normalised"] == 3 and bias.loc["B", "share"] == 0
    assert bias["gold_share"].to_numpy() == pytest.approx([1 / 3] * 3)  # rotations balance the gold letters
    fair = position_bias(_scored(rot, lambda it: it.answer[0]))
    assert fair["normalised"].to_numpy() == pytest.approx([1, 1, 1])
    # options may come from the items instead of a column; multiple choice counts every chosen letter
    multi = [_item(0, ["Mass", "Calcification", "Normal", "Asymmetry"], ["Calcification", "Mass"], "multiple")]
    df = pd.DataFrame([{"id": "q0", "model": "m", "pred": "Mass|Normal", "gold": "Calcification|Mass"}])
    out = position_bias(df, items=multi).set_index("letter")
    assert list(out["n_chosen"]) == [1, 0, 1, 0] and (out["kind"] == "multiple").all()
    assert out.loc["A", "normalised"] == pytest.approx(1 / (8 / 15))  # chance share of a letter: 2^3 / (2^4 - 1)
    with pytest.raises(DataError, match="no item"):
        position_bias(df.assign(id="zz"), items=multi)


def test_a_uniform_subset_guesser_is_at_chance_on_multiple_choice():
    """Measured: the figure drew a uniform random guesser on ten-option Abnormality items at about 5x chance
    (share x K with a share near one half). Normalised by the guesser's own chance share it sits at 1."""
    rng = np.random.default_rng(1)
    opts = [f"o{i}" for i in range(10)]
    items = [_item(i, opts, ["o0"], "multiple") for i in range(3000)]
    subsets = []
    for _ in items:  # uniform over the 2^10 - 1 non-empty subsets
        mask = 0
        while mask == 0:
            mask = int(rng.integers(1, 2**10))
        subsets.append("|".join(o for j, o in enumerate(opts) if mask >> j & 1))
    df = pd.DataFrame({"id": [it.id for it in items], "model": "uniform", "pred": subsets, "gold": "o0"})
    out = position_bias(df, items=items)
    assert out["normalised"].to_numpy() == pytest.approx(np.ones(10), abs=0.06)
    assert out["chance_share"].iloc[0] == pytest.approx(512 / 1023)
