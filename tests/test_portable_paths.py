"""Outputs name no machine path (issue 14 item 5): what the fine-tune, circular and zero-shot stages write is
relative to the run's root (the report stage: tests/test_report_stage.py), and the code that reads it back still
finds the files after the whole root moved to another folder.

Measured before: ``model.json`` and ``train_summary.json`` held ``/work/main/results/...`` and
``/work/main/models_local/...``, ``circular_manifest.json`` held absolute prediction paths, and every skip reason of
``zero_shot_manifest.json`` named ``/work/main/data_manifest/local.yaml`` and ``/root/.cache/huggingface/hub``.
The stages run here exactly as ``make`` calls them (``mammovqa stage ...`` with ``MAMMOVQA_ROOT``) on a phantom
smoke build in a scratch root, with a small tiny VLM so that training and answering take seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mammovqa.paths import LOCAL_CONFIG, ROOT, RunPaths, portable_path, portable_text, resolve
from mammovqa.predictions import read_predictions
from scratch_root import REPO, scratch_root

RUN_ARGS = ("--source", "phantom", "--profile", "smoke")


def _cli(root: Path, *args: str) -> None:
    env = dict(os.environ, MAMMOVQA_ROOT=str(root), PYTHONPATH=str(REPO / "src"))
    proc = subprocess.run([sys.executable, "-m", "mammovqa.cli", *args], env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _no_machine_path(path: Path, *folders: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for folder in folders:
        assert str(folder) not in text, f"{path.name} names {folder}"


@pytest.fixture(scope="module")
def moved(tmp_path_factory) -> tuple[Path, Path]:
    """(first root, moved root): smoke data, the fine-tune, zero-shot and circular stages in the first root; then the
    root is renamed and the circular stage, which loads the fine-tuned model through model.json, runs again."""
    from mammovqa.models.tiny import build_tiny_vlm

    base = tmp_path_factory.mktemp("portable")
    first = scratch_root(base / "first")
    (first / "configs").symlink_to(REPO / "configs")
    build_tiny_vlm(first / "models_local" / "tiny-vlm", seed=0, image_size=32, text_hidden=64, vision_hidden=32)
    _cli(first, "data", "build", *RUN_ARGS, "--workers", "1")
    for stage in ("finetune", "zero-shot", "circular"):
        _cli(first, "stage", stage, *RUN_ARGS)
    second = base / "second"
    first.rename(second)
    _cli(second, "stage", "circular", *RUN_ARGS)  # absolute paths of the first root would name nothing now
    return first, second


def test_finetuned_model_entry_and_train_summary_are_relative_to_the_root(moved):
    first, second = moved
    run = RunPaths("phantom", "smoke", 0, root=second)
    entry_file = run.train / "tiny-vlm-mammo" / "model.json"
    for f in (entry_file, run.train / "tiny-vlm-mammo" / "train_summary.json"):
        _no_machine_path(f, first, second)
    entry = json.loads(entry_file.read_text(encoding="utf-8"))
    assert entry["path"] == "results/phantom-smoke/train/tiny-vlm-mammo/final"
    assert entry["base_path"] == "models_local/tiny-vlm" and entry["recipe"] == "configs/train/tiny_cpu.yaml"
    assert (resolve(entry["path"], second) / "config.json").is_file()
    summary = json.loads((run.train / "tiny-vlm-mammo" / "train_summary.json").read_text(encoding="utf-8"))
    assert summary["base_path"] == "models_local/tiny-vlm"
    assert (resolve(summary["base_path"], second) / "config.json").is_file()


def test_circular_manifest_is_relative_and_the_moved_root_still_answers(moved):
    first, second = moved
    run = RunPaths("phantom", "smoke", 0, root=second)
    manifest_file = run.results / "predictions" / "circular_manifest.json"
    _no_machine_path(manifest_file, first, second)
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    assert set(manifest["models"]) == {"tiny-vlm-mammo", "baseline/random", "baseline/first-option"}
    for model, stored in manifest["models"].items():
        assert not stored.startswith(("/", "skipped")), (model, stored)
        preds = read_predictions(resolve(stored, second))  # the reader resolves the stored path
        assert len(preds.rows) == manifest["rotated_items"], model


def test_zero_shot_skip_reasons_name_no_machine_folder(moved):
    first, second = moved
    manifest_file = second / "results" / "phantom-smoke" / "predictions" / "zero_shot_manifest.json"
    _no_machine_path(manifest_file, first, second, Path.home())
    skipped = json.loads(manifest_file.read_text(encoding="utf-8"))["skipped"]
    reasons = [v["reason"] for v in skipped.values() if v["reason"].startswith("no weights")]
    assert reasons, "no registry model was skipped for missing weights: nothing checked"
    assert all("data_manifest/local.yaml" in r for r in reasons)  # the hint still says which file to edit


def test_a_registry_reason_loses_the_repository_and_home_folders():
    """The real message of ``models.registry.availability`` for a model without weights, as the manifest stores it."""
    from mammovqa.models.registry import availability, load_models

    reasons = [why for spec in load_models().values() if spec.native
               for ok, why in [availability(spec, LOCAL_CONFIG)] if not ok]
    if not reasons:
        pytest.skip("every native registry model has local weights here")
    assert any(str(ROOT) in r for r in reasons)  # the failure this guards against
    for reason in reasons:
        out = portable_text(reason, ROOT)
        assert str(ROOT) + "/" not in out and str(Path.home()) + "/" not in out
        if "local.yaml" in reason:  # the hint still names the file to edit (tiny-vlm's says `build-tiny` instead)
            assert "data_manifest/local.yaml" in out


def test_portable_text_path_and_resolve_round_trip(tmp_path, monkeypatch):
    home = tmp_path / "home"
    repo = home / "code" / "mammovqa"  # a repository inside the home folder keeps its own relative form
    monkeypatch.setenv("HOME", str(home))
    text = (f"searched {home}/.cache/huggingface/hub; map it in {repo}/data_manifest/local.yaml; "
            f"not {repo}2/x nor /elsewhere{repo}/y")
    assert portable_text(text, repo) == (f"searched ~/.cache/huggingface/hub; map it in data_manifest/local.yaml; "
                                         f"not ~/code/mammovqa2/x nor /elsewhere{repo}/y")
    cache = home / ".cache" / "hub" / "m"
    assert portable_path(cache, root=repo) == str(cache)  # unchanged unless asked: records keep their form
    assert portable_path(cache, root=repo, home=True) == "~/.cache/hub/m"
    assert portable_path(repo / "models_local" / "t", root=repo, home=True) == "models_local/t"
    assert resolve("~/.cache/hub/m", repo) == cache
    assert resolve("models_local/t", repo) == repo / "models_local" / "t"
    assert portable_path(tmp_path / "other", root=repo, home=True) == str(tmp_path / "other")  # outside both
