"""Two builds of one run's data at once: the second stops naming the holder (issue 14 item 2, "per run")."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

from mammovqa.paths import RunPaths
from scratch_root import scratch_root


def test_a_second_data_build_of_a_run_is_refused_while_the_first_holds_it(tmp_path: Path) -> None:
    root = scratch_root(tmp_path / "root")
    run = RunPaths("phantom", "smoke", 0, root=root)
    lock = run.results / "locks" / "stage-data.lock"
    lock.parent.mkdir(parents=True)
    with open(lock, "w") as held:  # a first build (another process) holds the run's data lock
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        proc = subprocess.run([sys.executable, "-m", "mammovqa.cli", "data", "build", "--profile", "smoke"],
                              capture_output=True, text=True, env={**os.environ, "MAMMOVQA_ROOT": str(root)},
                              timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "stage-data" in proc.stderr and "being written by" in proc.stderr, proc.stderr[-2000:]
    assert not run.qa_items.exists() and not run.data.exists()  # the refused build wrote nothing
