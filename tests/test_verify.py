"""Checksum tables: recorded sorted and stable; verify finds missing, extra and changed files."""

from pathlib import Path

import pytest

from mammovqa.data.verify import checksum_of_tsv, record_checksums, verify
from mammovqa.errors import DataError


def _tree(root: Path) -> None:
    (root / "b").mkdir(parents=True)
    (root / "a.txt").write_text("alpha")
    (root / "b" / "c.bin").write_bytes(bytes(range(256)) * 10)
    (root / "b" / "._c.bin").write_bytes(b"mac litter")


def test_record_and_verify(tmp_path: Path) -> None:
    root, sums = tmp_path / "ds", tmp_path / "sums"
    _tree(root)
    tsv = record_checksums("Toy", root, sums)
    lines = tsv.read_text().splitlines()
    assert lines[0] == "path\tsize\tsha256" and [ln.split("\t")[0] for ln in lines[1:]] == ["a.txt", "b/c.bin"]
    digest = checksum_of_tsv(tsv)
    assert record_checksums("Toy", root, sums) == tsv and checksum_of_tsv(tsv) == digest  # stable bytes
    assert verify("Toy", root, sums)["ok"]
    (root / "a.txt").write_text("alphA")  # same size, different content
    (root / "b" / "c.bin").unlink()
    (root / "new.txt").write_text("x")
    rep = verify("Toy", root, sums)
    assert not rep["ok"]
    assert (rep["missing"], rep["extra"], rep["changed"]) == (["b/c.bin"], ["new.txt"], ["a.txt"])
    assert verify("Toy", root, sums, hash_files=False)["changed"] == []


def test_verify_without_table(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="--record"):
        verify("Nope", tmp_path, tmp_path)
