"""What each expensive stage may spend per profile, from one file: ``configs/profiles.yaml``.

Why one file, and why not ``data_manifest/profiles.yaml``: that file sizes the benchmark itself (every data build
depends on it), so a budget there would rebuild the data and re-run every stage when one stage's budget changes.
Stage budgets are a machine's budget, not the method (a recipe is what a study would publish), so they live
neither in the recipes nor in the code: here, one section per stage, read through these schemas.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, StrictInt

from .config import load_yaml
from .errors import ConfigError
from .paths import CONFIG_DIR
from .schema import Schema, validate

BUDGETS_FILE = CONFIG_DIR / "profiles.yaml"


class OpenBudget(Schema):
    """Open-ended MammoVQA (``pipeline.open_zero_shot`` / ``open_finetune``); ``max_eval_items`` caps each
    evaluated split and the validation items of the open fine-tune."""

    train_max_items: StrictInt | None = None
    epochs: float = 1.0
    max_eval_items: StrictInt | None = None
    max_new_tokens: StrictInt = 40
    batch_size: StrictInt = 16


class ReportBudget(Schema):
    """Report generation (``report.stage``): items, epochs, generation length, bootstrap replicates."""

    train_max: StrictInt | None  # training reports (seeded subset); None = the whole train split
    epochs: StrictInt | float  # for the tiny CPU model; a real (GPU) recipe keeps its own epochs
    val_max: StrictInt  # validation reports for the eval loss curve
    test_max: StrictInt | None  # test reports generated and scored; None = the whole test split
    max_new_tokens: StrictInt
    batch_size: StrictInt = 32
    n_boot: StrictInt = 2000
    lesion_oversample: StrictInt = 1  # copies per epoch of each training report that names a finding


class ClosedSetBudget(Schema):
    """Closed-set baselines (``train.closed_set``): epochs over the image-level train split."""

    epochs: StrictInt = Field(ge=1)


class StageBudgets(Schema):
    """The file: one section per stage, each ``{profile: budget}``; a section may be left out."""

    schema_: int | None = Field(default=None, alias="schema")
    open_ended: dict[str, OpenBudget] = Field(default_factory=dict)
    report: dict[str, ReportBudget] = Field(default_factory=dict)
    closed_set: dict[str, ClosedSetBudget] = Field(default_factory=dict)


def stage_budgets(path: str | Path | None = None) -> StageBudgets:
    file = Path(path) if path else BUDGETS_FILE
    return validate(StageBudgets, load_yaml(file), file)


def open_budget(profile: str, path: str | Path | None = None) -> OpenBudget:
    """The open-ended budget of a profile; a profile missing from the file is a ConfigError naming the file."""
    budgets = stage_budgets(path).open_ended
    if profile not in budgets:
        raise ConfigError(Path(path) if path else BUDGETS_FILE, "open_ended",
                          f"no budget for profile {profile!r}; known: {', '.join(budgets)}")
    return budgets[profile]


def report_budget(profile: str, path: str | Path | None = None) -> ReportBudget:
    """The report stage's budget of a profile; a profile the file does not list (a user-defined one) gets the
    default profile's budget."""
    budgets = stage_budgets(path).report
    if profile not in budgets and "default" not in budgets:
        raise ConfigError(Path(path) if path else BUDGETS_FILE, "report",
                          f"no budget for profile {profile!r} and no default; known: {', '.join(budgets)}")
    return budgets.get(profile, budgets.get("default"))


def closed_set_epochs(profile: str, recipe_epochs: int, path: str | Path | None = None) -> int:
    """The closed-set epochs of a profile; a profile the file does not list keeps the recipe's epochs."""
    budget = stage_budgets(path).closed_set.get(profile)
    return budget.epochs if budget is not None else int(recipe_epochs)
