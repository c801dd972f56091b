"""Every protocol reference in the repository points inside it, to a section that exists.

Why: code, configs and label maps justify their choices by citing ``docs/protocol.md §N`` and
``docs/dataset-sources.md §N``; a citation of a file outside the repository, or of a section that was renumbered
away, sends a reader nowhere.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("src", "tests", "docs", "data_manifest", "configs", "benchmarks", "paper", "notebooks", "README.md",
           "Makefile")
SUFFIXES = {".py", ".md", ".yaml", ".yml", ".qmd", ".ipynb", ""}
CITATION = re.compile(r"docs/(protocol|dataset-sources)\.md §(\d+)")
OUTSIDE = re.compile(r"(?<![\w-])(PROTOCOL|DATASETS)\.md")


def _files() -> list[Path]:
    out: list[Path] = []
    for name in SCANNED:
        p = ROOT / name
        if p.is_file():
            out.append(p)
        elif p.is_dir():
            out += [f for f in p.rglob("*") if f.is_file() and f.suffix in SUFFIXES and "executed" not in f.parts
                    and "_build" not in f.parts and "__pycache__" not in f.parts]
    return sorted(out)


def _sections(doc: str) -> set[str]:
    text = (ROOT / "docs" / f"{doc}.md").read_text(encoding="utf-8")
    return set(re.findall(r"^## (\d+)\. ", text, flags=re.MULTILINE))


def test_citations_name_existing_sections() -> None:
    sections = {doc: _sections(doc) for doc in ("protocol", "dataset-sources")}
    assert sections["protocol"] >= {str(i) for i in range(1, 11)}
    assert sections["dataset-sources"] >= {str(i) for i in range(0, 20)}
    bad, n = [], 0
    for f in _files():
        for doc, num in CITATION.findall(f.read_text(encoding="utf-8", errors="replace")):
            n += 1
            if num not in sections[doc]:
                bad.append(f"{f.relative_to(ROOT)}: docs/{doc}.md §{num}")
    assert n > 50, "the scan found too few citations: is the pattern still the one the code uses?"
    assert not bad, "citations of sections that do not exist:\n" + "\n".join(bad)


def test_no_reference_to_files_outside_the_repository() -> None:
    this = Path(__file__).resolve()
    bad = [f"{f.relative_to(ROOT)}:{i}" for f in _files() if f.resolve() != this
           for i, line in enumerate(f.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
           if OUTSIDE.search(line)]
    assert not bad, "references to PROTOCOL.md / DATASETS.md (not in the repository); cite docs/protocol.md or " \
                    "docs/dataset-sources.md instead:\n" + "\n".join(bad)
