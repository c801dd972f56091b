"""Executed notebooks published as HTML: real nbformat/nbconvert, deterministic, with an index page."""

from pathlib import Path

import nbformat
import pytest

from mammovqa.errors import MammoVQAError
from mammovqa.notebook_pages import STYLESHEET, publish, split_template_css
from mammovqa.paths import RunPaths

PNG_1PX = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg==")


def _executed(run: RunPaths, name: str, started: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"start_time": started, "duration": 1.5}
    cell = nbformat.v4.new_code_cell("print(41 + 1)")
    cell.execution_count = 7
    cell.metadata["papermill"] = {"start_time": started}
    cell.outputs = [nbformat.v4.new_output("stream", text="42\n"),
                    nbformat.v4.new_output("display_data", data={"image/png": PNG_1PX, "text/plain": "<Figure>"})]
    cell.id = "c02"  # the committed notebooks' cell ids are fixed; nbformat would draw new ones
    md = nbformat.v4.new_markdown_cell("# Weighted accuracy")
    md.id = "c01"
    nb.cells = [md, cell]
    run.executed.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, run.executed / f"{name}.ipynb")


def test_pages_hold_outputs_and_do_not_change_with_run_times(tmp_path: Path) -> None:
    run = RunPaths("phantom", "smoke", 0, root=tmp_path)
    _executed(run, "01_dataset_stats", "2026-12-01T10:00:00")
    first = {p.name: p.read_bytes() for p in publish(run, tmp_path / "out")}
    _executed(run, "01_dataset_stats", "2026-12-02T11:11:11")  # same results, another run time
    second = {p.name: p.read_bytes() for p in publish(run, tmp_path / "out")}
    assert first == second and set(first) == {"01_dataset_stats.html", "notebook.css", "index.md"}
    page = first["01_dataset_stats.html"].decode()
    assert "Weighted accuracy" in page and "42" in page and "data:image/png;base64" in page
    assert "2026-12-01" not in page
    index = first["index.md"].decode()
    assert "(01_dataset_stats.html)" in index and "Synthetic phantom data" in index


def test_no_executed_notebooks_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(MammoVQAError, match="make all"):
        publish(RunPaths("phantom", "smoke", 0, root=tmp_path), tmp_path / "out")


def test_template_stylesheet_written_once_and_linked_from_every_page(tmp_path: Path) -> None:
    run = RunPaths("phantom", "smoke", 0, root=tmp_path)
    for name in ("01_dataset_stats", "02_zero_shot"):
        _executed(run, name, "2026-12-01T10:00:00")
    out = {p.name: p.read_text() for p in publish(run, tmp_path / "out")}
    css = out[STYLESHEET]
    assert len(css) > 50_000 and ".jp-Notebook" in css  # the lab template's own stylesheet, not a fragment
    for name in ("01_dataset_stats.html", "02_zero_shot.html"):
        head = out[name].split("</head>")[0]
        assert head.count(f'href="{STYLESHEET}"') == 1 and '<style type="text/css">' not in head
        assert "<title>" + name[:-5] + "</title>" in head
    assert sum(len(t) for t in out.values()) < 2 * len(css)  # each page no longer carries the sheet inline


def test_split_keeps_style_order_and_leaves_pages_without_template_css_alone() -> None:
    page = ('<html><head><title>t</title><style type="text/css">a{}</style>\n<script>x</script>'
            '<style type="text/css">b{}</style>\n<style>c{}</style></head><body><style type="text/css">d{}'
            '</style></body></html>')
    linked, css = split_template_css(page)
    assert css == "a{}\nb{}"
    assert linked.index(STYLESHEET) < linked.index("<script>x</script>") < linked.index("<style>c{}</style>")
    assert '<style type="text/css">d{}</style>' in linked  # only the head's template blocks move
    plain = "<html><head><style>c{}</style></head><body></body></html>"
    assert split_template_css(plain) == (plain, "")
