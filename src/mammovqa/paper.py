"""Build the manuscript (PDF and HTML) of one run from its figures, tables and variable files.

Why a module and not only ``quarto render paper``: the manuscript must be rebuilt for any run
(source x profile x seed) without hand edits, every number in the text must come from a stage's
variable file, and the build must work where Quarto cannot be installed. So the renderer

1. prepares ``paper/_build/<run>/``: the manuscript with every ``{{< var >}}`` and ``{{< include >}}``
   shortcode resolved, the data-source note appended to every caption, a data notice under the title
   for phantom runs, and the run's figures and tables copied next to it (Quarto needs static paths);
2. renders it with ``quarto render`` when Quarto is on PATH, otherwise with pandoc (from
   ``pypandoc_binary``) -> typst (the ``typst`` package) for the PDF and pandoc -> standalone HTML,
   using ``paper/filters/crossref.lua`` for figure and table cross-references;
3. checks the outputs: every figure embedded, no unresolved reference or citation, and no number in
   the prose that has no source in the variables.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import MammoVQAError
from .io import atomic_path, write_text_atomic
from .outputs import PHANTOM_NOTE, data_note, read_variables
from .paths import PAPER_DIR, RunPaths, relative_to_root
from .published import published_variables
from .runargs import run_arguments

# ------------------------------------------------------------------ what the stages must produce
# One place for the lead to align the stages with the manuscript; edit freely. A stem listed here
# but not used in the .qmd is reported by `unused_expectations`, one used but not listed is fine.

REQUIRED_FIGURES: list[str] = [
    "dataset_composition", "label_distribution", "qa_gallery", "phantom_gallery",
    "zero_shot_weighted_accuracy", "matcher_disagreement", "training_curves", "finetune_vs_zero_shot",
    "confusion_matrices", "external_vs_internal", "significance_forest", "abs_vs_weighted",
    "balance_vs_gap", "breast_vs_finding", "position_bias", "report_metrics", "birads_confusion",
    "real_dicom_masking", "realism", "open_fact_accuracy",
]
REQUIRED_TABLES: list[str] = [
    "dataset_composition", "zero_shot_metrics", "finetune_metrics", "external_metrics", "significance",
    "power", "report_metrics", "published_vs_reproduced", "data_audit", "realism", "finetune_intervals",
    "external_intervals", "open_fact_accuracy_wide",
]
#: Stage prefixes of variables (``<stage>_<name>``) the manuscript reads; protocol_/published_ are the
#: paper's own (``paper/protocol_vars.yaml``, ``paper/published.yaml``), data_source_note is derived.
VARIABLE_STAGES: tuple[str, ...] = ("stats", "realism", "zeroshot", "finetune", "external", "significance", "report",
                                   "open")

FIGURE_SUFFIX = ".png"
#: Numbers allowed in prose without a variable. Kept empty on purpose: protocol constants live in
#: ``paper/protocol_vars.yaml`` so that they, too, have one written source.
ALLOWED_NUMBERS: frozenset[str] = frozenset()

# ------------------------------------------------------------------ patterns
_VAR = re.compile(r"\{\{<\s*var\s+([^\s>]+)\s*>\}\}")
_INCLUDE = re.compile(r"\{\{<\s*include\s+([^\s>]+)\s*>\}\}")
_ANY_SHORTCODE = re.compile(r"\{\{<.*?>\}\}", re.S)
_BRACKETED = r"(?:[^\[\]]|\[[^\[\]]*\])*"  # caption text with at most one level of nested brackets
_FIGURE = re.compile(r"!\[(" + _BRACKETED + r")\]\((figures/[^)\s]+)\)(\{[^}]*\})?")
_TABLE_CAPTION = re.compile(r"^(:[ \t]+)(.*?)([ \t]*\{#tbl-[^}]*\})[ \t]*$", re.M)
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)---[ \t]*\n", re.S)
# A number: not glued to a word, path or name on its left (Qwen2.5-VL, BLIP-2, ViT-B/14), nor a letter
# on its right (7B, 4a); signs, thousands separators, decimals and exponents belong to the number.
_NUMBER = re.compile(r"(?<![\w./\\])(?<!\w-)(?<!\w\u2212)[-\u2212+]?\d+(?:,\d{3})*(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w])")


class PaperError(MammoVQAError):
    """The manuscript cannot be built as asked; the message lists everything at fault at once."""


@dataclass
class Prepared:
    """A build directory ready for rendering, and what went into it."""

    build_dir: Path
    qmd: Path
    figures: dict[str, Path] = field(default_factory=dict)  # figure id (fig-x) -> file in build_dir
    tables: list[str] = field(default_factory=list)  # table ids (tbl-x)
    missing: list[str] = field(default_factory=list)  # what allow_missing replaced by placeholders
    variables: dict[str, str] = field(default_factory=dict)


# ------------------------------------------------------------------ variables


def load_protocol_vars(path: Path) -> dict[str, str]:
    """Protocol constants (docs/protocol.md) quoted in the text; values are strings, exactly as printed."""
    if not path.exists():
        return {}
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    bad = [k for k in raw if not str(k).startswith("protocol_")]
    if bad:
        raise PaperError(f"{path}: protocol variables must start with 'protocol_': {bad}")
    return {str(k): str(v) for k, v in raw.items()}


def collect_variables(run: RunPaths, paper_dir: Path = PAPER_DIR) -> dict[str, str]:
    """Every variable the text may use: stage files, protocol constants, published numbers, data note.

    A name defined twice is an error, because then the text would have two sources for one number.
    """
    parts = {
        "stage files": read_variables(run),
        "protocol_vars.yaml": load_protocol_vars(paper_dir / "protocol_vars.yaml"),
        "published.yaml": published_variables(paper_dir / "published.yaml"),
    }
    merged: dict[str, str] = {}
    clashes: list[str] = []
    for origin, values in parts.items():
        for k, v in values.items():
            if k in merged:
                clashes.append(f"{k} ({origin})")
            merged[k] = v
    if clashes:
        raise PaperError(f"variables defined more than once: {sorted(clashes)}")
    for k, v in run_variables(run, merged).items():
        if k in merged:
            raise PaperError(f"variable {k} is generated by the paper build; a stage file must not define it")
        merged[k] = v
    merged.setdefault("data_source_note", data_note(run.source))
    if run.profile == "smoke":
        merged["data_source_note"] += " " + SMOKE_NOTE
    return merged


#: Said wherever the data source is said, on the smoke profile: its models train for seconds, so its numbers
#: check the wiring (every stage runs and writes what the next reads) and mean nothing about any model.
SMOKE_NOTE = ("Smoke profile: a wiring check of the pipeline with models trained for seconds; its numbers are "
              "not results.")


# ------------------------------------------------------------------ what this run did (Methods from the run)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _recipe(summary: dict[str, Any]) -> dict[str, Any]:
    """The training recipe a summary names (absolute path, or the file of that name under configs/train)."""
    from .paths import CONFIG_DIR

    ref = summary.get("recipe_file") or ""
    for cand in (Path(ref), CONFIG_DIR / "train" / Path(ref).name):
        if ref and cand.is_file():
            return yaml.safe_load(cand.read_text(encoding="utf-8")) or {}
    return {}


def _epochs(run: RunPaths, recipe: dict[str, Any]) -> Any:
    try:
        from .config import load_profiles

        return load_profiles()[run.profile].train_epochs
    except (MammoVQAError, KeyError, OSError):
        return recipe.get("epochs", "?")


def zero_shot_text(stage_vars: dict[str, str]) -> str:
    """Which zero-shot models ran in this run, from the zero-shot stage's counts."""
    n_run = stage_vars.get("zeroshot_n_models_run")
    skipped = stage_vars.get("zeroshot_n_models_skipped", "?")
    if n_run in (None, "", "0"):
        return (f"No zero-shot model was available in this run (weights for none of the {skipped} listed models "
                "were found); the untrained tiny VLM of the same architecture as the fine-tuned model stands in as "
                "an architecture check, and every \"zero-shot\" number below is that check, not a real model.")
    return f"In this run {n_run} of these models ran from local weights; {skipped} were not available."


