"""Write stage notebooks from cell lists (keeps notebook JSON uniform: pinned kernel, tagged parameters cell).

Usage: python tools/nbtools.py  (rewrites every notebook defined in tools/notebook_specs.py)
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def make_notebook(path: Path, title: str, parameters: str, cells: list[tuple[str, str]]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "mammovqa", "display_name": "Python (mammovqa)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells.append(nbformat.v4.new_markdown_cell(title))
    p = nbformat.v4.new_code_cell(parameters)
    p.metadata["tags"] = ["parameters"]
    nb.cells.append(p)
    for kind, src in cells:
        cell = nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src)
        nb.cells.append(cell)
    for i, cell in enumerate(nb.cells):  # stable ids: identical notebook bytes on every regeneration
        cell["id"] = f"c{i:02d}"
    nbformat.write(nb, path)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "tools"))
    import notebook_specs

    for name, spec in notebook_specs.NOTEBOOKS.items():
        make_notebook(ROOT / "notebooks" / name, *spec)
        print("wrote", name)
