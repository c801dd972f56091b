"""Shared set-up of the export tests: a scratch root with a phantom smoke run built by the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mammovqa.paths import MANIFEST_DIR


def build_phantom_root(tmp: Path) -> Path:
    """A scratch root (manifest links) holding a phantom smoke run built by ``mammovqa data build``."""
    root = tmp / "root"
    (root / "data_manifest").mkdir(parents=True)
    for entry in MANIFEST_DIR.iterdir():
        if entry.name != "local.yaml":
            (root / "data_manifest" / entry.name).symlink_to(entry)
    cmd = [sys.executable, "-m", "mammovqa.cli", "data", "build", "--source", "phantom", "--profile", "smoke",
           "--workers", "1"]
    proc = subprocess.run(cmd, env=dict(os.environ, MAMMOVQA_ROOT=str(root)), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root