def training_text(run: RunPaths) -> str:
    """The fine-tuning actually run: base model, method, size, steps, recipe values, precision."""
    summary = _read_json(run.results / "train" / "tiny-vlm-mammo" / "train_summary.json")
    if not summary:
        return "No fine-tuned model was trained in this run."
    recipe = _recipe(summary)
    params = summary.get("parameters", {})
    base = str(summary.get("base_model", "?"))
    init = ("randomly initialised (no pretrained weights)" if base.startswith("tiny-vlm")
            else "initialised from its pretrained weights")
    method = summary.get("method", recipe.get("method", "?"))
    how = "all parameters trained (full fine-tuning, no LoRA)" if method == "full" else f"{method} adapters"
    precision = "bfloat16" if recipe.get("bf16") else "32-bit floating point"
    return (f"In this run the fine-tuned model is not LLaVA-NeXT: it is {base}, a {int(params.get('total', 0)):,} "
            f"parameter vision-language model, {init}, with {how}, trained for {_epochs(run, recipe)} epoch(s) "
            f"({summary.get('steps', '?')} optimiser steps over {summary.get('train_items', '?')} training items) "
            f"at an effective batch size of {recipe.get('effective_batch_size', '?')} and a learning rate of "
            f"{recipe.get('learning_rate', '?')} in {precision} (recipe `{summary.get('recipe', '?')}`).")


def closed_set_text(run: RunPaths) -> str:
    """Closed-set baselines as run: which backbones were pretrained, epochs."""
    summary = _read_json(run.results / "train" / "closed_set" / "summary.json")
    models = summary.get("models", {})
    if not models:
        return "No closed-set baseline was trained in this run."
    random_init = sorted(m for m, d in models.items() if not d.get("pretrained"))
    pretrained = sorted(m for m, d in models.items() if d.get("pretrained"))
    parts = []
    if random_init:
        parts.append(f"{', '.join(random_init)} used randomly initialised backbones (no pretrained weights were "
                     "found), so they are trained from scratch rather than probed")
    if pretrained:
        parts.append(f"{', '.join(pretrained)} used pretrained frozen backbones")
    return (f"In this run {'; '.join(parts)}, for {summary.get('epochs', '?')} epoch(s) on "
            f"{summary.get('train_items', '?')} training items.")


