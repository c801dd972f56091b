"""Open-ended MammoVQA in the pipeline (issue 17, "Run it"): the two open stages on a real phantom smoke build in a
scratch root, then the scoring, intervals, variables and figure the notebook calls.

Kept small on purpose (a tiny budget in the scratch root's own ``configs/profiles.yaml`` and a smaller tiny VLM):
the stages run exactly as ``make`` calls them (``mammovqa stage open-zero-shot|open-finetune``), with real models,
so the wiring, the separation from the closed outputs and the scoring rules are all exercised.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mammovqa import pipeline as pl
from mammovqa.errors import ConfigError
from mammovqa.paths import CONFIG_DIR, MANIFEST_DIR, RunPaths
from mammovqa.qa.items import read_items

RUN = "phantom-smoke"
SRC = Path(__file__).resolve().parents[1] / "src"
BUDGET = """schema: 1
open_ended:
  smoke: {train_max_items: 32, epochs: 1, max_eval_items: 4, max_new_tokens: 8, batch_size: 8}
"""
SYSTEMS = ["tiny-vlm-mammo-open", "tiny-vlm", "baseline/open-majority", "baseline/open-random"]


def _cli(root: Path, *args: str) -> None:
    env = dict(os.environ, MAMMOVQA_ROOT=str(root), PYTHONPATH=str(SRC))
    proc = subprocess.run([sys.executable, "-m", "mammovqa.cli", *args], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _tree_sha(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """Scratch root: manifests and train recipes linked, a tiny budget, a small tiny VLM, a smoke benchmark, then
    the open items and both open stages."""
    from mammovqa.models.tiny import build_tiny_vlm

    root = tmp_path_factory.mktemp("open_pipeline")
    (root / "data_manifest").mkdir()
    for entry in MANIFEST_DIR.iterdir():
        if entry.name != "local.yaml":
            (root / "data_manifest" / entry.name).symlink_to(entry)
    (root / "configs").mkdir()
    (root / "configs" / "train").symlink_to(CONFIG_DIR / "train")
    (root / "configs" / "profiles.yaml").write_text(BUDGET, encoding="utf-8")
    build_tiny_vlm(root / "models_local" / "tiny-vlm", seed=0, image_size=32, text_hidden=64, vision_hidden=32)
    _cli(root, "data", "build", "--source", "phantom", "--profile", "smoke", "--workers", "1")
    _cli(root, "open", "build", "--source", "phantom", "--profile", "smoke")
    closed = _tree_sha(root / "data" / RUN)
    _cli(root, "stage", "open-zero-shot", "--source", "phantom", "--profile", "smoke")
    _cli(root, "stage", "open-finetune", "--source", "phantom", "--profile", "smoke")
    assert _tree_sha(root / "data" / RUN) == closed, "an open stage changed the benchmark files"
    return root


@pytest.fixture(scope="module")
def run(root) -> RunPaths:
    return RunPaths("phantom", "smoke", 0, root=root)


@pytest.fixture(scope="module")
def scores(run) -> pd.DataFrame:
    return pl.open_scores(run)


def _open(root: Path) -> Path:
    return root / "results" / RUN / "open"


def test_stages_write_only_open_outputs(root):
    results = root / "results" / RUN
    assert {p.name for p in results.iterdir()} <= {"open", "locks"}, "an open stage wrote a closed output"
    manifest = json.loads((_open(root) / "zero_shot_manifest.json").read_text())
    assert set(manifest["eval_ids"]) == {"test", "external"}
    assert all(0 < len(ids) <= 4 for ids in manifest["eval_ids"].values())
    for system in SYSTEMS:
        for split, ids in manifest["eval_ids"].items():
            path = _open(root) / "predictions" / system.replace("/", "__") / f"{split}.jsonl"
            rows = [json.loads(line) for line in path.read_text().splitlines()[1:]]
            assert sorted(r["id"] for r in rows) == ids, (system, split)  # every system answers the same items
            assert all(r["options"] == [] and "### Options" not in r["prompt"] for r in rows)


def test_open_finetune_is_a_separate_model_trained_on_open_items(root):
    ft = _open(root) / "train" / "tiny-vlm-mammo-open"
    entry = json.loads((ft / "model.json").read_text())
    summary = json.loads((ft / "train_summary.json").read_text())
    assert entry["train_items"] == summary["train_items"] == 32 and entry["steps"] >= 1
    assert (ft / "final" / "config.json").exists()
    assert not (root / "results" / RUN / "train").exists()  # the closed fine-tuned model's folder is not touched
    assert set(json.loads((ft / "predict_summary.json").read_text())) == {"test", "external"}


def test_scores_cover_every_system_and_item(run, scores):
    ids = json.loads((_open(run.root) / "zero_shot_manifest.json").read_text())["eval_ids"]
    n = sum(len(v) for v in ids.values())
    assert scores.groupby("model").size().to_dict() == dict.fromkeys(SYSTEMS, n)
    assert (scores["patient_key"] == scores["patient_key"].str.split("::").str[0] + "::" + scores["patient_id"]).all()
    assert (scores.loc[~scores["answered"], "correct"] == 0).all()  # no answer is wrong
    maj = scores[scores["model"] == "baseline/open-majority"]
    assert maj["correct"].tolist() == maj["majority"].tolist()  # the baseline file scores as its reference


@pytest.mark.parametrize("by", pl.OPEN_GROUPS)
def test_accuracy_tables_agree_with_the_scores(scores, by):
    table = pl.open_accuracy_table(scores, by, n_boot=200, seed=0)
    assert set(table["model"]) == set(SYSTEMS) and set(table["split"]) == {"test", "external"}
    for (model, split), g in table.groupby(["model", "split"]):
        sub = scores[(scores["model"] == model) & (scores["split"] == split)]
        every = g[g[by] == "all"].iloc[0]
        assert every["n"] == g.loc[g[by] != "all", "n"].sum()
        if by != "fact":
            assert every["accuracy"] == pytest.approx(sub["correct"].mean())
    ok = table.dropna(subset=["ci_low"])
    assert ((ok["ci_low"] <= ok["accuracy"] + 1e-12) & (ok["accuracy"] <= ok["ci_high"] + 1e-12)).all()
    again = pl.open_accuracy_table(scores, by, n_boot=200, seed=0)
    pd.testing.assert_frame_equal(table, again)  # seeded: identical on re-run


def test_variables_come_from_the_tables(run, scores):
    facts = pl.open_accuracy_table(scores, "fact", n_boot=200)
    topics = pl.open_accuracy_table(scores, "topic", n_boot=200)
    v = pl.open_variables(run, facts, topics)
    row = facts[(facts["model"] == "baseline/open-majority") & (facts["split"] == "test") & (facts["fact"] == "all")]
    assert v["majority_all"] == f"{100 * row['accuracy'].iloc[0]:.1f}"
    assert v["train_items"] == "32" and v["max_new_tokens"] == "8"
    assert all(k.replace("_", "").isalnum() for k in v)
    wide = pl.open_wide_table(facts)
    assert wide["system"].tolist() == list(dict.fromkeys(facts["model"])) and "all" in wide.columns


def test_figure_has_every_system_no_overlap_and_fits(run, scores, tmp_path):
    from mammovqa.viz import save_figure
    from mammovqa.viz.open_ended import fact_accuracy_figure
    from mammovqa.viz.style import MAX_PX, saved_size_px, text_overlaps

    fig = fact_accuracy_figure(pl.open_accuracy_table(scores, "fact", n_boot=200), pl.OPEN_CATEGORIES,
                               pl.open_systems(run))
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert all(any(s in lab for lab in labels) for s in SYSTEMS)
    assert text_overlaps(fig) == []
    png, _ = save_figure(fig, tmp_path / "open_fact_accuracy", note="Synthetic phantom data, not real mammograms.")
    assert max(saved_size_px(png)) <= MAX_PX


def test_clustered_mean_by_hand():
    scores = pd.DataFrame({"model": "m", "split": "test", "topic": ["A", "A", "B", "B"], "dataset": "D",
                           "correct": [1.0, 1.0, 0.0, 1.0], "random": [0.5, 0.5, 0.25, 0.25],
                           "fact_x": [1.0, 1.0, np.nan, 0.0], "patient_key": ["p1", "p2", "p3", "p3"]})
    topic = pl.open_accuracy_table(scores, "topic", n_boot=500).set_index("topic")
    assert topic.loc["A", "accuracy"] == 1.0 and (topic.loc["A", ["ci_low", "ci_high"]] == 1.0).all()
    assert topic.loc["B", "n"] == 2 and np.isnan(topic.loc["B", "ci_low"])  # one patient: no interval
    assert topic.loc["all", "accuracy"] == 0.75 and topic.loc["all", "random_expected"] == 0.375
    fact = pl.open_accuracy_table(scores, "fact", n_boot=500).set_index("fact")
    assert fact.loc["x", "n"] == 3 and fact.loc["x", "accuracy"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        pl.open_accuracy_table(scores, "level")


def test_budget_file_is_validated(tmp_path):
    assert pl.open_budget("smoke").max_eval_items is not None  # the repository's own file
    bad = tmp_path / "profiles.yaml"
    bad.write_text("open_ended:\n  smoke: {max_eval_itmes: 3}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="max_eval_itmes"):
        pl.open_budget("smoke", bad)
    with pytest.raises(ConfigError, match="no budget for profile"):
        pl.open_budget("nonesuch")


def test_changed_training_starts_fresh_and_same_training_resumes(tmp_path):
    out = tmp_path / "train"
    pl._fresh_training_dir(out, {"train": ["a"]})
    (out / "checkpoint-1").mkdir()
    pl._fresh_training_dir(out, {"train": ["a"]})
    assert (out / "checkpoint-1").exists()  # same training: the checkpoint is kept for resuming
    pl._fresh_training_dir(out, {"train": ["a", "b"]})
    assert not (out / "checkpoint-1").exists()


def test_eval_ids_are_a_seeded_cap_per_split(run):
    items = read_items(run.qa_dir / "open_items.jsonl")
    ids = pl.open_eval_ids(items, pl.OpenBudget(max_eval_items=3), seed=0)
    assert set(ids) == {"test", "external"} and all(len(v) == 3 and v == sorted(v) for v in ids.values())
    assert pl.open_eval_ids(list(reversed(items)), pl.OpenBudget(max_eval_items=3), seed=0) == ids
    every = pl.open_eval_ids(items, pl.OpenBudget(), seed=0)
    assert len(every["test"]) == sum(it.split == "test" for it in items)


def test_open_predict_command_answers_with_the_open_prompt(root, tmp_path):
    out = tmp_path / "answers.jsonl"
    _cli(root, "open", "predict", "--profile", "smoke", "--model", "tiny-vlm", "--model-path",
         str(root / "models_local" / "tiny-vlm"), "--max-items", "2", "--max-new-tokens", "4", "--out", str(out))
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    prov = lines[0]["provenance"]
    assert prov["prompts_sha256"] and prov["form"] == "open" and len(lines) == 3
    assert all(r["prompt"].startswith("This is a mammography-related medical question. Answer in words")
               for r in lines[1:])
