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
