"""Scoring: one row per item, missing counted wrong and reported, mismatched options rejected."""

from __future__ import annotations

import pytest

from mammovqa.errors import DataError
from mammovqa.eval.scoring import SCORE_COLUMNS, disagreement_table, score_items
from mammovqa.qa.items import QAItem, item_prompt


def make_item(i: int, topic: str = "Laterality", options=("Right", "Left"), answer=("Left",), kind="single",
              part="breast", dataset="D1-breast", split="test") -> QAItem:
    return QAItem(id=f"it{i}", topic=topic, kind=kind, level="image", dataset=dataset, part=part, role="internal",
                  split=split, record_id=f"r{i}", patient_id=f"p{i // 2}", images=[f"img{i}.png"],
                  question="Which breast is shown?", options=list(options), answer=sorted(answer), seed=i)


def row(item: QAItem, output, error=None, **kw):
    return {"id": item.id, "model": "m/x", "prompt": item_prompt(item), "options": item.options, "output": output,
            "latency_s": 0.1, "error": error, **kw}


def test_one_row_per_item_missing_is_wrong_and_reported():
    items = [make_item(i) for i in range(4)]
    preds = {items[0].id: row(items[0], "B: Left"), items[1].id: row(items[1], "A"),
             items[2].id: row(items[2], None, error="timeout"), "ghost": {"id": "ghost", "output": "A"}}
    with pytest.warns(UserWarning) as rec:
        df = score_items(items, preds, "strict")
    msgs = " ".join(str(w.message) for w in rec)
    assert "2 of 4 items have no usable prediction" in msgs and "ghost" in msgs
    assert tuple(df.columns) == SCORE_COLUMNS
    assert list(df.id) == [it.id for it in items]
    assert list(df.correct) == [1, 0, 0, 0]
    assert list(df.missing) == [False, False, True, True]
    assert list(df.pred) == ["Left", "Right", "", ""]
    rep = df.attrs["report"]
    assert rep["n_missing"] == 2 and rep["n_errors"] == 1
    assert rep["missing_ids"] == ["it2", "it3"] and rep["unknown_ids"] == ["ghost"]
    assert df.model.iloc[0] == "m/x" and (df.random_p == 0.5).all() and df.patient_id.iloc[3] == "p1"


def test_mismatched_stored_options_name_the_item():
    it = make_item(5)
    bad = row(it, "A", options=["Left", "Right"])
    with pytest.raises(DataError, match="it5"):
        score_items([it], {it.id: bad}, "official")
    other = make_item(5, options=("Left", "Right"))
    bad_prompt = row(it, "A", prompt=item_prompt(other))
    bad_prompt.pop("options")
    with pytest.raises(DataError, match="it5.*prompt"):
        score_items([it], {it.id: bad_prompt}, "official")


def test_multiple_choice_exact_set_and_topic_label():
    opts = ("Normal", "Mass", "Calcification")
    it = make_item(1, topic="Abnormality", options=opts, answer=("Mass", "Calcification"), kind="multiple",
                   part="finding")
    ok = score_items([it], {it.id: row(it, "Mass, Calcification")}, "strict", warn=False)
    assert ok.correct.iloc[0] == 1 and ok.gold.iloc[0] == "Calcification|Mass"
    assert ok.topic.iloc[0] == "Abnormality (finding)" and ok.topic_key.iloc[0] == "Abnormality"
    assert ok.random_p.iloc[0] == pytest.approx(1 / 7)
    # official: the article "a" adds option A (Normal) -> wrong
    off = score_items([it], {it.id: row(it, "a mass and a calcification")}, "official", warn=False)
    assert off.correct.iloc[0] == 0 and off.pred.iloc[0] == "Calcification|Mass|Normal"


def test_disagreement_table():
    items = [make_item(i) for i in range(3)]
    preds = {items[0].id: row(items[0], "I cannot determine"), items[1].id: row(items[1], "Left"),
             items[2].id: row(items[2], "a mammogram")}
    t = disagreement_table(items, preds)
    last = t.iloc[-1]
    assert last.topic == "all" and last.n == 3 and last.n_differ == 2
    assert last.no_choice_strict == pytest.approx(2 / 3) and last.no_choice_official == 0


def test_degenerate_sentence_only_for_flagged_models() -> None:
    from mammovqa.analysis import degenerate_sentence

    flag = {"n": 92, "n_empty": 92, "degenerate_share": 1.0, "message": "m"}
    text = degenerate_sentence({"test_image": {"degenerate": flag}}, "tiny-vlm-mammo")
    assert "92 of 92 empty" in text and "tiny-vlm-mammo" in text and "not a reading of the images" in text
    assert degenerate_sentence({"test_image": {"degenerate": None}}, "m") == ""
    assert degenerate_sentence({}, "m") == ""