def report_text(run: RunPaths) -> str:
    """The report-generation model and data of this run."""
    summary = _read_json(run.results / "train" / "tiny-vlm-report" / "train_summary.json")
    data = ("synthetic phantom reports written by the project's report grammar, not DMID" if run.source == "phantom"
            else "the DMID reports")
    if not summary:
        return f"No report-generation model was trained in this run (data: {data})."
    params = summary.get("parameters", {})
    base = str(summary.get("base_model", "?"))
    init = "randomly initialised" if base.startswith("tiny-vlm") else "from pretrained weights"
    return (f"In this run the report model is {base} "
            f"({int(params.get('total', 0)):,} parameters, {init}, "
            f"{summary.get('method', '?')} fine-tuning, not MedGemma with LoRA), trained on {data}.")


def _signed(value: str | None) -> str:
    """'12.3 points above' / '4.5 points below' / '0.0 points from' from a signed number, so that no sentence
    says '-4.5 points above'."""
    try:
        x = float(str(value).replace("\u2212", "-"))
    except (TypeError, ValueError):
        return "an unavailable difference from"
    text = str(value).lstrip("-\u2212")
    return f"{text} points {'above' if x > 0 else 'below' if x < 0 else 'from'}"


def comparator_name(stage_vars: dict[str, str]) -> str:
    """What "zero-shot" stands for in this run's comparisons."""
    if stage_vars.get("zeroshot_n_models_run") in (None, "", "0"):
        return "the untrained architecture check (no zero-shot model was available)"
    return "the best zero-shot model"


def _ci(stage_vars: dict[str, str], stage: str, quantity: str) -> str:
    """'95% CI of the difference 10.1 to 14.5' from the stage's interval variables, '' when the stage wrote none
    (a run from before the intervals existed), so no sentence shows an empty interval."""
    ci = stage_vars.get(f"{stage}_{quantity}_ci")
    if not ci or ci == "n/a":
        return ""
    return f"{stage_vars.get(f'{stage}_ci_level', '95')}% CI of the difference {ci}"


def _with_ci(phrase: str, ci: str) -> str:
    """``phrase`` followed by its interval in parentheses, merged into a parenthesis the phrase already ends with
    ("the check (no model ran; 95% CI ...)"), never two in a row."""
    if not ci:
        return phrase
    if phrase.endswith(")"):
        return f"{phrase[:-1]}; {ci})"
    return f"{phrase} ({ci})"


def finetune_text(stage_vars: dict[str, str]) -> str:
    """The fine-tuned model's differences from random guessing and the comparator, with their signs and the
    patient-clustered interval of each difference (same resample for both terms)."""
    comp = comparator_name(stage_vars)
    return (_with_ci(f"{_signed(stage_vars.get('finetune_gain_over_random'))} uniform random guessing",
                     _ci(stage_vars, "finetune", "gain_over_random")) + " and "
            + _with_ci(f"{_signed(stage_vars.get('finetune_gain_over_zero_shot'))} {comp}",
                       _ci(stage_vars, "finetune", "gain_over_zero_shot")))


def external_text(stage_vars: dict[str, str]) -> str:
    """External gains over the comparator, signed, each with its paired patient-clustered interval."""
    comp = comparator_name(stage_vars)
    return (_with_ci(f"weighted accuracy was {_signed(stage_vars.get('external_weighted_gain'))} {comp}",
                     _ci(stage_vars, "external", "weighted_gain")) + ", and its absolute accuracy "
            + _with_ci(f"{_signed(stage_vars.get('external_absolute_gain'))} it",
                       _ci(stage_vars, "external", "absolute_gain")))


def run_variables(run: RunPaths, stage_vars: dict[str, str]) -> dict[str, str]:
    """Methods sentences generated from the run's own files (``run_*``), so the text says what ran."""
    published = ("The table below is a pipeline check on synthetic data: it lists each published headline "
                 "number beside the value the same computation gives on this run's phantom data, without a "
                 "difference, because phantom values cannot reproduce or contradict real-data results."
                 if run.source == "phantom" else
                 "The table below sets every headline number of the reproduced publications next to the value of "
                 "this run.")
    return {"run_zero_shot_text": zero_shot_text(stage_vars), "run_training_text": training_text(run),
            "run_closed_set_text": closed_set_text(run), "run_report_text": report_text(run),
            "run_published_text": published, "run_finetune_text": finetune_text(stage_vars),
            "run_external_text": external_text(stage_vars),
            "run_published_caption": ("Pipeline check on synthetic data: published headline numbers beside the "
                                      "values this run's computation gives on phantom data (no difference shown)."
                                      if run.source == "phantom" else
                                      "Published headline numbers and their reproduction in this run.")}


