"""A full disk or a read-only output folder gives an orderly message and exit code 2, never a traceback (issue 14).

Why real file systems: ``test_cli`` covers EPERM (``/sys``), which even root meets, but a full disk (ENOSPC) and a
read-only mount (EROFS) take their own branches of the CLI's error handler and of the atomic writer's clean-up.
A small tmpfs reproduces both exactly; mounting needs root with CAP_SYS_ADMIN, so elsewhere the tests skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mammovqa.predictions import PredictionWriter
from mammovqa.qa.items import QAItem, item_prompt, write_items
from scratch_root import scratch_root

CLI = [sys.executable, "-m", "mammovqa.cli"]


def _mount_tmpfs(where: Path, options: str) -> bool:
    """Mount a tmpfs at ``where``; False when this machine does not let the tests mount (not root, no capability)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    where.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                          capture_output=True).returncode == 0


@pytest.fixture()
def mounted(tmp_path: Path) -> Iterator[Callable[[str, str], Path]]:
    """A factory mounting small tmpfs folders under ``tmp_path``; every mount is undone afterwards."""
    done: list[Path] = []

    def mount(name: str, options: str) -> Path:
        where = tmp_path / name
        if not _mount_tmpfs(where, options):
            pytest.skip("cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)")
        done.append(where)
        return where

    yield mount
    for where in reversed(done):
        subprocess.run(["umount", str(where)], capture_output=True)


def _fill(folder: Path) -> None:
    """Write until the file system is full (ENOSPC), leaving no byte free."""
    with open(folder / "filler", "wb", buffering=0) as fh:  # unbuffered: nothing left to flush on close
        try:
            while True:
                fh.write(b"\0" * 4096)
        except OSError:
            pass


def _inputs(tmp_path: Path) -> tuple[Path, Path]:
    """A four-item items file and a prediction file answering it, on the ordinary (writable) disk."""
    items = [QAItem(id=f"test-{i}", topic="Laterality", kind="single", level="image", dataset="D1-breast",
                    part="breast", role="internal", split="test", record_id=f"r{i}", patient_id=f"p{i}",
                    images=[f"img{i}.png"], question="Which breast is shown in this mammogram?",
                    options=["Left", "Right"], answer=["Left"], seed=i) for i in range(4)]
    items_path = tmp_path / "items.jsonl"
    write_items(items_path, items)
    preds = tmp_path / "preds.jsonl"
    with PredictionWriter(preds, {"model_id": "m/x", "split": "test", "level": "image"}) as w:
        for it in items:
            w.write(id=it.id, model="m/x", prompt=item_prompt(it), options=it.options, output="Left", latency_s=0.0)
    answers = tmp_path / "answers.jsonl"
    answers.write_text("".join(f'{{"id": "test-{i}", "output": "Left"}}\n' for i in range(4)))
    return items_path, preds


def _assert_orderly(proc: subprocess.CompletedProcess, words: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "mammovqa: error: cannot write" in proc.stderr and words in proc.stderr, proc.stderr[-2000:]


def test_full_disk_is_a_message_and_leaves_no_partial_file(tmp_path: Path, mounted) -> None:
    full = mounted("full", "size=64k")
    _fill(full)
    items_path, preds = _inputs(tmp_path)
    score = subprocess.run([*CLI, "score", str(preds), "--items", str(items_path), "--scores-out",
                            str(full / "scores.csv")], capture_output=True, text=True, timeout=120)
    _assert_orderly(score, "Free disk space")
    imported = subprocess.run([*CLI, "models", "import", "--model", "m/x", str(tmp_path / "answers.jsonl"),
                               "--items", str(items_path), "--split", "test", "--level", "image",
                               "--out", str(full / "imported.jsonl")], capture_output=True, text=True, timeout=120)
    _assert_orderly(imported, "Free disk space")
    left = sorted(p.name for p in full.iterdir() if p.name != "filler" and not p.name.endswith(".lock"))
    assert left == [], f"partial outputs left on the full disk: {left}"  # the atomic writer removed its temp file


def test_data_build_on_a_full_disk_is_a_message(tmp_path: Path, mounted) -> None:
    root = scratch_root(mounted("root", "size=256k"))  # the manifests fit; the phantom's images do not
    env = {**os.environ, "MAMMOVQA_ROOT": str(root)}
    proc = subprocess.run([*CLI, "data", "build", "--profile", "smoke"], capture_output=True, text=True, env=env,
                          timeout=600)
    _assert_orderly(proc, "No space left on device")


def test_read_only_output_folder_is_a_message(tmp_path: Path, mounted) -> None:
    ro = mounted("ro", "ro,size=64k")
    items_path, preds = _inputs(tmp_path)
    proc = subprocess.run([*CLI, "score", str(preds), "--items", str(items_path), "--scores-out",
                           str(ro / "scores.csv")], capture_output=True, text=True, timeout=120)
    _assert_orderly(proc, "read-only file system")


def test_prepare_on_a_full_disk_stops_once_instead_of_losing_every_image(tmp_path: Path, mounted) -> None:
    """Measured: preparation caught every exception per image, so a full output disk (ENOSPC) showed up as a
    "bad image" on each remaining image and the run ground through the whole dataset."""
    import numpy as np
    from PIL import Image

    from fixtures_sources import make_mias
    from mammovqa.data.imaging import synthetic_mammogram

    mias = make_mias(tmp_path / "mias")
    for i, p in enumerate(sorted((mias / "all-mias").glob("*.pgm"))):
        arr, _ = synthetic_mammogram((512, 512), laterality="L", seed=i, bits=8)
        Image.fromarray(arr.astype(np.uint8)).save(p)
    full = mounted("full", "size=64k")
    _fill(full)
    proc = subprocess.run([*CLI, "data", "prepare", "MIAS", str(mias), "--out", str(full / "out"), "--size", "32"],
                          capture_output=True, text=True, timeout=300)
    _assert_orderly(proc, "No space left on device")
    assert "skipped image" not in proc.stderr and proc.stderr.count("No space left") == 1, proc.stderr[-2000:]
