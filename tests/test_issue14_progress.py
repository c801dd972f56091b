"""Long steps show progress on a terminal and stay silent in logs (issue 14 item 6).

Measured before the fix: `data build` (phantom generation) and the closed-set stage printed nothing for minutes,
so a new user could not tell a slow step from a hung one. The bars are tqdm bars that draw only when stderr is a
terminal (``disable=None``), so the test runs the real code twice in a child process: once with stderr on a
pseudo-terminal (the bar must be drawn), once with stderr on a pipe, as in ``make ... > log`` (it must not be).
"""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import textwrap

import pytest

PHANTOM = textwrap.dedent("""
    import dataclasses, sys, tempfile
    from pathlib import Path
    from mammovqa.config import get_profile, load_datasets
    from mammovqa.data.phantom.generate import generate
    ds = load_datasets()
    keep = {"Phantom-MIAS": ds.phantom["Phantom-MIAS"]}
    keep = {n: dataclasses.replace(d, parts={k: dataclasses.replace(p, size=4 if p.size else 0)
                                              for k, p in d.parts.items()}) for n, d in keep.items()}
    profile = dataclasses.replace(get_profile("smoke"), name="progress", image_size=64, scale=1.0, min_per_part=2)
    records, _ = generate(Path(tempfile.mkdtemp()), profile, seed=0, datasets=dataclasses.replace(ds, phantom=keep))
    print(len(records), "records", flush=True)
""")

CLOSED_SET = textwrap.dedent("""
    import torch
    from mammovqa.qa.items import QAItem
    from mammovqa.train.closed_set import Trainer
    items = [QAItem(id=f"t{i}", topic="Laterality", kind="single", level="image", dataset="D", part="breast",
                    role="internal", split="train", record_id=f"r{i}", patient_id=f"p{i}", images=["x.png"],
                    question="Which breast is shown in this mammogram?", options=["Right", "Left"],
                    answer=["Left" if i % 2 else "Right"], seed=i) for i in range(8)]
    head = torch.nn.Linear(1, 2)
    Trainer({"learning_rate": 0.01, "batch_size": 4}, epochs=3, seed=0).fit(
        head, items, lambda batch, topic: head(torch.ones(len(batch), 1)))
    print("trained", flush=True)
""")


def _stderr_on_terminal(code: str) -> tuple[int, str]:
    """Run ``code`` in a child whose stderr is a pseudo-terminal; its exit code and what the terminal received."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a new pty is 0 columns wide
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=slave, env={**os.environ, "TERM": "xterm"})
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=300), b"".join(chunks).decode("utf-8", "replace")


def _stderr_on_pipe(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(("code", "bar"), [(PHANTOM, "phantom progress"), (CLOSED_SET, "closed-set epochs")],
                         ids=["data-build-phantom", "closed-set-stage"])
def test_progress_on_a_terminal_silent_in_logs(code: str, bar: str) -> None:
    rc, shown = _stderr_on_terminal(code)
    assert rc == 0, shown[-2000:]
    assert bar in shown and "%" in shown, f"no progress bar {bar!r} on the terminal: {shown[-1000:]!r}"
    logged = _stderr_on_pipe(code)
    assert logged.returncode == 0, logged.stderr[-2000:]
    assert bar not in logged.stderr, f"progress bar written into a log: {logged.stderr[-1000:]!r}"
