"""The fine-tuning stage: pick a run's train/val items, resolve the base weights, train, register the result."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ..config import get_profile
from ..io import write_json_atomic
from ..paths import LOCAL_MODELS_DIR, RunPaths, portable_path
from ..qa.items import QAItem, read_items
from ..seeding import stable_fraction
from .recipe import load_recipe
from .vlm import train_vlm


def select_items(items: list[QAItem], splits: tuple[str, ...], levels: tuple[str, ...], cap: int | None,
                 seed: int) -> list[QAItem]:
    """Items of the given splits and levels; a seeded, order-independent subsample when capped."""
    chosen = [it for it in items if it.split in splits and it.level in levels]
    chosen.sort(key=lambda it: stable_fraction(seed, "train-order", it.id))
    return chosen[:cap] if cap else chosen


def topics_without_training(items: list[QAItem], train: list[QAItem]) -> list[str]:
    """Evaluated topics (per level) that have no training item: reported, never a crash."""
    trained = {(it.level, it.topic_label) for it in train}
    evaluated = {(it.level, it.topic_label) for it in items if it.split in ("test", "external")}
    return [f"{topic} ({level})" for level, topic in sorted(evaluated - trained)]


def base_weights(model_id: str, base_path: str | Path | None) -> Path:
    """Explicit path, else the registry lookup; the tiny offline VLM is built on first use."""
    if base_path:
        return Path(base_path)
    from ..models.registry import WeightsNotFound, find_weights

    try:
        return find_weights(model_id)
    except WeightsNotFound:
        if model_id != "tiny-vlm":
            raise
        from ..models.tiny import build_tiny_vlm

        return build_tiny_vlm(LOCAL_MODELS_DIR / "tiny-vlm", seed=0)


def stored_path(path: str | Path, run: RunPaths) -> str:
    """A path as ``model.json`` keeps it: relative to the run's repository root (``~/`` under the home folder), so
    the registered model resolves (``paths.resolve(entry["path"], run.root)``) in a clone or a moved checkout."""
    return portable_path(path, root=run.root, home=True)


def finetuned_model_file(run: RunPaths, name: str) -> Path:
    """Where a fine-tuned model is registered for the prediction stage."""
    return run.train / name / "model.json"


def finetune(recipe_file: str, source: str = "phantom", profile: str = "default", seed: int = 0,
             base_path: str | None = None, max_steps: int = -1, epochs: float | None = None) -> dict[str, Any]:
    recipe = load_recipe(recipe_file)
    prof = get_profile(profile)
    run = RunPaths(source, profile, seed)
    items = read_items(run.qa_items)
    train = select_items(items, recipe.train_splits, recipe.levels, prof.train_max_items, seed)
    val = select_items(items, (recipe.validation_split,), recipe.levels, None, seed)
    if epochs is None:
        epochs = float(prof.train_epochs) if recipe.base_model == "tiny-vlm" else recipe.epochs
    untrained = topics_without_training(items, train)
    for label in untrained:
        print(f"[train] {recipe.name}: no training items for {label}; the model is evaluated on it untrained",
              file=sys.stderr)
    base = base_weights(recipe.base_model, base_path)
    out_dir = run.train / recipe.name
    result = train_vlm(recipe, train, val, base, out_dir, seed=seed, epochs=epochs, max_steps=max_steps,
                       root=run.root)
    entry = {"id": recipe.name, "path": stored_path(result.model_dir, run), "base_model": recipe.base_model,
             "base_path": stored_path(base, run), "adapter": recipe.method == "lora",
             "recipe": stored_path(recipe.source, run),
             "train_seconds": round(result.train_seconds, 1), "steps": result.steps,
             "topics_without_training_items": untrained}
    write_json_atomic(finetuned_model_file(run, recipe.name), entry)
    return entry
