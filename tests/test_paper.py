"""Manuscript build: the real pandoc + typst fallback on a fake run, and the checks that guard it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from mammovqa import paper
from mammovqa.outputs import PHANTOM_NOTE, write_table, write_variables
from mammovqa.paths import PAPER_DIR, RunPaths

SMALL_QMD = """---
title: "A small test manuscript"
abstract: |
  The benchmark held {{< var stats_n_items >}} items [@lee2017cbisddsm].
---

# Results

We scored {{< var stats_n_images >}} images with Qwen2.5-VL-7B and BLIP-2 (@fig-alpha, @fig-beta and @fig-gamma);
@tbl-first and @tbl-second list the metrics. LoRA used rank {{< var protocol_lora_r >}} [@hu2022lora].
{{< var extra_sentence >}}

![Alpha panel.](figures/alpha.png){#fig-alpha}

![Beta panel](figures/beta.png){#fig-beta}

![Gamma panel.](figures/gamma.png){#fig-gamma}

: First table. {#tbl-first}

{{< include tables/first.md >}}

: Second table. {#tbl-second}

{{< include tables/second.md >}}

# References {.unnumbered}

::: {#refs}
:::
"""

FIGURE_SIZES = {"alpha": (2.0, 1.5), "beta": (2.4, 1.6), "gamma": (3.0, 1.2)}  # distinct pixel sizes


def _figure(path: Path, size: tuple[float, float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=size)
    ax.plot([0, 1, 2], [1, 0, 2])
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=40)
    plt.close(fig)


def make_run(root: Path, qmd_text: str = SMALL_QMD, extra_sentence: str = "No further numbers.") -> tuple[RunPaths, Path]:
    """A phantom run with three figures, two tables and one variable file, plus a small manuscript."""
    run = RunPaths("phantom", "default", 0, root=root)
    for stem, size in FIGURE_SIZES.items():
        _figure(run.figures / f"{stem}.png", size)
    write_table(pd.DataFrame({"model": ["a", "b"], "weighted": [51.234, 33.3]}), run.tables / "first", note=PHANTOM_NOTE)
    write_table(pd.DataFrame({"topic": ["View"], "n": [12]}), run.tables / "second")
    write_variables(run, "stats", {"n_items": "1,234", "n_images": "321"})
    write_variables(run, "extra", {"sentence": extra_sentence})
    qmd = root / "small.qmd"
    qmd.write_text(qmd_text, encoding="utf-8")
    return run, qmd


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunPaths, dict[str, Path]]:
    run, qmd = make_run(tmp_path_factory.mktemp("small"))
    return run, paper.render(run, source_qmd=qmd, use_quarto=False)


def test_fallback_writes_pdf_and_html(small):
    run, out = small
    assert out["pdf"] == run.paper_build / "paper.pdf" and out["pdf"].read_bytes()[:5] == b"%PDF-"
    assert out["html"] == run.paper_build / "paper.html" and out["html"].stat().st_size > 0


def test_every_figure_is_embedded_in_the_pdf(small):
    run, out = small
    sizes = sorted(paper._png_size(run.figures / f"{s}.png") for s in FIGURE_SIZES)
    embedded = paper.pdf_images(out["pdf"])
    assert len(set(sizes)) == 3
    assert all(s in embedded for s in sizes), (sizes, embedded)
    html = out["html"].read_text(encoding="utf-8")
    assert len(re.findall(r"<img[^>]+src=\"data:image/png", html)) == 3


def test_check_pdf_notices_a_figure_that_is_not_embedded(small, tmp_path):
    run, out = small
    stray = tmp_path / "stray.png"
    _figure(stray, (4.0, 4.0))
    figures = {"fig-alpha": run.paper_build / "figures" / "alpha.png", "fig-stray": stray}
    problems = paper.check_pdf(out["pdf"], figures)
    assert len(problems) == 1 and "fig-stray" in problems[0] and "fig-alpha" not in problems[0]


def test_cross_references_are_numbered(small):
    run, out = small
    html = out["html"].read_text(encoding="utf-8")
    for label, target in [("Figure 1", "fig-alpha"), ("Figure 2", "fig-beta"), ("Figure 3", "fig-gamma"),
                          ("Table 1", "tbl-first"), ("Table 2", "tbl-second")]:
        assert f'<a href="#{target}">{label}</a>' in html, label
    assert "Figure 1: Alpha panel." in html
    typ = (run.paper_build / "paper.typ").read_text(encoding="utf-8")
    assert "@fig-gamma" in typ and "<fig-gamma>" in typ and "<tbl-second>" in typ
    assert "#cite(<fig-" not in typ


def test_citations_are_resolved(small):
    run, out = small
    html = out["html"].read_text(encoding="utf-8")
    assert "curated mammography data set" in html.lower()  # CBIS-DDSM entry in the citeproc bibliography
    assert "low-rank adaptation" in html.lower()
    assert not re.search(r"<strong>[\w-]+\?</strong>", html)
    typ = (run.paper_build / "paper.typ").read_text(encoding="utf-8")
    assert '#bibliography(("references.bib"))' in typ


def test_variables_and_tables_are_substituted(small):
    run, out = small
    html = out["html"].read_text(encoding="utf-8")
    assert "1,234" in html and "321" in html and "51.23" in html
    assert "{{" not in html


def test_phantom_notice_on_first_page_and_in_every_caption(small):
    run, out = small
    html = out["html"].read_text(encoding="utf-8")
    assert "Data notice" in html
    assert html.index("Data notice") < html.index('<h1 id="results"')  # above the first section
    for caption in re.findall(r"<figcaption[^>]*>(.*?)</figcaption>", html, re.S):
        assert PHANTOM_NOTE in caption
    typ = (run.paper_build / "paper.typ").read_text(encoding="utf-8")
    assert typ.index("Data notice") < typ.index("= Results")
    assert typ.count(PHANTOM_NOTE) >= 3 + 2  # three figure and two table captions, plus the notice


def test_hand_typed_number_is_caught(tmp_path):
    run, qmd = make_run(tmp_path)
    qmd.write_text(SMALL_QMD + "\nThe gain was 87.5 points.\n", encoding="utf-8")
    with pytest.raises(paper.PaperError, match="87.5"):  # typed into the text: no source
        paper.prepare(run, qmd)
    write_variables(run, "extra", {"sentence": "The gain was 87.5 points."})
    qmd.write_text(SMALL_QMD, encoding="utf-8")
    assert "87.5" in paper.prepare(run, qmd).qmd.read_text(encoding="utf-8")  # from a variable: fine


def test_check_numbers_traceable_rules():
    variables = {"stats_n": "1,234", "x_gain": "-3.2"}
    text = ("See @fig-a, Figure 2 and Table 3 [@lee2017cbisddsm]. Qwen2.5-VL-7B and BLIP-2 on ViT-B/14. "
            "We saw 1234 and 3.2 and 5 cases ![cap](figures/x2.png){#fig-x width=50%}.\n| 9 | 10 |\n")
    assert [p.split("'")[1] for p in paper.check_numbers_traceable(text, variables)] == ["5"]
    assert paper.check_numbers_traceable("A learning rate of 2e-5.", {}) != []


def test_unknown_variable_raises(tmp_path):
    run, qmd = make_run(tmp_path, SMALL_QMD.replace("{{< var stats_n_images >}}", "{{< var stats_no_such_thing >}}"))
    with pytest.raises(paper.PaperError, match="stats_no_such_thing"):
        paper.render(run, source_qmd=qmd, use_quarto=False)


def test_missing_figure_is_an_error_unless_allowed(tmp_path):
    run, qmd = make_run(tmp_path)
    (run.figures / "beta.png").unlink()
    with pytest.raises(paper.PaperError, match="beta.png"):
        paper.prepare(run, qmd)
    prep = paper.prepare(run, qmd, allow_missing=True)
    assert (prep.build_dir / "figures" / "beta.png").exists()
    assert any("beta.png" in m for m in prep.missing)


def test_unresolved_cross_reference_fails(tmp_path):
    run, qmd = make_run(tmp_path, SMALL_QMD.replace("@fig-gamma)", "@fig-nowhere)"))
    with pytest.raises(paper.PaperError, match="fig-nowhere"):
        paper.render(run, source_qmd=qmd, formats=("html",), use_quarto=False)


def test_real_manuscript_renders_with_placeholders(tmp_path):
    run, _ = make_run(tmp_path)
    out = paper.render(run, allow_missing=True, use_quarto=False)
    prep_missing = (run.paper_build / "MISSING.txt").read_text(encoding="utf-8")
    assert "figure" in prep_missing and "variable" in prep_missing
    assert len(paper.pdf_images(out["pdf"])) >= len(paper.REQUIRED_FIGURES)
    html = out["html"].read_text(encoding="utf-8")
    for stem in paper.REQUIRED_FIGURES:
        assert f'id="fig-{stem.replace("_", "-")}"' in html, stem
    for stem in paper.REQUIRED_TABLES:
        assert f'id="tbl-{stem.replace("_", "-")}"' in html, stem


def test_manuscript_uses_every_expected_figure_and_table():
    assert paper.unused_expectations(PAPER_DIR / "index.qmd") == {"figures": [], "tables": []}


def _section(text: str, title: str) -> str:
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0].split("\n# ", 1)[0]


def test_statistical_methods_are_the_parameters_used():
    """Measured: the Methods said BCa intervals resampling patients, a "pre-specified margin of 5 points" and
    Benjamini-Hochberg for paired tests, while the run used percentile intervals on record_id, an absolute
    margin and Holm. The Statistics section is now the text generated from the plan the notebook ran with."""
    from mammovqa.stats.plan import load_plan, methods_text

    source = (PAPER_DIR / "index.qmd").read_text(encoding="utf-8")
    stats_section = _section(source, "Statistics")
    assert "{{< var significance_methods_text >}}" in stats_section
    for stale in ("bias-corrected", "Benjamini", "pre-specified margin", "resample patients, not questions"):
        assert stale not in stats_section
    plan = load_plan()
    used = plan.with_overrides(n_boot=777, interval="bca")
    text = methods_text(used, (3, 9), 5, 2, 1, used.overrides(plan))
    rendered, _ = paper.substitute_variables(stats_section, {"significance_methods_text": text},
                                             allow_missing=True)
    assert "over 777 resamples of patients" in rendered and "(BCa)" in rendered
    assert f"margins of {100 * plan.margin_relative:g}% of the no-information level" in rendered
    assert "this run overrode interval, n boot." in rendered


def test_methods_describe_the_run_not_the_original_recipe(tmp_path):
    """Measured: "The zero-shot panel holds the 12 models ... each run from local weights" (none ran), the
    LLaVA-NeXT LoRA recipe (the run fully fine-tuned a random-init 1.34 M model). Now the run's files decide."""
    run = RunPaths("phantom", "smoke", 0, root=tmp_path)
    text = paper.zero_shot_text({"zeroshot_n_models_run": "0", "zeroshot_n_models_skipped": "12"})
    assert text.startswith("No zero-shot model was available in this run")
    assert paper.zero_shot_text({"zeroshot_n_models_run": "3", "zeroshot_n_models_skipped": "9"}).startswith(
        "In this run 3 of these models ran")
    assert paper.training_text(run) == "No fine-tuned model was trained in this run."
    train = run.results / "train" / "tiny-vlm-mammo"
    train.mkdir(parents=True)
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text("effective_batch_size: 32\nlearning_rate: 1.5e-3\nbf16: false\nmethod: full\n")
    (train / "train_summary.json").write_text(json.dumps({
        "base_model": "tiny-vlm", "method": "full", "parameters": {"total": 1341888}, "steps": 7,
        "train_items": 200, "recipe": "tiny-vlm-mammo", "recipe_file": str(recipe)}))
    text = paper.training_text(run)
    for want in ("not LLaVA-NeXT", "1,341,888", "randomly initialised", "full fine-tuning, no LoRA",
                 "7 optimiser steps", "batch size of 32", "0.0015", "32-bit"):
        assert want in text, want
    cs = run.results / "train" / "closed_set"
    cs.mkdir(parents=True)
    (cs / "summary.json").write_text(json.dumps({"epochs": 1, "train_items": 9, "models": {
        "r50-mammo": {"pretrained": False}, "dinov2-mammo": {"pretrained": True}}}))
    text = paper.closed_set_text(run)
    assert "r50-mammo used randomly initialised backbones" in text and "dinov2-mammo used pretrained" in text
    assert "not DMID" in paper.report_text(run)
    pub = paper.run_variables(run, {})["run_published_text"]
    assert "pipeline check" in pub and "without a difference" in pub


def test_signed_differences_never_read_negative_above():
    """Measured: the abstract read "reached 0.0%, -24.6 points above random guessing" and the fine-tuned
    gains were printed "over the best zero-shot model" when no zero-shot model ran."""
    text = paper.finetune_text({"finetune_gain_over_random": "-24.6", "finetune_gain_over_zero_shot": "38.5",
                                "zeroshot_n_models_run": "0"})
    assert text == ("24.6 points below uniform random guessing and 38.5 points above the untrained architecture "
                    "check (no zero-shot model was available)")
    assert "-24.6" not in text
    ext = paper.external_text({"external_weighted_gain": "0.0", "external_absolute_gain": "2.5",
                               "zeroshot_n_models_run": "4"})
    assert ext == ("weighted accuracy was 0.0 points from the best zero-shot model, and its absolute accuracy "
                   "2.5 points above it")
    with_ci = paper.finetune_text({"finetune_gain_over_random": "-24.6", "finetune_gain_over_random_ci": "-26.0 to -23.1",
                                   "finetune_ci_level": "95", "finetune_gain_over_zero_shot": "n/a",
                                   "finetune_gain_over_zero_shot_ci": "n/a", "zeroshot_n_models_run": "3"})
    assert with_ci == ("24.6 points below uniform random guessing (95% CI of the difference -26.0 to -23.1) and an "
                       "unavailable difference from the best zero-shot model")
    merged = paper.finetune_text({"finetune_gain_over_zero_shot": "3.0", "finetune_gain_over_zero_shot_ci": "1.0-5.0",
                                  "zeroshot_n_models_run": "0"})
    assert merged.endswith("3.0 points above the untrained architecture check (no zero-shot model was available; 95% "
                           "CI of the difference 1.0-5.0)")


def test_figure_sizes_are_read_by_pillow_and_only_png_is_taken(tmp_path):
    from PIL import Image

    Image.new("L", (37, 21)).save(tmp_path / "f.png")
    Image.new("L", (37, 21)).save(tmp_path / "f.jpg")
    assert paper._png_size(tmp_path / "f.png") == (37, 21)
    for bad in (tmp_path / "f.jpg", tmp_path / "missing.png"):
        with pytest.raises(paper.PaperError, match="must be PNG"):
            paper._png_size(bad)


def test_pdf_images_lists_each_embedded_image_once(tmp_path):
    """pdf_images reads the PDF with pypdf: each page's image XObjects, with their pixel sizes."""
    from PIL import Image

    pages = [Image.new("RGB", (40, 30), "white"), Image.new("L", (25, 50))]
    pages[0].save(tmp_path / "two.pdf", save_all=True, append_images=pages[1:])
    assert sorted(paper.pdf_images(tmp_path / "two.pdf")) == [(25, 50), (40, 30)]


def test_smoke_runs_say_they_are_a_wiring_check_wherever_the_data_source_is_said(tmp_path):
    """Measured: the smoke abstract quoted the 0.0% of a fine-tuned model trained for seconds as a result."""
    smoke = paper.collect_variables(RunPaths("phantom", "smoke", 0, root=tmp_path))
    default = paper.collect_variables(RunPaths("phantom", "default", 0, root=tmp_path))
    assert smoke["data_source_note"].endswith(paper.SMOKE_NOTE) and "wiring check" in smoke["data_source_note"]
    assert "wiring check" not in default["data_source_note"]


def test_outputs_rewritten_after_their_notebook_ran_are_named(tmp_path):
    """Measured: a papermill run of notebook 05 with other parameters rewrote vars/, tables and figures while
    make said "Nothing to be done", and the next paper build mixed two parameter sets."""
    import os

    run = RunPaths("phantom", "smoke", 0, root=tmp_path)
    run.executed.mkdir(parents=True)
    run.variables.mkdir(parents=True)
    run.figures.mkdir(parents=True)
    for name, when in (("significance.json", 100), ("stats.json", 100)):
        (run.variables / name).write_text("{}")
        os.utime(run.variables / name, (when, when))
    (run.figures / "significance_forest.png").write_bytes(b"png")
    os.utime(run.figures / "significance_forest.png", (100, 100))
    for nb in ("01_dataset_stats", "05_significance"):
        (run.executed / f"{nb}.ipynb").write_text("{}")
        os.utime(run.executed / f"{nb}.ipynb", (200, 200))
    assert paper.rewritten_outside_make(run) == []  # as make leaves them: outputs older than their notebook
    os.utime(run.variables / "significance.json", (300, 300))  # a papermill run by hand
    os.utime(run.figures / "significance_forest.png", (300, 300))
    stale = paper.rewritten_outside_make(run)
    assert len(stale) == 2 and "vars/significance.json is newer than" in stale[0] and "05_significance" in stale[0]
    assert "significance_forest.png" in stale[1]


def test_the_notebook_to_variables_map_is_what_the_notebooks_write():
    """``NOTEBOOK_VARIABLES`` restates which variable files each notebook writes; it must not drift from the
    notebooks' own ``write_variables(run, "<stage>", ...)`` calls."""
    import re

    written = {}
    for nb in sorted((paper.PAPER_DIR.parent / "notebooks").glob("0*.ipynb")):
        code = "".join("".join(c["source"]) for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code")
        stages = tuple(re.findall(r'write_variables\(run, "([a-z_]+)"', code))
        if stages:
            written[nb.stem] = tuple(sorted(stages))
    assert written == {k: tuple(sorted(v)) for k, v in paper.NOTEBOOK_VARIABLES.items()}