def substitute_variables(text: str, variables: dict[str, str], allow_missing: bool = False) -> tuple[str, list[str]]:
    """Replace every ``{{< var name >}}``; an unknown name is an error unless ``allow_missing``."""
    missing = sorted({m.group(1) for m in _VAR.finditer(text) if m.group(1) not in variables})
    if missing and not allow_missing:
        raise PaperError(f"unknown manuscript variable(s): {missing}")

    def repl(m: re.Match[str]) -> str:
        name = m.group(1)
        return variables[name] if name in variables else f"**[missing variable: {name.replace('_', '-')}]**"

    return _VAR.sub(repl, text), missing


# ------------------------------------------------------------------ numbers without a source


def _number_key(token: str) -> str:
    return token.replace("\u2212", "-").replace(",", "").lstrip("+")


def _prose_only(text: str) -> str:
    """Drop everything that is not prose: markup, paths, citations, cross-references, tables."""
    m = _FRONT_MATTER.match(text)
    if m:
        meta = yaml.safe_load(m.group(1)) or {}
        kept = [str(meta.get(k, "")) for k in ("title", "subtitle", "abstract")]
        text = "\n\n".join(kept) + "\n\n" + text[m.end():]
    steps = [
        (r"<!--.*?-->", ""), (r"```.*?```", ""), (r"`[^`\n]*`", ""),
        (r"\]\([^)]*\)", "]"),  # link and image targets
        (r"\{[#.][^}]*\}|\{[^}\n]*=[^}\n]*\}", ""),  # attributes {#fig-x width=...}
        (r"\[[^\[\]]*@[^\[\]]*\]", ""), (r"@[\w:.#$%&+?<>~/-]+", ""),  # citations and cross-refs
        (r"https?://\S+", ""), (r"(?m)^[ \t]*[|+].*$", ""),  # URLs, table rows
        (r"\b(?:Figures?|Tables?|Sections?|Fig\.)\s+\d+", ""),
        (r"(?m)^#+[ \t]+[\d.]+", "#"), (r"\*\*\[missing variable: [^\]]*\]\*\*", ""),
    ]
    for pattern, repl in steps:
        text = re.sub(pattern, repl, text, flags=re.S)
    return text


def check_numbers_traceable(rendered_text: str, variables: dict[str, str],
                            allowed: frozenset[str] = ALLOWED_NUMBERS) -> list[str]:
    """Every number in the prose that does not occur in any variable value (hand-typed numbers).

    Why: a number typed into the manuscript silently goes stale when a stage is re-run; a number that
    came from a variable file cannot. Figure/table/section numbering, citations, markup and Markdown
    tables (whose numbers come from the stages' table files) are excluded. Returns the offending
    numbers with their context, empty when every number is traceable. Limitation: a hand-typed number
    that happens to equal some variable's value passes.
    """
    known: set[str] = set(allowed)
    for value in variables.values():
        for tok in _NUMBER.findall(str(value)):
            key = _number_key(tok)
            known.update({key, key.lstrip("-")})
    prose = _prose_only(rendered_text)
    problems = []
    for m in _NUMBER.finditer(prose):
        key = _number_key(m.group(0))
        if key not in known and key.lstrip("-") not in known:
            context = " ".join(prose[max(0, m.start() - 40): m.end() + 40].split())
            problems.append(f"{m.group(0)!r} in '...{context}...'")
    return problems


# ------------------------------------------------------------------ preparing the build directory


def _placeholder_png(path: Path, text: str) -> None:
    """A visible grey box saying what is missing, so numbering and cross-references still work."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (900, 300), (235, 235, 235))
    draw = ImageDraw.Draw(img)
    draw.rectangle([4, 4, 895, 295], outline=(183, 28, 28), width=6)
    draw.multiline_text((30, 110), text, fill=(183, 28, 28), font_size=28)
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")


def _fig_id(attrs: str | None) -> str | None:
    m = re.search(r"#(fig-[\w-]+)", attrs or "")
    return m.group(1) if m else None


def _with_note(caption: str, note: str) -> str:
    caption = caption.strip()
    if not note or note in caption:
        return caption
    return f"{caption}{'' if caption.endswith(('.', '!', '?')) else '.'} {note}"


def _resolve_figures(text: str, run: RunPaths, build: Path, note: str, allow_missing: bool,
                     missing: list[str]) -> tuple[str, dict[str, Path]]:
    figures: dict[str, Path] = {}

    def repl(m: re.Match[str]) -> str:
        caption, rel, attrs = m.group(1), m.group(2), m.group(3) or ""
        src = run.figures / Path(rel).relative_to("figures")
        dst = build / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.exists():
            shutil.copyfile(src, dst)
        else:
            missing.append(f"figure {src}")
            if allow_missing:
                _placeholder_png(dst, f"MISSING FIGURE\n{src.name}\n(not produced by the stages)")
                caption = f"[PLACEHOLDER: {src.name} missing] {caption}"
        fid = _fig_id(attrs)
        if fid:
            figures[fid] = dst
        return f"![{_with_note(caption, note)}]({rel}){attrs}"

    return _FIGURE.sub(repl, text), figures


def _resolve_sections(text: str, source_dir: Path, missing: list[str]) -> str:
    """Expand ``{{< include <file>.qmd >}}`` (manuscript sections, not ``tables/``) first, so that a section's
    variables, numbers and figures are resolved and checked like the main file's."""
    return _expand_includes(text, source_dir, missing, run=None)


