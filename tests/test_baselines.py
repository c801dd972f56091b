"""Weight-free baselines: deterministic, order-independent, written in the prediction format."""

from __future__ import annotations

from mammovqa.eval.baselines import format_answer, run_baseline, train_priors
from mammovqa.eval.scoring import score_items
from mammovqa.predictions import read_predictions
from mammovqa.qa.items import QAItem, item_prompt

ABN = ["Normal", "Calcification", "Mass", "Architectural distortion"]


def make_item(i: int, split="test", answer=None, multiple=False) -> QAItem:
    opts = (ABN if multiple else ["Right", "Left"])[:]
    if i % 2:
        opts.reverse()
    return QAItem(id=f"{split}{i}", topic="Abnormality" if multiple else "Laterality",
                  kind="multiple" if multiple else "single", level="image", dataset="D-breast", part="breast",
                  role="internal", split=split, record_id=f"r{i}", patient_id=f"p{i}", images=["x.png"],
                  question="q?", options=opts, answer=sorted(answer or (["Mass"] if multiple else ["Left"])), seed=i)


def items() -> list[QAItem]:
    return [make_item(i) for i in range(30)] + [make_item(i + 100, multiple=True) for i in range(30)]


def test_random_is_deterministic_and_order_independent(tmp_path):
    its = items()
    a = run_baseline("random", its, tmp_path / "a.jsonl", seed=3)
    b = run_baseline("random", list(reversed(its)), tmp_path / "b.jsonl", seed=3)
    c = run_baseline("random", its, tmp_path / "c.jsonl", seed=4)
    ra, rb, rc = (read_predictions(p) for p in (a, b, c))
    assert {k: v["output"] for k, v in ra.rows.items()} == {k: v["output"] for k, v in rb.rows.items()}
    assert {k: v["output"] for k, v in ra.rows.items()} != {k: v["output"] for k, v in rc.rows.items()}
    assert ra.provenance["model_id"] == "baseline/random" and ra.provenance["seed"] == 3
    row = ra.rows["test0"]
    assert row["prompt"] == item_prompt(its[0]) and row["options"] == its[0].options
    again = run_baseline("random", its, tmp_path / "again" / "a.jsonl", seed=3)
    # byte-identical rows on a re-run (the provenance line carries the git state, which others may change)
    assert again.read_text().splitlines()[1:] == a.read_text().splitlines()[1:]
    singles = {ra.rows[it.id]["output"] for it in its if it.kind == "single"}
    assert singles <= {"A: Right", "B: Left", "A: Left", "B: Right"} and len(singles) > 1


def test_baselines_score_as_expected(tmp_path):
    its = items()
    first = score_items(its, read_predictions(run_baseline("first-option", its, tmp_path / "f.jsonl")), "official")
    # Laterality: option A is Left on even ids (answer Left) -> right half the time
    assert first[first.kind == "single"].correct.mean() == 0.5
    train = [make_item(i, split="train", answer=["Right"]) for i in range(5)] + [make_item(9, split="train")]
    train += [make_item(i, split="train", multiple=True, answer=["Mass", "Normal"]) for i in range(3)]
    assert train_priors(train)[("image", "Laterality")] == ("Right",)
    prior = score_items(its, read_predictions(run_baseline("prior", its, tmp_path / "p.jsonl", train_items=train)),
                        "strict")
    assert prior.correct.sum() == 0 and set(prior.pred) == {"Right", "Mass|Normal"}


def test_resume_skips_done_ids(tmp_path):
    its = items()
    out = tmp_path / "r.jsonl"
    run_baseline("random", its[:10], out, seed=1)
    run_baseline("random", its, out, seed=1)
    ps = read_predictions(out)
    assert len(ps.rows) == len(its) and not ps.duplicates


def test_format_answer():
    it = make_item(0, multiple=True)
    assert format_answer(it, ["Mass", "Normal"]) == "Normal, Mass"
    assert format_answer(make_item(1), ["Left"]) == "A: Left"


def test_cli_baselines_then_score(tmp_path, capsys):
    import argparse

    from mammovqa.eval import cli
    from mammovqa.qa.items import write_items

    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    its = items() + [make_item(i, split="train") for i in range(4)]
    write_items(tmp_path / "items.jsonl", its)
    args = parser.parse_args(["baselines", "--items", str(tmp_path / "items.jsonl"), "--out-dir", str(tmp_path / "p"),
                              "--baseline", "first-option"])
    assert args.func(args) == 0
    pred = tmp_path / "p" / "baseline__first-option" / "test_image.jsonl"
    args = parser.parse_args(["score", str(pred), "--items", str(tmp_path / "items.jsonl"), "--matcher", "official",
                              "--out", str(tmp_path / "m.csv"), "--scores-out", str(tmp_path / "s.csv")])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "Laterality" in out and "split=test level=image" in out and "n_missing: 0" in out
    assert (tmp_path / "m.csv").read_text().startswith("model,matcher,split,level,topic,dataset,n,accuracy")
    assert len((tmp_path / "s.csv").read_text().splitlines()) == 61


def test_a_file_written_for_other_data_is_started_over_not_resumed(tmp_path):
    """Measured on the default run: the baseline files had been resumed across data rebuilds (phantom v2 -> v3)
    and a change of the random stream, so 1,581 of 2,592 external random-baseline answers (and 30 prior answers)
    were the previous code's on the previous data, next to 2,036 rows of ids the new build no longer has."""
    out = tmp_path / "prior.jsonl"
    old_train = [make_item(i, split="train", answer=["Right"]) for i in range(5)]
    new_train = [make_item(i, split="train", answer=["Left"]) for i in range(5)]
    old_items = [make_item(i) for i in range(40)]
    run_baseline("prior", old_items, out, train_items=old_train)
    assert {r["output"] for r in read_predictions(out).rows.values()} == {"A: Right", "B: Right"}
    new_items = old_items[:30]  # a rebuild: fewer items, and train answers that moved
    run_baseline("prior", new_items, out, train_items=new_train)
    new = read_predictions(out)
    assert set(new.rows) == {it.id for it in new_items}  # no rows of ids the new build lacks
    assert {r["output"] for r in new.rows.values()} == {"A: Left", "B: Left"}  # answers from the new priors
    assert new.provenance["generator"] == 2 and new.provenance["train_sha256"]


def test_same_items_and_seed_resume_without_rewriting(tmp_path):
    out = tmp_path / "random.jsonl"
    its = items()
    run_baseline("random", its[:20], out, seed=1)
    first = out.read_bytes()
    run_baseline("random", its[:20], out, seed=1)
    assert out.read_bytes() == first  # nothing appended, nothing restarted
    run_baseline("random", its[:20], out, seed=2)  # another seed draws other answers: the file starts over
    assert len(read_predictions(out).rows) == 20 and read_predictions(out).provenance["seed"] == 2


def test_a_file_from_before_the_generator_was_recorded_is_started_over(tmp_path):
    import json

    out = tmp_path / "first.jsonl"
    its = items()[:3]
    run_baseline("first-option", its, out)
    lines = out.read_text().splitlines()
    head = json.loads(lines[0])
    del head["provenance"]["generator"]  # as every file written before this check
    stale = {"error": None, "id": "gone#Laterality", "latency_s": 0.0, "model": "baseline/first-option",
             "options": ["Left", "Right"], "output": "A: Left", "prompt": "q"}
    out.write_text("\n".join([json.dumps(head), *lines[1:], json.dumps(stale)]) + "\n")
    run_baseline("first-option", its, out)
    assert set(read_predictions(out).rows) == {it.id for it in its}
