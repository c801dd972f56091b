"""What written files reveal and who can read them: opaque phantom names, umask-following modes, portable paths."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fixtures_sources import make_mias
from mammovqa.config import get_profile, load_datasets
from mammovqa.data.imaging import synthetic_mammogram
from mammovqa.data.phantom.generate import generate
from mammovqa.io import write_json_atomic, write_jsonl_atomic, write_text_atomic
from mammovqa.paths import MANIFEST_DIR, portable_path, resolve


def _tiny_phantom() -> tuple:
    ds = load_datasets()
    keep = {n: ds.phantom[n] for n in ("Phantom-MIAS", "Phantom-EMBED")}
    # 16 breasts per part: with 6, whether any lesion (and so any crop) is drawn depended on the random stream
    keep = {n: dataclasses.replace(d, parts={k: dataclasses.replace(p, size=16 if p.size else 0)
                                              for k, p in d.parts.items()}) for n, d in keep.items()}
    profile = dataclasses.replace(get_profile("smoke"), name="test", image_size=96, scale=1.0, min_per_part=4)
    return profile, dataclasses.replace(ds, phantom=keep)


def test_phantom_file_names_carry_no_label_kind_or_view(tmp_path: Path) -> None:
    """Lesion vs normal crops (and exam views) must not be told apart by file name, as with prepared real images."""
    profile, ds = _tiny_phantom()
    records, _ = generate(tmp_path / "a", profile, seed=0, datasets=ds)
    crops = [r for r in records if r.kind in ("finding", "normal")]
    exams = [r for r in records if r.kind == "exam"]
    assert crops and exams and {r.kind for r in crops} == {"finding", "normal"}
    for r in crops + exams:
        for p in r.images:
            assert re.fullmatch(r"[0-9a-f]{20}\.png", Path(p).name), p
    again, _ = generate(tmp_path / "b", profile, seed=0, datasets=ds)  # names stay deterministic
    assert [Path(p).name for r in records for p in r.images] == [Path(p).name for r in again for p in r.images]


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077])
def test_atomic_writes_follow_the_umask(tmp_path: Path, mask: int) -> None:
    old = os.umask(mask)
    try:
        write_text_atomic(tmp_path / "a.txt", "x")
        write_json_atomic(tmp_path / "b.json", {"a": 1})
        write_jsonl_atomic(tmp_path / "c.jsonl", [{"a": 1}])
    finally:
        os.umask(old)
    for name in ("a.txt", "b.json", "c.jsonl"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~mask, name


def test_phantom_images_readable_by_group_and_others_under_022(tmp_path: Path) -> None:
    profile, ds = _tiny_phantom()
    old = os.umask(0o022)
    try:
        generate(tmp_path / "p", profile, seed=0, datasets=ds)
    finally:
        os.umask(old)
    modes = {stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "p").rglob("*.png")}
    assert modes == {0o644}


def test_prepared_records_store_no_machine_paths(tmp_path: Path) -> None:
    """Records, parts and summaries name source files by dataset (``{MIAS}/...``) and outputs by repository path."""
    mias = make_mias(tmp_path / "downloads" / "mias")
    for i, p in enumerate(sorted((mias / "all-mias").glob("*.pgm"))):
        arr, _ = synthetic_mammogram((1024, 1024), laterality="L", seed=i, bits=8)
        Image.fromarray(arr.astype(np.uint8)).save(p)
    root = tmp_path / "repo"
    root.mkdir()
    (root / "data_manifest").symlink_to(MANIFEST_DIR)
    out = root / "data" / "prepared" / "MIAS"
    env = {**os.environ, "MAMMOVQA_ROOT": str(root)}
    proc = subprocess.run([sys.executable, "-m", "mammovqa.cli", "data", "prepare", "MIAS", str(mias), "--out",
                           str(out), "--size", "32"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    written = [out / "records.jsonl", out / "summary" / "records.json", *sorted((out / "parts").glob("*.json"))]
    for f in written:
        assert str(tmp_path) not in f.read_text(encoding="utf-8"), f  # no machine path anywhere
    assert str(tmp_path) not in proc.stdout
    rows = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    finding = next(r for r in rows if r["kind"] == "finding")
    assert finding["source_image"].startswith("{MIAS}/all-mias/mdb") and finding["extra"]["label_file"] == \
        "{MIAS}/Info.txt"
    assert resolve(finding["source_image"], roots={"MIAS": mias}).is_file()
    assert all(resolve(r["image"], root=root).is_file() for r in rows)
    assert portable_path(mias / "Info.txt", {"MIAS": mias}) == "{MIAS}/Info.txt"
    with pytest.raises(KeyError, match="MIAS"):
        resolve("{MIAS}/Info.txt", roots={})
