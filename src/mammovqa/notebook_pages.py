"""The executed stage notebooks of a run as static HTML pages under ``docs/notebooks/<run>/``.

Why: the executed notebooks are what a reader is meant to read, but they live in ``notebooks/executed/`` (not
committed, and made only by running everything). Published as HTML in the repository, next to an index page that
the README links, a reader sees every table, figure and sentence of the default run without running anything.
The pages are deterministic for deterministic notebooks: run-time metadata (papermill timings, kernel start
times, execution counts) is dropped before rendering, so re-publishing an unchanged run changes no byte.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

from .io import write_text_atomic
from .paths import ROOT, RunPaths
from .runargs import run_arguments

DOCS_NOTEBOOKS = ROOT / "docs" / "notebooks"


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
    body, _ = HTMLExporter(template_name="lab", embed_images=True).from_notebook_node(nb)
    return body


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
    """Write ``<stem>.html`` for every executed notebook of ``run`` and an ``index.md``; the paths written."""
    src = run.executed
    notebooks = sorted(p for p in src.glob("*.ipynb") if not p.name.endswith(".tmp.ipynb"))
    if not notebooks:
        from .errors import MammoVQAError

        raise MammoVQAError(f"no executed notebooks in {src}: run `make all` for this run first")
    out = Path(out_dir) if out_dir else DOCS_NOTEBOOKS / run.name
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for nb in notebooks:
        path = out / f"{nb.stem}.html"
        write_text_atomic(path, notebook_html(nb))
        written.append(path)
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
