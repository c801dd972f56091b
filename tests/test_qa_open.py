"""Open-ended MammoVQA (issue 17 part 3) on a real phantom smoke build in a scratch root.

The build, the open items, the baselines and the scores go through the ``mammovqa`` command, as a user runs
them; the closed items must come out byte-identical (the open path is additive).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from mammovqa.eval.open_scoring import (
    answer_text,
    majority_facts,
    open_summary,
    random_facts,
    score_open,
    train_open_priors,
)
from mammovqa.paths import MANIFEST_DIR
from mammovqa.predictions import read_predictions
from mammovqa.qa.items import LETTERS, read_items
from mammovqa.qa.open import DESCRIPTION, OPEN_KIND, OPEN_TOPICS, OPEN_WORDINGS, build_open_items, item_gold

RUN = "phantom-smoke"
SRC = Path(__file__).resolve().parents[1] / "src"


def _cli(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, MAMMOVQA_ROOT=str(root), PYTHONPATH=str(SRC))
    proc = subprocess.run([sys.executable, "-m", "mammovqa.cli", *args], env=env, capture_output=True, text=True,
                          timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A scratch root with manifest links and a phantom smoke benchmark, then open items and open baselines."""
    root = tmp_path_factory.mktemp("open_root")
    (root / "data_manifest").mkdir()
    for entry in MANIFEST_DIR.iterdir():
        if entry.name != "local.yaml":
            (root / "data_manifest" / entry.name).symlink_to(entry)
    _cli(root, "data", "build", "--source", "phantom", "--profile", "smoke", "--workers", "1")
    closed = root / "data" / RUN / "qa" / "items.jsonl"
    before = _sha(closed)
    _cli(root, "open", "build", "--source", "phantom", "--profile", "smoke")
    _cli(root, "open", "baselines", "--source", "phantom", "--profile", "smoke")
    assert _sha(closed) == before, "the open path changed the closed items"
    return root


def _open_path(root: Path) -> Path:
    return root / "data" / RUN / "qa" / "open_items.jsonl"


def _pred(root: Path, name: str) -> Path:
    return root / "results" / RUN / "open" / "predictions" / f"baseline__{name}" / "test.jsonl"


def test_build_is_deterministic_and_seeded(root, tmp_path):
    path = _open_path(root)
    first = path.read_bytes()
    _cli(root, "open", "build", "--source", "phantom", "--profile", "smoke")
    assert path.read_bytes() == first
    closed = read_items(root / "data" / RUN / "qa" / "items.jsonl")
    again = build_open_items(list(reversed(closed)), 0)
    assert [it.to_json() for it in again] == [it.to_json() for it in read_items(path)]  # order-independent
    other = build_open_items(closed, 1)
    assert [it.question for it in other] != [it.question for it in again]


def test_open_items_mirror_their_closed_counterparts(root):
    closed = {it.id: it for it in read_items(root / "data" / RUN / "qa" / "items.jsonl")}
    items = read_items(_open_path(root))
    assert {it.kind for it in items} == {OPEN_KIND}
    topic_items = [it for it in items if it.topic != DESCRIPTION]
    assert len(topic_items) == sum(1 for it in closed.values() if it.topic in OPEN_TOPICS)
    for it in topic_items:
        c = closed[it.extra["closed_id"]]
        assert (it.split, it.patient_id, it.record_id, it.images, it.answer, it.level) == \
               (c.split, c.patient_id, c.record_id, c.images, c.answer, c.level)
    descriptions = [it for it in items if it.topic == DESCRIPTION]
    assert descriptions and all(it.part in ("breast", "exam") for it in descriptions)
    for it in descriptions:
        for cid in it.extra["closed_ids"]:
            c = closed[cid]
            assert (c.split, c.patient_id, c.record_id) == (it.split, it.patient_id, it.record_id)
            assert it.extra["gold"][c.topic] == c.answer


