"""The pre-specified analysis plan (``docs/analysis-plan.md``) and the Methods text generated from it.

Why a file the notebook reads: a margin, a family or a resampling unit typed into a notebook parameter and again
into the manuscript drifts; here the plan is one fenced YAML block, the significance stage reads it, records the
parameters it actually used, and :func:`methods_text` writes the statistical Methods paragraph from those
parameters, so the text cannot describe a procedure that did not run.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError

PLAN_NAME = "analysis-plan.md"
_BLOCK = re.compile(r"```yaml[ \t]*\n(.*?)```", re.S)
INTERVALS = ("percentile", "bca")
INTERVAL_WORDS = {"percentile": "percentile", "bca": "bias-corrected and accelerated (BCa)"}


@dataclass(frozen=True)
class AnalysisPlan:
    """Parameters of the significance analysis; ``source`` is the file they came from."""

    cluster: str
    cluster_column: str
    interval: str
    level: float
    alpha: float
    n_boot: int
    margin_relative: float
    margin_minimum: float
    correction: str
    confirmatory: tuple[str, ...]
    descriptive: tuple[str, ...]
    degenerate_share: float
    source: str = ""
    margin_absolute: float | None = None  # an override (notebook parameter), not part of the plan
    power_target: float = 0.8  # power of the minimum detectable effect
    power_n_sim: int = 400  # simulated studies per candidate effect (patient-level simulation)

    def margin_for(self, reference: float) -> float:
        """Equivalence margin of a topic whose no-information level is ``reference``."""
        if self.margin_absolute is not None:
            return float(self.margin_absolute)
        return max(self.margin_minimum, self.margin_relative * float(reference))

    def overrides(self, plan: AnalysisPlan) -> dict[str, Any]:
        """Values in which this plan differs from ``plan`` (the file), for the run's record."""
        mine, theirs = self.to_dict(), plan.to_dict()
        return {k: v for k, v in mine.items() if v != theirs[k]}

    def family(self, category: str) -> str:
        """'confirmatory' or 'descriptive' for a model category (``analysis.category``)."""
        if category in self.confirmatory:
            return "confirmatory"
        if category in self.descriptive:
            return "descriptive"
        raise ConfigError(self.source, "families", f"model category {category!r} is in no family; add it to "
                          "'confirmatory' or 'descriptive'")

    def with_overrides(self, **values: Any) -> AnalysisPlan:
        """The plan with the given (non-None) values replaced, e.g. notebook parameters."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_plan_path() -> Path:
    """``docs/analysis-plan.md`` of the checkout the package runs from (scratch roots link ``src`` only)."""
    here = Path(__file__).resolve().parents[3] / "docs" / PLAN_NAME
    if here.exists():
        return here
    from ..paths import ROOT

    return ROOT / "docs" / PLAN_NAME


def _need(raw: dict, key: str, path: Path) -> Any:
    if key not in raw:
        raise ConfigError(str(path), key, "missing from the analysis plan's YAML block")
    return raw[key]


def load_plan(path: str | Path | None = None) -> AnalysisPlan:
    """Parse the first fenced ``yaml`` block of the plan; errors name the file and the key."""
    path = Path(path) if path else default_plan_path()
    if not path.exists():
        raise ConfigError(str(path), "analysis plan", "file not found; it ships with the repository "
                          "(docs/analysis-plan.md)")
    m = _BLOCK.search(path.read_text(encoding="utf-8"))
    if not m:
        raise ConfigError(str(path), "analysis plan", "no ```yaml block found")
    raw = yaml.safe_load(m.group(1)) or {}
    margin = _need(raw, "margin", path)
    families = _need(raw, "families", path)
    plan = AnalysisPlan(
        cluster=str(_need(raw, "cluster", path)), cluster_column=str(_need(raw, "cluster_column", path)),
        interval=str(_need(raw, "interval", path)), level=float(_need(raw, "level", path)),
        alpha=float(_need(raw, "alpha", path)), n_boot=int(_need(raw, "n_boot", path)),
        margin_relative=float(margin["relative"]), margin_minimum=float(margin["minimum"]),
        correction=str(_need(raw, "correction", path)),
        confirmatory=tuple(families["confirmatory"]), descriptive=tuple(families["descriptive"]),
        degenerate_share=float(_need(raw, "degenerate_share", path)), source=str(path),
        power_target=float((raw.get("power") or {}).get("target", 0.8)),
        power_n_sim=int((raw.get("power") or {}).get("n_sim", 400)))
    check_plan(plan)
    return plan


def check_plan(plan: AnalysisPlan) -> None:
    """Values the analysis can run with; a wrong one names itself."""
    if plan.interval not in INTERVALS:
        raise ConfigError(plan.source, "interval", f"{plan.interval!r} is not one of {INTERVALS}")
    if not 0 < plan.alpha < 0.5 or not 0.5 < plan.level < 1:
        raise ConfigError(plan.source, "alpha/level", f"alpha {plan.alpha} and level {plan.level} out of range")
    if plan.n_boot < 100:
        raise ConfigError(plan.source, "n_boot", f"{plan.n_boot} resamples are too few for a 95% interval")
    if plan.correction != "holm":
        raise ConfigError(plan.source, "correction", f"{plan.correction!r}: only 'holm' is implemented")


def _pct(x: float) -> str:
    return f"{100 * x:g}"


def margin_words(plan: AnalysisPlan) -> str:
    if plan.margin_absolute is not None:
        return (f"a margin of {_pct(plan.margin_absolute)} points (an override of the plan's rule of "
                f"{_pct(plan.margin_relative)}% of the no-information level)")
    return (f"margins of {_pct(plan.margin_relative)}% of the no-information level (at least "
            f"{_pct(plan.margin_minimum)} point)")


def _unit(plan: AnalysisPlan) -> str:
    patients = "patients (dataset family and patient id)"
    return {"patient": patients, "patient_key": patients, "record_id": "images", "exam_id": "exams"}.get(
        plan.cluster, f"clusters keyed by `{plan.cluster_column}`")


def methods_text(plan: AnalysisPlan, n_clusters: tuple[int, int], n_confirmatory: int, n_descriptive: int,
                 n_degenerate: int, overrides: dict[str, Any] | None = None) -> str:
    """The statistical Methods paragraph, from the parameters used and the run's counts.

    Every number in it is a parameter or a count of this run; the cluster unit, interval type, resample count,
    margin rule, families and correction are the ones passed in, so the text describes what ran.
    """
    unit = _unit(plan)
    unit_one = {"patient": "patient", "patient_key": "patient", "record_id": "image", "exam_id": "exam"}.get(
        plan.cluster, "cluster")
    lo, hi = n_clusters
    span = ("" if not max(n_clusters) else f" ({hi} clusters per model and topic in this run)" if lo == hi
            else f" ({lo} to {hi} clusters per model and topic in this run)")
    sentences = [
        f"Questions that share an image, a patient or an exam are not independent, so every interval is a "
        f"{_pct(plan.level)}% {INTERVAL_WORDS[plan.interval]} cluster bootstrap interval over {plan.n_boot} "
        f"resamples of {unit}, conditional on every gold class being present in a resample{span}.",
        f"Means over topics (and over external datasets) and differences between two models are bootstrapped with "
        f"one draw of {unit} shared by every topic and both models, so their intervals carry the correlation of "
        f"topics that share a {unit_one} and the pairing of the models.",
        "The reference is the no-information level, the highest expected weighted accuracy reachable without "
        "looking at the image (one over the number of gold classes present); the uniform random guess over the "
        "options is reported beside it.",
        f"Superiority, inferiority and equivalence are read from the same bootstrap distribution as the interval: "
        f"a model is above (below) the no-information level when its two-sided bootstrap p-value is below "
        f"{plan.alpha:g} after correction (without correction, exactly when the {_pct(1 - plan.alpha)}% "
        f"percentile interval lies wholly above or below it), and equivalent to it when two one-sided tests "
        f"[@schuirmann1987tost] against {margin_words(plan)} reject.",
        f"Holm's procedure [@holm1979] corrects each kind of test across the confirmatory family, the "
        f"{n_confirmatory} testable pairs of a trained or zero-shot model and a topic; the {n_descriptive} testable "
        f"pairs of weight-free baselines and the untrained architecture check are descriptive and uncorrected.",
        f"{n_degenerate} pairs in which a model gave one answer to at least {_pct(plan.degenerate_share)}% of the "
        f"items are reported as degenerate and not tested.",
        f"Power is estimated by patient-level simulation: keeping every item, its gold class and its {unit_one}, "
        f"{plan.power_n_sim} studies per candidate effect are simulated with a model that is easy or hard for "
        f"each whole cluster (intra-cluster correlation from the fine-tuned model's answers), and the smallest "
        f"improvement over the no-information level whose {_pct(plan.level)}% cluster interval excludes that "
        f"level in {_pct(plan.power_target)}% of them is reported per topic.",
        f"Paired comparisons between models use a paired cluster bootstrap of the difference in weighted accuracy "
        f"over the same {unit} and a clustered McNemar test [@mcnemar1947] for absolute accuracy, Holm-corrected "
        f"across topics.",
        "The parameters and their rationale were fixed in the project's analysis plan (docs/analysis-plan.md) "
        "before the run" + (f"; this run overrode {', '.join(sorted(k.replace('_', ' ') for k in overrides))}."
                            if overrides else "."),
    ]
    return " ".join(sentences)
