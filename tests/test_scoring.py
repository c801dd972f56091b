"""Scoring: one row per item, missing counted wrong and reported, mismatched options rejected."""

from __future__ import annotations

import pandas as pd
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


# ----------------------------------------------------------------- fast path == straightforward path

def reference_score_items(items: list[QAItem], rows: dict, matcher: str, model: str | None) -> pd.DataFrame:
    """The straightforward scorer: one ``match`` call and one record dict per item (random fills = no answer)."""
    from mammovqa.eval.matching import match, random_chance
    from mammovqa.predictions import is_missing_output

    records = []
    for it in items:
        row = rows.get(it.id)
        bad = (row is None or row.get("error") is not None or is_missing_output(row.get("output"))
               or bool(row.get("harness_random_fill")))
        ch = match(None if bad else str(row["output"]), it.options, it.kind, matcher)
        gold = sorted(it.answer)
        records.append({
            "id": it.id, "model": model, "matcher": matcher, "split": it.split, "level": it.level,
            "topic": it.topic_label, "topic_key": it.topic, "kind": it.kind, "dataset": it.dataset, "part": it.part,
            "role": it.role, "record_id": it.record_id, "patient_id": it.patient_id, "exam_id": it.exam_id,
            "n_options": len(it.options), "gold": "|".join(gold), "pred": "|".join(sorted(ch)),
            "correct": int(bool(ch) and sorted(ch) == gold), "missing": bad,
            "random_p": random_chance(len(it.options), it.kind)})
    df = pd.DataFrame(records, columns=list(SCORE_COLUMNS))
    return df.astype({"correct": int, "missing": bool, "n_options": int})


ODD = ("{l}", "{t}", "({l})", "{l}.", "{lower}", "The answer is {l}: {t}", "Answer: {t}", "I think it is {t}.",
       "a", "I cannot determine", "{l}, {m}", "{t} or {u}", "{l}: {u}", "  ", "", "null", "None", "NULL",
       "ÀÉÎ {t} ü", "The correct answers are {l} and {m}", "{t}\n{u}", "{t} " * 60, "Level", "A" * 250,
       "Option {m}", "{u}; {t}", "Z", "Bi-Rads", "right-left", "😀 {l}")


def realistic_set(n: int, seed: int = 7) -> tuple[list[QAItem], dict]:
    """A few thousand items of every topic (shuffled options, multi-answer Abnormality, exam items with exam
    ids) and rows answering them in odd ways: errors, empty, "null", random fills, missing and unknown rows."""
    import random

    from mammovqa.qa.items import LETTERS
    from test_matching import TOPIC_OPTIONS

    rng = random.Random(seed)
    items, rows = [], {}
    for i in range(n):
        topic = rng.choice(list(TOPIC_OPTIONS))
        opts = TOPIC_OPTIONS[topic][:]
        rng.shuffle(opts)
        kind = "multiple" if topic == "Abnormality" else "single"
        answer = rng.sample(opts, rng.choice([1, 1, 2])) if kind == "multiple" else [rng.choice(opts)]
        part = rng.choice(["breast", "finding"]) if topic in ("Pathology", "Abnormality") else "breast"
        it = make_item(i, topic=topic, options=opts, answer=answer, kind=kind, part=part,
                       dataset=rng.choice(["D1-breast", "D2-finding", "D3-exam"]))
        if rng.random() < 0.2:
            it.exam_id, it.level = f"e{i // 3}", "exam"
        items.append(it)
        k, m, u = (rng.randrange(len(opts)) for _ in range(3))
        style = rng.choice(ODD)
        out = style.format(l=LETTERS[k], t=opts[k], m=LETTERS[m], u=opts[u], lower=LETTERS[k].lower())
        r = rng.random()
        if r < 0.03:
            continue  # no row: missing
        if r < 0.05:
            rows[it.id] = row(it, None, error="timeout")
        elif r < 0.08:
            rows[it.id] = row(it, out, harness_random_fill=True)
        elif r < 0.09:
            rows[it.id] = row(it, out, harness_random_fill=False)
        else:
            rows[it.id] = row(it, out)
    rows["ghost#ACR"] = {"id": "ghost#ACR", "model": "m/x", "output": "A"}
    return items, rows


@pytest.mark.parametrize("matcher", ["strict", "official"])
def test_fast_scoring_equals_the_straightforward_path(matcher: str) -> None:
    items, rows = realistic_set(3000)
    fast = score_items(items, rows, matcher, warn=False)
    ref = reference_score_items(items, rows, matcher, "m/x")
    pd.testing.assert_frame_equal(fast, ref, check_exact=True)
    assert list(fast.dtypes) == list(ref.dtypes)
    rep = fast.attrs["report"]
    assert rep["missing_ids"] == list(ref.loc[ref.missing, "id"]) and rep["unknown_ids"] == ["ghost#ACR"]
    n_fill = sum(1 for r in rows.values() if r.get("harness_random_fill") and r.get("output", "").strip()
                 and r["output"].strip().lower() not in ("null", "none"))
    assert rep["n_random_fill"] == n_fill > 50
    assert rep["n_missing"] == rep["n_errors"] + rep["n_empty"] + rep["n_random_fill"] + (len(items) + 1 - len(rows))
    assert ref.correct.sum() > 100 and (ref.pred == "").sum() > 100  # both outcomes well represented


def test_random_fill_is_no_answer_under_both_matchers() -> None:
    it = make_item(1)
    for matcher in ("strict", "official"):
        with pytest.warns(UserWarning, match="1 filled in at random by the harness"):
            df = score_items([it], {it.id: row(it, "Left", harness_random_fill=True)}, matcher)
        assert df.correct.iloc[0] == 0 and df.pred.iloc[0] == "" and bool(df.missing.iloc[0])
        rep = df.attrs["report"]
        assert rep["n_missing"] == 1 and rep["n_random_fill"] == 1 and rep["n_empty"] == 0
        same = score_items([it], {it.id: row(it, "Left")}, matcher, warn=False)
        assert same.correct.iloc[0] == 1 and same.attrs["report"]["n_random_fill"] == 0


def test_empty_item_list_keeps_the_columns() -> None:
    df = score_items([], {}, "strict", model="m", warn=False)
    assert tuple(df.columns) == SCORE_COLUMNS and len(df) == 0
    pd.testing.assert_frame_equal(df, reference_score_items([], {}, "strict", "m"))