def _resolve_includes(text: str, run: RunPaths, source_dir: Path, allow_missing: bool,
                      missing: list[str]) -> str:
    """Expand ``{{< include path >}}``; ``tables/<stem>.md`` comes from the run's table folder."""
    return _expand_includes(text, source_dir, missing, run=run)


def _expand_includes(text: str, source_dir: Path, missing: list[str], run: RunPaths | None) -> str:
    """The one include resolver: sections from ``source_dir``; with a ``run``, also ``tables/`` from its
    table folder (without one, table includes are left for later)."""

    def repl(m: re.Match[str]) -> str:
        rel = m.group(1)
        is_table = rel.startswith("tables/")
        if is_table and run is None:
            return m.group(0)
        src = run.tables / Path(rel).relative_to("tables") if is_table else source_dir / rel
        if src.exists():
            return src.read_text(encoding="utf-8").rstrip("\n")
        if is_table:
            missing.append(f"table {src}")
            return f"| MISSING TABLE |\n|:---|\n| {src.name} was not produced by the stages |"
        missing.append(f"include {src}")
        return f"**[missing section: {rel}]**"

    return _INCLUDE.sub(repl, text)


def _front_matter(text: str) -> tuple[dict[str, Any], str]:
    m = _FRONT_MATTER.match(text)
    if not m:
        return {}, text
    return yaml.safe_load(m.group(1)) or {}, text[m.end():]


def _phantom_block(note: str) -> str:
    return (
        '::: {.callout-warning .data-notice title="Data notice: synthetic phantom data"}\n'
        f"{note} Every image, number, figure and table in this document was computed from synthetic "
        "phantom images generated by the pipeline itself. They exercise the pipeline end to end; they say "
        "nothing about real mammograms or about any model's clinical ability.\n:::\n\n"
    )


def prepare(run: RunPaths, source_qmd: Path | None = None, allow_missing: bool = False,
            paper_dir: Path = PAPER_DIR) -> Prepared:
    """Write ``run.paper_build`` with a fully resolved manuscript and its figures, tables and assets."""
    source_qmd = Path(source_qmd or paper_dir / "index.qmd")
    build = run.paper_build
    for sub in ("figures", "tables"):
        shutil.rmtree(build / sub, ignore_errors=True)  # generated here only: stale files must not survive
    build.mkdir(parents=True, exist_ok=True)
    variables = collect_variables(run, paper_dir)
    note = variables["data_source_note"]
    missing: list[str] = []

    text = _resolve_sections(source_qmd.read_text(encoding="utf-8"), source_qmd.parent, missing)
    text, missing_vars = substitute_variables(text, variables, allow_missing=True)  # report all at the end
    missing += [f"unknown manuscript variable {v}" for v in missing_vars]
    untraced = check_numbers_traceable(text, variables)
    if untraced:
        raise PaperError(f"{source_qmd}: number(s) in the text with no source in the variables: {untraced}")
    text = _resolve_includes(text, run, source_qmd.parent, allow_missing, missing)
    text, figures = _resolve_figures(text, run, build, note, allow_missing, missing)
    text = _TABLE_CAPTION.sub(lambda m: f"{m.group(1)}{_with_note(m.group(2), note)}{m.group(3)}", text)
    leftover = sorted(set(_ANY_SHORTCODE.findall(text)))
    if leftover:
        raise PaperError(f"{source_qmd}: unsupported shortcode(s): {leftover}")
    if missing and not allow_missing:
        raise PaperError("the manuscript needs variables or files the stages did not produce:\n  "
                         + "\n  ".join(missing))

    meta, body = _front_matter(text)
    if run.source == "phantom" or note == PHANTOM_NOTE:
        meta["subtitle"] = f"Data notice: {note}"
        body = "\n" + _phantom_block(note) + body.lstrip("\n")
    meta.setdefault("bibliography", "references.bib")
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1_000_000)
    qmd = build / "index.qmd"
    write_text_atomic(qmd, f"---\n{front}---\n{body}")
    for asset in ("references.bib", "_quarto.yml"):
        if (paper_dir / asset).exists():
            shutil.copyfile(paper_dir / asset, build / asset)
    write_text_atomic(build / "_variables.yml", yaml.safe_dump(variables, sort_keys=True, allow_unicode=True))
    write_text_atomic(build / "MISSING.txt", "".join(f"{m}\n" for m in missing))
    tables = sorted(set(re.findall(r"\{#(tbl-[\w-]+)", text)))
    return Prepared(build, qmd, figures, tables, missing, variables)


# ------------------------------------------------------------------ rendering


