"""Checksums of a downloaded dataset folder, and verification of a local copy against them.

Why: results are only comparable when they were computed from the same files. ``record_checksums`` writes
``data_manifest/checksums/<dataset>.tsv`` (relative path, size, sha256; sorted, streamed file by file so
memory stays flat on 100 GB folders); ``verify`` lists missing, extra and changed files; ``checksum_of_tsv``
is the single hash a results file embeds as its data provenance.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..io import atomic_path, sha256_file
from ..paths import CHECKSUMS_DIR

HEADER = "path\tsize\tsha256"
IGNORED_NAMES = (".DS_Store", "Thumbs.db")


def iter_files(root: Path) -> Iterator[Path]:
    """Every regular file under ``root`` in sorted relative-path order (macOS ``._*`` and OS litter skipped)."""
    for p in sorted(root.rglob("*"), key=lambda q: q.relative_to(root).as_posix()):
        if p.is_file() and not p.name.startswith("._") and p.name not in IGNORED_NAMES:
            yield p


def tsv_path(dataset: str, checksums_dir: Path | None = None) -> Path:
    return Path(checksums_dir or CHECKSUMS_DIR) / f"{dataset}.tsv"


def record_checksums(dataset: str, root: str | Path, checksums_dir: Path | None = None) -> Path:
    """Write the checksum table of ``root`` (atomically) and return its path."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, None, f"dataset folder for {dataset} not found")
    out = tsv_path(dataset, checksums_dir)
    with atomic_path(out) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(HEADER + "\n")
        for p in iter_files(root):
            fh.write(f"{p.relative_to(root).as_posix()}\t{p.stat().st_size}\t{sha256_file(p)}\n")
    return out


def read_checksums(path: Path) -> dict[str, tuple[int, str]]:
    rows: dict[str, tuple[int, str]] = {}
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh, start=1):
            line = line.rstrip("\n")
            if i == 1:
                if line != HEADER:
                    raise DataError(path, 1, f"expected header {HEADER!r}, got {line!r}")
                continue
            parts = line.split("\t")
            if len(parts) != 3 or not parts[1].isdigit() or len(parts[2]) != 64:
                raise DataError(path, i, f"malformed checksum line {line!r}")
            rows[parts[0]] = (int(parts[1]), parts[2])
    return rows


def verify(dataset: str, root: str | Path, checksums_dir: Path | None = None, hash_files: bool = True) -> dict[str, Any]:
    """Compare ``root`` with the recorded table: ``missing``, ``extra`` and ``changed`` relative paths.

    A size difference marks a file changed without hashing it; ``hash_files=False`` compares sizes only.
    """
    root = Path(root)
    table = tsv_path(dataset, checksums_dir)
    if not table.exists():
        raise DataError(table, None, f"no checksums recorded for {dataset}: run `mammovqa data verify --record {dataset}`")
    expected = read_checksums(table)
    present = {p.relative_to(root).as_posix(): p for p in iter_files(root)} if root.is_dir() else {}
    missing = sorted(set(expected) - set(present))
    extra = sorted(set(present) - set(expected))
    changed = []
    for rel in sorted(set(expected) & set(present)):
        size, digest = expected[rel]
        p = present[rel]
        if p.stat().st_size != size or (hash_files and sha256_file(p) != digest):
            changed.append(rel)
    return {"dataset": dataset, "root": str(root), "checksums": str(table), "files_expected": len(expected),
            "missing": missing, "extra": extra, "changed": changed,
            "ok": not (missing or extra or changed), "tsv_sha256": checksum_of_tsv(table)}


def checksum_of_tsv(path: str | Path) -> str:
    """sha256 of a checksum table: one value that names the exact data a result was computed from."""
    return sha256_file(path)
