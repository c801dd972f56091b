"""End-to-end: `make all PROFILE=smoke` in a scratch root, exactly what a user runs, then its outputs.

The scratch root links the repository's sources (Makefile, notebooks, configs, paper, data_manifest, .venv) and
sets MAMMOVQA_ROOT, so every generated file lands in the scratch folder and the checkout stays clean.
"""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINKED = ("Makefile", "configs", "data_manifest", "src", "tools", "requirements.lock", "pyproject.toml", ".venv")
LINKED_CHILDREN = ("notebooks", "paper")  # real folders (outputs land inside them), their sources linked
RUN = "phantom-smoke"
pytestmark = pytest.mark.slow


def _make(root: Path, *args: str, timeout: int = 2400) -> subprocess.CompletedProcess:
    env = {**os.environ, "MAMMOVQA_ROOT": str(root)}
    return subprocess.run(["make", *args, "PROFILE=smoke"], cwd=root, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def smoke_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("smoke_root")
    for name in LINKED:
        (root / name).symlink_to(REPO / name)
    for name in LINKED_CHILDREN:
        (root / name).mkdir()
        for child in (REPO / name).iterdir():
            if child.name not in ("executed", "_build"):
                (root / name / child.name).symlink_to(child)
    result = _make(root, "all")
    if result.returncode != 0:
        pytest.fail(f"make all PROFILE=smoke failed:\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}")
    return root


def test_benchmark_built_with_official_exports(smoke_root):
    data = smoke_root / "data" / RUN
    manifest = json.loads((data / "qa" / "manifest.json").read_text())
    assert manifest["synthetic"] is True
    assert set(manifest["qa_summary"]["by_split"]) == {"train", "val", "test", "external"}
    assert (data / "qa" / "MammoVQA-Image-Bench.json").exists()


def test_every_stage_notebook_executed(smoke_root):
    executed = sorted(p.name for p in (smoke_root / "notebooks" / "executed" / RUN).glob("*.ipynb"))
    assert executed == ["01_dataset_stats.ipynb", "02_zero_shot.ipynb", "03_finetune.ipynb",
                        "04_external_validation.ipynb", "05_significance.ipynb", "06_report_generation.ipynb",
                        "07_open_ended.ipynb"]


def test_open_ended_built_run_and_scored_beside_the_closed_outputs(smoke_root):
    """Issue 17: open items, open predictions of every system, the open fine-tune, its tables, figure, variables."""
    data, results = smoke_root / "data" / RUN, smoke_root / "results" / RUN
    assert (data / "qa" / "open_items.jsonl").stat().st_size > 0
    manifest = json.loads((results / "open" / "zero_shot_manifest.json").read_text())
    systems = ["tiny-vlm", "baseline__open-random", "baseline__open-majority", "tiny-vlm-mammo-open"]
    for system in systems:
        for split in manifest["eval_ids"]:
            assert (results / "open" / "predictions" / system / f"{split}.jsonl").exists(), (system, split)
    assert (results / "train" / "tiny-vlm-mammo").exists()  # the closed fine-tune keeps its own folder
    assert (results / "open" / "train" / "tiny-vlm-mammo-open" / "final").exists()
    for stem in ("open_fact_accuracy", "open_topic_accuracy", "open_dataset_accuracy"):
        assert (results / "tables" / f"{stem}.csv").exists()
    assert (smoke_root / "figures" / RUN / "open_fact_accuracy.png").exists()
    variables = json.loads((results / "vars" / "open.json").read_text())
    assert {"open_ft_all", "open_ft_all_ci", "open_majority_all", "open_n_items_test"} <= set(variables)


def test_paper_rendered_with_every_figure_and_phantom_notice(smoke_root):
    from mammovqa.paper import REQUIRED_FIGURES

    build = smoke_root / "paper" / "_build" / RUN
    assert (build / "paper.pdf").stat().st_size > 10_000
    html = (build / "paper.html").read_text(encoding="utf-8")
    assert "Synthetic phantom data" in html and "??" not in html
    figures = smoke_root / "figures" / RUN
    assert all((figures / f"{stem}.png").exists() for stem in REQUIRED_FIGURES)


def test_second_make_all_does_nothing_and_is_fast(smoke_root):
    t0 = time.perf_counter()
    dry = _make(smoke_root, "-q", "all", timeout=120)
    assert dry.returncode == 0, "make -q all: some target is out of date after a full run"
    again = _make(smoke_root, "all", timeout=120)
    elapsed = time.perf_counter() - t0
    assert again.returncode == 0 and "papermill" not in again.stdout and "stage" not in again.stdout
    assert elapsed < 10