def pandoc_path() -> str:
    """pandoc from PATH if present, else the one inside pypandoc_binary (a pinned dependency)."""
    import pypandoc

    return pypandoc.get_pandoc_path()


def _run_pandoc(args: list[str], cwd: Path) -> None:
    """Run pandoc; any warning (unresolved citation, missing resource) is an error."""
    proc = subprocess.run([pandoc_path(), *args, "--wrap=none", "--fail-if-warnings"], cwd=cwd, capture_output=True,
                          text=True, timeout=300)
    if proc.returncode != 0 or "[WARNING]" in proc.stderr:
        raise PaperError(f"pandoc {' '.join(args)} failed (rc {proc.returncode}):\n{proc.stderr.strip()}")


def render_pdf_fallback(prep: Prepared, paper_dir: Path = PAPER_DIR) -> Path:
    """Markdown -> typst (pandoc + crossref filter) -> PDF (typst). typst itself fails on a dangling ref."""
    import typst

    build = prep.build_dir
    typ = build / "paper.typ"
    _run_pandoc(["index.qmd", "-f", "markdown", "-t", "typst", "-s", "-o", typ.name,
                 "--lua-filter", str(paper_dir / "filters" / "crossref.lua"),
                 "--include-in-header", str(paper_dir / "templates" / "header.typ")], cwd=build)
    pdf = build / "paper.pdf"
    with atomic_path(pdf) as tmp:
        try:
            typst.compile(str(typ), output=str(tmp), root=str(build))
        except Exception as exc:  # typst raises its own error type with the diagnostics as text
            raise PaperError(f"typst could not compile {typ}:\n{exc}") from None
    return pdf


def render_html_fallback(prep: Prepared, paper_dir: Path = PAPER_DIR) -> Path:
    """Markdown -> standalone HTML with images embedded, citeproc citations and numbered cross-refs."""
    build = prep.build_dir
    html = build / "paper.html"
    with atomic_path(html) as tmp:
        _run_pandoc(["index.qmd", "-f", "markdown", "-t", "html5", "-s", "--embed-resources",
                     "--lua-filter", str(paper_dir / "filters" / "crossref.lua"),  # before citeproc
                     "--citeproc", "--metadata", "link-citations=true",
                     "--css", str(paper_dir / "templates" / "paper.css"), "-o", str(tmp)], cwd=build)
    return html


