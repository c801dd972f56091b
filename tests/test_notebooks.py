"""The stage notebooks are source code: edited as .ipynb, linted by ruff, thin (logic lives in src/mammovqa)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_notebooks_exist() -> None:
    assert len(NOTEBOOKS) >= 6


def test_notebooks_pass_ruff() -> None:
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--output-format", "concise",
                           *map(str, NOTEBOOKS)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_parameters_cell_and_pinned_kernel(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: exactly one cell tagged 'parameters'"
    assert nb.metadata["kernelspec"]["name"] == "mammovqa"
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit notebooks without outputs"


#: The most lines of code (imports, blank lines and comments not counted) a stage notebook cell may hold: longer
#: cells are logic that belongs in a tested function in src/mammovqa.
MAX_CELL_LINES = 25


def code_lines(source: str) -> int:
    """Lines of a cell that are code: not blank, not a comment, not part of an import statement."""
    import ast

    imports = {n for node in ast.walk(ast.parse(source)) if isinstance(node, (ast.Import, ast.ImportFrom))
               for n in range(node.lineno, node.end_lineno + 1)}
    return sum(1 for i, line in enumerate(source.splitlines(), 1)
               if line.strip() and not line.lstrip().startswith("#") and i not in imports)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_code_cells_are_short(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    longest = max((code_lines(c.source), c.get("id", "?")) for c in nb.cells if c.cell_type == "code")
    assert longest[0] <= MAX_CELL_LINES, (f"{path.name}: cell {longest[1]} has {longest[0]} lines of code (at "
                                          f"most {MAX_CELL_LINES}); move its logic into src/mammovqa and test it")


def test_code_lines_leave_out_imports_and_comments() -> None:
    assert code_lines("import os\nfrom a import (\n    b,\n    c,\n)\n\n# why\nx = 1\ny = 2\n") == 2