def test_at_least_three_wordings_each_used(root):
    items = read_items(_open_path(root))
    for kind, levels in OPEN_WORDINGS.items():
        assert all(len(w) >= 3 for w in levels.values()), kind
    used = Counter((it.topic, it.level, it.question) for it in items)
    for topic in (DESCRIPTION, *OPEN_TOPICS):
        image = {q for (t, lvl, q) in used if t == topic and lvl == "image"}
        assert len(image) >= 3, (topic, image)


def test_no_options_in_open_prompts(root):
    items = read_items(_open_path(root))
    for it in items:
        assert it.options == []
        assert "Options" not in it.question and not any(f"{x}: " in it.question for x in LETTERS[:6])
    for name in ("open-random", "open-majority"):
        rows = read_predictions(_pred(root, name)).rows.values()
        assert rows and all(r["options"] == [] and "### Options" not in r["prompt"] for r in rows)


def test_baselines_scored_majority_at_least_random(root):
    items = read_items(_open_path(root))
    test = [it for it in items if it.split == "test"]
    train = [it for it in items if it.split == "train"]
    maj = score_open(test, read_predictions(_pred(root, "open-majority")), train)
    rnd = score_open(test, read_predictions(_pred(root, "open-random")), train)
    assert len(maj) == len(rnd) == len(test) and maj["answered"].all() and rnd["answered"].all()
    assert maj["correct"].mean() == pytest.approx(maj["majority"].mean())  # the baseline *is* the reference
    assert maj["correct"].mean() >= maj["random"].mean()
    assert 0 < rnd["correct"].mean() < 1
    summary = open_summary(maj)
    assert set(summary["by_topic"]["topic"]) == {DESCRIPTION, *OPEN_TOPICS}
    assert set(summary["by_fact"]["fact"]) == {"laterality", "density", "birads", "abnormality"}
    proc = _cli(root, "open", "score", str(_pred(root, "open-majority")), "--source", "phantom", "--profile",
                "smoke", "--scores-out", str(root / "open_scores.csv"))
    assert "## by_fact" in proc.stdout and f"n={len(test)}" in proc.stdout
    assert (root / "open_scores.csv").read_text().count("\n") == len(test) + 1


def test_oracle_scores_everything_and_empty_scores_nothing(root):
    items = read_items(_open_path(root))
    oracle = {it.id: answer_text(it, item_gold(it)) for it in items}
    scores = score_open(items, oracle)
    wrong = scores.loc[scores["correct"] < 1, "id"].tolist()
    assert not wrong, [(i, oracle[i]) for i in wrong[:5]]
    facts = [c for c in scores.columns if c.startswith("fact_")]
    assert all(scores[c].dropna().eq(1).all() for c in facts)
    for empty in ("", "   ", None, "null", "I cannot tell from this image."):
        s = score_open(items, dict.fromkeys(oracle, empty))
        assert s["correct"].sum() == 0, empty
    missing = score_open(items, {})
    assert not missing["answered"].any() and missing["correct"].sum() == 0


def test_baseline_answers_are_deterministic():
    from mammovqa.qa.items import QAItem

    it = QAItem(id="r#describe", topic=DESCRIPTION, kind=OPEN_KIND, level="image", dataset="d", part="breast",
                role="internal", split="test", record_id="r", patient_id="p", images=[], question="q",
                options=[], answer=["Left", "Mass"], seed=0,
                extra={"gold": {"Laterality": ["Left"], "Abnormality": ["Mass"]},
                       "answer_options": {"Laterality": ["Right", "Left"], "Abnormality": ["Normal", "Mass"]}})
    assert random_facts(it, 3) == random_facts(it, 3)
    assert majority_facts(it, train_open_priors([])) == {"Laterality": ["Right"], "Abnormality": ["Normal"]}
    assert score_open([it], {it.id: "Left breast: spiculated mass."})["correct"].tolist() == [1.0]
    assert score_open([it], {it.id: "Right breast: spiculated mass."})["fact_laterality"].tolist() == [0.0]


def test_cli_says_what_to_do_without_open_items(tmp_path):
    proc = _cli(tmp_path, "open", "score", str(tmp_path / "x.jsonl"), "--source", "phantom", "--profile", "none",
                check=False)
    assert proc.returncode == 2 and "mammovqa open build" in proc.stderr
