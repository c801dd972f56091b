"""`make significance NB_PARAMS=...` re-runs one notebook as a variant without rebuilding the run (issue 14 item 6).

Measured before the fix: the README's "re-run one notebook" example (`make significance PROFILE=smoke SEED=3`)
built a whole new run (318 s: data, training, zero-shot), and a papermill re-run overwrote the run's own
tables, figures and variables. This test runs the real Makefile in a scratch root whose run is up to date, with
the interpreter replaced by a recorder (so no notebook really executes): it pins which commands Make issues,
with which parameters and variant, and where the executed notebook goes.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from scratch_root import REPO, scratch_root

RUN = "phantom-smoke"
#: what an up-to-date smoke run has on disk before notebook 05 (the prerequisites in the Makefile)
RUN_OUTPUTS = (f"data/{RUN}/qa/items.jsonl", "models_local/tiny-vlm/config.json",
               f"results/{RUN}/predictions/zero_shot_manifest.json",
               f"results/{RUN}/train/tiny-vlm-mammo/predict_summary.json",
               f"results/{RUN}/train/closed_set/summary.json", f"results/{RUN}/predictions/circular_manifest.json")

RECORDER = """#!/bin/sh
# stands in for .venv/bin/python: logs each call with the variant it saw, creates papermill's output file
printf '%s|%s\\n' "${MAMMOVQA_VARIANT:-}" "$*" >> "$RECORD_LOG"
if [ "$1" = "-m" ] && [ "$2" = "papermill" ]; then mkdir -p "$(dirname "$4")" && : > "$4"; fi
"""


@pytest.fixture()
def up_to_date_run(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    """(root, recorder, stamp, log): a scratch root whose smoke run's expensive outputs are newer than the code."""
    if subprocess.run(["make", "--version"], capture_output=True).returncode != 0:
        pytest.skip("make is not installed")
    root = scratch_root(tmp_path / "root", code=True)
    now = time.time()
    stamp = tmp_path / "venv.installed"  # the environment counts as set up, without touching the real .venv
    stamp.write_text("")
    os.utime(stamp, (now - 100, now - 100))
    for rel in RUN_OUTPUTS:  # one time for all: no output is newer than another, all newer than the code
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("{}\n")
        os.utime(root / rel, (now, now))
    recorder = tmp_path / "python"
    recorder.write_text(RECORDER)
    recorder.chmod(0o755)
    return root, recorder, stamp, tmp_path / "calls.log"


def _make(run: tuple[Path, Path, Path, Path], *args: str) -> tuple[subprocess.CompletedProcess, list[tuple[str, str]]]:
    root, recorder, stamp, log = run
    log.unlink(missing_ok=True)
    env = {**os.environ, "RECORD_LOG": str(log)}
    env.pop("MAMMOVQA_VARIANT", None)
    proc = subprocess.run(["make", "-C", str(root), *args, "PROFILE=smoke", f"PY={recorder}", f"STAMP={stamp}"],
                          capture_output=True, text=True, env=env, timeout=300)
    calls = [tuple(line.split("|", 1)) for line in log.read_text().splitlines()] if log.exists() else []
    return proc, calls


def test_nb_params_reruns_one_notebook_into_its_own_variant(up_to_date_run) -> None:
    root = up_to_date_run[0]
    proc, calls = _make(up_to_date_run, "significance", "NB_PARAMS=-p margin 0.03 -p n_boot 5000")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(calls) == 1, f"Make ran more than notebook 05 on an up-to-date run: {calls}"
    variant, argv = calls[0]
    args = shlex.split(argv)
    assert args[:3] == ["-m", "papermill", "notebooks/05_significance.ipynb"], args
    assert variant == "p_margin_0.03_-p_n_boot_5000"  # the name the README gives for this example
    assert f"`{variant}`" in (REPO / "README.md").read_text(encoding="utf-8")
    assert args[3] == f"notebooks/executed/{RUN}/variants/{variant}/05_significance.ipynb.tmp.ipynb"
    assert " ".join(args).endswith("-p source phantom -p profile smoke -p seed 0 -p margin 0.03 -p n_boot 5000")
    assert (root / f"notebooks/executed/{RUN}/variants/{variant}/05_significance.ipynb").exists()
    assert not (root / f"notebooks/executed/{RUN}/05_significance.ipynb").exists()  # the run's own stays untouched


def test_a_named_variant_and_the_plain_target(up_to_date_run) -> None:
    proc, calls = _make(up_to_date_run, "significance", "NB_PARAMS=-p margin 0.03", "VARIANT=margin3")
    assert proc.returncode == 0 and [c[0] for c in calls] == ["margin3"], (calls, proc.stderr[-2000:])
    assert "/variants/margin3/05_significance.ipynb.tmp.ipynb" in calls[0][1]
    proc, calls = _make(up_to_date_run, "significance")  # no NB_PARAMS: the run's own notebook, no variant
    assert proc.returncode == 0 and len(calls) == 1 and calls[0][0] == "", calls
    assert re.search(rf"notebooks/executed/{RUN}/05_significance\.ipynb\.tmp\.ipynb", calls[0][1]), calls


def test_paper_refuses_a_variant(up_to_date_run) -> None:
    proc, calls = _make(up_to_date_run, "paper", "NB_PARAMS=-p margin 0.03")
    assert proc.returncode != 0
    assert "drop NB_PARAMS/VARIANT for paper" in proc.stderr, proc.stderr[-2000:]
    assert calls == [], calls  # refused before anything runs: no notebook re-run as a variant, no manuscript


def test_a_second_make_on_the_same_notebook_of_a_run_stops_with_a_message(up_to_date_run) -> None:
    """Measured: two `make all` on one run executed the same notebook into the same .tmp.ipynb at once."""
    import fcntl

    root = up_to_date_run[0]
    out = f"notebooks/executed/{RUN}/05_significance.ipynb"
    lock = root / f"results/{RUN}/locks/notebook-{out.replace('/', '_')}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as held:  # what the first make's flock holds while its papermill runs
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        proc, calls = _make(up_to_date_run, "significance")
    assert proc.returncode != 0 and calls == [], (calls, proc.stderr[-2000:])
    assert "another make is running notebooks/05_significance.ipynb for run phantom-smoke" in proc.stderr
    assert not (root / out).exists()
    proc, calls = _make(up_to_date_run, "significance")  # lock released: it runs
    assert proc.returncode == 0 and len(calls) == 1, proc.stderr[-2000:]
