"""What written files reveal and who can read them: opaque phantom names, umask-following modes, portable paths."""

from __future__ import annotations

import dataclasses
import os
import re
import stat
from pathlib import Path

import pytest

from mammovqa.config import get_profile, load_datasets
from mammovqa.data.phantom.generate import generate
from mammovqa.io import write_json_atomic, write_jsonl_atomic, write_text_atomic


def _tiny_phantom() -> tuple:
    ds = load_datasets()
    keep = {n: ds.phantom[n] for n in ("Phantom-MIAS", "Phantom-EMBED")}
    keep = {n: dataclasses.replace(d, parts={k: dataclasses.replace(p, size=6 if p.size else 0)
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
