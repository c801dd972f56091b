"""The executed stage notebooks of a run as static HTML pages under ``docs/notebooks/<run>/``.

Why: the executed notebooks are what a reader is meant to read, but they live in ``notebooks/executed/`` (not
committed, and made only by running everything). Published as HTML in the repository, next to an index page that
the README links, a reader sees every table, figure and sentence of the default run without running anything.
The pages are deterministic for deterministic notebooks: run-time metadata (papermill timings, kernel start
times, execution counts) is dropped before rendering, so re-publishing an unchanged run changes no byte.
The nbconvert template's stylesheet (about 260 kB, the same for every page) is written once, as
``notebook.css``, and linked from each page instead of being repeated inline in all of them.
"""

from __future__ import annotations

import argparse
import copy
import re
from pathlib import Path

from .io import write_text_atomic
from .paths import ROOT, RunPaths
from .runargs import run_arguments

DOCS_NOTEBOOKS = ROOT / "docs" / "notebooks"
STYLESHEET = "notebook.css"
#: the template's stylesheet blocks in a page's <head> (nbconvert writes them as ``<style type="text/css">``)
_TEMPLATE_STYLE = re.compile(r'<style type="text/css">(.*?)</style>\n?', re.S)


def _without_run_metadata(nb):
    """A copy of ``nb`` without what changes from run to run while the results do not."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("papermill", None)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.execution_count = None
            for out in cell.get("outputs", []):
                if "execution_count" in out:
                    out["execution_count"] = None
    return nb


def notebook_html(path: Path) -> str:
    """One executed notebook as a standalone HTML page (images embedded), run metadata removed."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = _without_run_metadata(nbformat.read(path, as_version=4))
    body, _ = HTMLExporter(template_name="lab", embed_images=True).from_notebook_node(
        nb, resources={"metadata": {"name": path.stem}})
    return body


def split_template_css(page: str) -> tuple[str, str]:
    """(page with the head's template stylesheet replaced by a link to ``notebook.css``, that stylesheet).

    Only ``<style type="text/css">`` blocks inside ``<head>`` move; a page without them comes back unchanged
    with an empty stylesheet.
    """
    end = page.find("</head>")
    head, rest = (page[:end], page[end:]) if end >= 0 else ("", page)
    blocks = _TEMPLATE_STYLE.findall(head)
    if not blocks:
        return page, ""
    first = _TEMPLATE_STYLE.search(head)
    assert first is not None
    link = f'<link href="{STYLESHEET}" rel="stylesheet" type="text/css"/>\n'
    head = head[:first.start()] + link + _TEMPLATE_STYLE.sub("", head[first.start():])
    return head + rest, "\n".join(blocks)


def index_page(run: RunPaths, names: list[str]) -> str:
    """A Markdown index of the published pages, with where they came from and how to make them again."""
    lines = [f"# Executed notebooks of the run `{run.name}`", "",
             "Static copies of the stage notebooks as `make all` executed them for this run "
             f"(`notebooks/executed/{run.name}/`). Every number and figure in them was computed by the pipeline "
             f"from the run's own files. Made by `make docs-notebooks PROFILE={run.profile}` "
             "(`python -m mammovqa.notebook_pages`).", ""]
    if run.source == "phantom":
        lines += ["*Synthetic phantom data, not real mammograms: these pages show what the pipeline computes, "
                  "not findings about real patients.*", ""]
    lines += [f"- [{n}]({n}.html)" for n in names]
    return "\n".join(lines) + "\n"


def publish(run: RunPaths, out_dir: Path | None = None) -> list[Path]:
    """Write ``<stem>.html`` for every executed notebook of ``run``, their shared ``notebook.css`` and an
    ``index.md``; the paths written. A page whose template stylesheet differs from the first page's keeps its
    own inline (never a page styled by another page's sheet)."""
    src = run.executed
    notebooks = sorted(p for p in src.glob("*.ipynb") if not p.name.endswith(".tmp.ipynb"))
    if not notebooks:
        from .errors import MammoVQAError

        raise MammoVQAError(f"no executed notebooks in {src}: run `make all` for this run first")
    out = Path(out_dir) if out_dir else DOCS_NOTEBOOKS / run.name
    out.mkdir(parents=True, exist_ok=True)
    written, shared = [], None
    for nb in notebooks:
        page = notebook_html(nb)
        linked, css = split_template_css(page)
        if css and shared is None:
            shared = css
        path = out / f"{nb.stem}.html"
        write_text_atomic(path, linked if css and css == shared else page)
        written.append(path)
    if shared is not None:
        write_text_atomic(out / STYLESHEET, shared)
        written.append(out / STYLESHEET)
    index = out / "index.md"
    write_text_atomic(index, index_page(run, [p.stem for p in notebooks]))
    return [*written, index]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mammovqa.notebook_pages", parents=[run_arguments()],
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="folder (default: docs/notebooks/<run>/)")
    args = ap.parse_args(argv)
    for p in publish(RunPaths(args.source, args.profile, args.seed), args.out):
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