def render_quarto(prep: Prepared, formats: tuple[str, ...]) -> dict[str, Path]:
    """``quarto render`` of the prepared build directory (used whenever Quarto is installed)."""
    out: dict[str, Path] = {}
    for fmt in formats:
        to = "typst" if fmt == "pdf" else "html"
        proc = subprocess.run(["quarto", "render", "index.qmd", "--to", to], cwd=prep.build_dir,
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise PaperError(f"quarto render --to {to} failed:\n{proc.stderr.strip()}")
        produced = sorted(prep.build_dir.rglob(f"index.{fmt}"), key=lambda p: p.stat().st_mtime)
        if not produced:
            raise PaperError(f"quarto render --to {to} produced no index.{fmt} under {prep.build_dir}")
        target = prep.build_dir / f"paper.{fmt}"
        shutil.copyfile(produced[-1], target)
        out[fmt] = target
    return out


# ------------------------------------------------------------------ checks of the outputs


def _png_size(path: Path) -> tuple[int, int]:
    """(width, height) of a figure, read by Pillow; anything but a PNG is refused (the paper embeds PNGs)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            fmt, size = im.format, im.size
    except (UnidentifiedImageError, OSError):
        fmt, size = None, (0, 0)
    if fmt != "PNG":
        raise PaperError(f"{path}: figures must be PNG files")
    return size


def pdf_images(pdf: Path) -> list[tuple[int, int]]:
    """(width, height) of every image XObject a page of the PDF draws (through form XObjects too), each image
    object once; soft masks (alpha channels) hang off their image, not a page, so they are not counted.
    Read by pypdf (it was a hand-written scanner; on the default run's manuscript both gave the same 21 images)."""
    from pypdf import PdfReader
    from pypdf.generic import IndirectObject

    seen: set[object] = set()
    images: list[tuple[int, int]] = []

    def walk(resources: Any) -> None:
        xobjects = resources.get_object().get("/XObject") if resources is not None else None
        for ref in (xobjects.get_object().values() if xobjects is not None else ()):
            key = (ref.idnum, ref.generation) if isinstance(ref, IndirectObject) else id(ref)
            if key in seen:
                continue
            seen.add(key)
            obj = ref.get_object()
            if obj.get("/Subtype") == "/Image":
                images.append((int(obj["/Width"]), int(obj["/Height"])))
            elif obj.get("/Subtype") == "/Form":
                walk(obj.get("/Resources"))

    for page in PdfReader(str(pdf)).pages:
        walk(page.get("/Resources"))
    return images


def check_pdf(pdf: Path, figures: dict[str, Path]) -> list[str]:
    """Problems with the PDF: absent, not a PDF, or some figure not embedded (matched by pixel size)."""
    if not pdf.exists() or pdf.read_bytes()[:5] != b"%PDF-":
        return [f"{pdf} is missing or not a PDF"]
    have = Counter(pdf_images(pdf))
    need = Counter(_png_size(p) for p in figures.values())
    short = need - have
    if not short:
        return []
    names = [f"{fid} ({figures[fid].name} {_png_size(figures[fid])})" for fid in figures
             if _png_size(figures[fid]) in short]
    return [f"{pdf}: figures not embedded: {names}"]


def check_html(html: Path, figure_ids: list[str], table_ids: list[str]) -> list[str]:
    """Problems with the HTML: a figure/table not there or not embedded, or an unresolved marker."""
    if not html.exists():
        return [f"{html} is missing"]
    text = html.read_text(encoding="utf-8")
    problems = [f"{html}: no element with id {i}" for i in [*figure_ids, *table_ids] if f'id="{i}"' not in text]
    embedded = len(re.findall(r"<img[^>]+src=\"data:image/", text))
    if embedded < len(figure_ids):
        problems.append(f"{html}: {embedded} embedded images for {len(figure_ids)} figures")
    for marker, what in (("??", "unresolved reference"), ("@fig-", "raw cross-reference"),
                         ("@tbl-", "raw cross-reference"), ("{{&lt;", "unresolved shortcode"),
                         ("{{<", "unresolved shortcode")):
        if marker in re.sub(r"<(script|style)\b.*?</\1>", "", text, flags=re.S):
            problems.append(f"{html}: {what} ({marker!r}) in the text")
    if re.search(r"<strong>[\w:-]+\?</strong>", text):
        problems.append(f"{html}: unresolved citation (citeproc's '**key?**' marker)")
    return problems


# ------------------------------------------------------------------ entry point


def render(run: RunPaths, formats: tuple[str, ...] = ("pdf", "html"), allow_missing: bool = False,
           source_qmd: Path | None = None, paper_dir: Path = PAPER_DIR,
           use_quarto: bool | None = None) -> dict[str, Path]:
    """Render the manuscript of ``run`` to ``run.paper_build/paper.{pdf,html}`` and check both.

    Missing figures, tables or variables are an error listing all of them, unless ``allow_missing``
    (tests, drafts), which inserts visible placeholders and records them in ``MISSING.txt``.
    Returns the written files by format, plus ``"qmd"``, the resolved manuscript.
    """
    unknown = set(formats) - {"pdf", "html"}
    if unknown:
        raise PaperError(f"unknown format(s) {sorted(unknown)}; use pdf and/or html")
    prep = prepare(run, source_qmd, allow_missing, paper_dir)
    if use_quarto is None:
        use_quarto = shutil.which("quarto") is not None
    if use_quarto:
        out = render_quarto(prep, tuple(formats))
    else:
        out = {}
        if "pdf" in formats:
            out["pdf"] = render_pdf_fallback(prep, paper_dir)
        if "html" in formats:
            out["html"] = render_html_fallback(prep, paper_dir)
    problems: list[str] = []
    if "pdf" in out:
        problems += check_pdf(out["pdf"], prep.figures)
    if "html" in out:
        problems += check_html(out["html"], sorted(prep.figures), prep.tables)
    problems += headline_mismatches(run)
    if problems:
        raise PaperError("rendered manuscript failed its checks:\n  " + "\n  ".join(problems))
    return {**out, "qmd": prep.qmd}


def _headline_table_checks(run: RunPaths, variables: dict[str, str]) -> list[str]:
    """Each ``<stage>_<quantity>`` and ``..._ci`` variable against its row of the stage's interval table."""
    import pandas as pd

    from .analysis import EXTERNAL_LABELS, FINETUNE_LABELS

    problems = []
    for stage, stem, labels in (("finetune", "finetune_intervals", FINETUNE_LABELS),
                                ("external", "external_intervals", EXTERNAL_LABELS)):
        path = run.tables / f"{stem}.csv"
        if not path.exists():
            continue
        table = pd.read_csv(path, dtype={"quantity": str})
        ci_col = next((c for c in table.columns if c.endswith("CI")), None)
        quantity = {v: k for k, v in labels.items()}
        for row in table.to_dict("records"):
            q = quantity.get(row["quantity"])
            if q is None:
                continue
            shown = f"{float(row['estimate']):.1f}"
            if variables.get(f"{stage}_{q}") != shown:
                problems.append(f"{stage}_{q} = {variables.get(f'{stage}_{q}')!r} but {stem} shows {shown}")
            if ci_col and variables.get(f"{stage}_{q}_ci") != str(row[ci_col]):
                problems.append(f"{stage}_{q}_ci = {variables.get(f'{stage}_{q}_ci')!r} but {stem} shows "
                                f"{row[ci_col]!r}")
    return problems


def headline_mismatches(run: RunPaths) -> list[str]:
    """Headline numbers of the text that differ from their table cells (issue 19: one definition per quantity).

    Checks every fine-tuning and external estimate and interval against the interval tables, and the fine-tuned
    model's mean weighted accuracy against the "mean (image-level topics)" row of ``finetune_metrics`` (two
    decimals there, one in the text). Tables a run did not write are skipped; the list is empty when all agree."""
    import pandas as pd

    from .analysis import MEAN_ROW

    variables = read_variables(run)
    problems = _headline_table_checks(run, variables)
    model, value = variables.get("finetune_model"), variables.get("finetune_weighted_mean")
    path = run.tables / "finetune_metrics.csv"
    if model and value not in (None, "n/a") and path.exists():
        table = pd.read_csv(path).set_index("topic")
        if MEAN_ROW in table.index and model in table.columns:
            cell = float(table.loc[MEAN_ROW, model])
            if abs(float(value) - cell) > 0.05 + 1e-9:
                problems.append(f"finetune_weighted_mean = {value} but finetune_metrics' {MEAN_ROW!r} row shows "
                                f"{cell:.2f} for {model}")
    return problems


def unused_expectations(source_qmd: Path = PAPER_DIR / "index.qmd") -> dict[str, list[str]]:
    """REQUIRED_FIGURES / REQUIRED_TABLES entries the manuscript does not use (to keep the lists honest)."""
    text = _resolve_sections(source_qmd.read_text(encoding="utf-8"), source_qmd.parent, [])
    used_figs = {Path(m.group(2)).stem for m in _FIGURE.finditer(text)}
    used_tabs = {Path(p).stem for p in _INCLUDE.findall(text) if p.startswith("tables/")}
    return {"figures": [f for f in REQUIRED_FIGURES if f not in used_figs],
            "tables": [t for t in REQUIRED_TABLES if t not in used_tabs]}


# ------------------------------------------------------------------ published vs reproduced


#: Executed notebook -> the variable files it writes (``write_variables(run, STAGE, ...)`` in its cells).
NOTEBOOK_VARIABLES = {"01_dataset_stats": ("stats", "realism"), "02_zero_shot": ("zeroshot",),
                      "03_finetune": ("finetune",), "04_external_validation": ("external",),
                      "05_significance": ("significance",), "07_open_ended": ("open",)}


def rewritten_outside_make(run: RunPaths) -> list[str]:
    """What was rewritten after the notebook that writes it ran under ``make``: one line per file, else [].

    Why: ``make`` moves an executed notebook into ``notebooks/executed/<run>/`` only after every cell ran, so
    the variables and figures a notebook writes are always older than its executed copy. A variable file or
    figure that is newer came from somewhere else, typically a papermill run with other parameters written
    over the run's own outputs; a manuscript built then would mix two parameter sets. Notebooks not executed
    yet are not judged (their absence is reported by the build itself).
    """
    found = []
    executed = {p.stem: p.stat().st_mtime for p in run.executed.glob("*.ipynb") if not p.stem.endswith(".tmp")}
    for notebook, stages in NOTEBOOK_VARIABLES.items():
        if notebook not in executed:
            continue
        for stage in stages:
            path = run.variables / f"{stage}.json"
            if path.exists() and path.stat().st_mtime > executed[notebook]:
                found.append(f"{relative_to_root(path, run.root)} is newer than "
                             f"{relative_to_root(run.executed / (notebook + '.ipynb'), run.root)}: "
                             f"`touch notebooks/{notebook}.ipynb` and re-run make")
    latest = max(executed.values(), default=None)
    if latest is not None and run.figures.is_dir():
        found += [f"{relative_to_root(p, run.root)} is newer than every executed notebook of the run: re-run "
                  "the notebook that draws it with make" for p in sorted(run.figures.glob("*.png"))
                  if p.stat().st_mtime > latest]
    return found


def main(argv: list[str] | None = None) -> int:
    """``python -m mammovqa.paper --source phantom --profile default --seed 0 [--allow-missing]``."""
    ap = argparse.ArgumentParser(prog="python -m mammovqa.paper", description=__doc__.splitlines()[0],
                                 parents=[run_arguments()])
    ap.add_argument("--formats", nargs="+", default=["pdf", "html"], choices=["pdf", "html"])
    ap.add_argument("--allow-missing", action="store_true", help="placeholders instead of errors (drafts)")
    ap.add_argument("--no-quarto", action="store_true", help="use the pandoc/typst fallback even if Quarto exists")
    args = ap.parse_args(argv)
    run = RunPaths(args.source, args.profile, args.seed)
    t0 = time.perf_counter()
    stale = rewritten_outside_make(run)
    if stale:
        print("error: outputs of this run were rewritten outside make (a papermill run with other parameters?), "
              "so a manuscript would mix two parameter sets; write such runs to a variant (make NB_PARAMS=... or "
              "MAMMOVQA_VARIANT=name):\n  " + "\n  ".join(stale), file=sys.stderr)
        return 1
    try:
        out = render(run, tuple(args.formats), allow_missing=args.allow_missing,
                     use_quarto=False if args.no_quarto else None)
    except PaperError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"run": run.name, "seconds": round(time.perf_counter() - t0, 2),
                      **{k: str(v) for k, v in out.items()}}, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
