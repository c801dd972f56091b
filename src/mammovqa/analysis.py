"""Read a run's prediction files and turn them into scored items and metrics tables (stages 2 to 5).

Why one module: the zero-shot, fine-tuning, external and significance notebooks all need "every model's
scored items for these splits", with the same model labels and categories; computing it in one place keeps
their numbers identical. Scoring is cheap (seconds), so notebooks re-score from the prediction files rather
than caching a second copy of the decisions.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import pandas as pd

from .eval.metrics import metrics_table
from .eval.scoring import score_items
from .models.registry import category as registry_category
from .paths import RunPaths
from .predictions import read_predictions
from .qa.items import QAItem, read_items

CATEGORY_ORDER = ("fine-tuned", "closed-set", "zero-shot", "architecture check", "baseline")


def category(model: str) -> str:
    """The category a model is reported under: its role in data_manifest/models.yaml (``registry.category``)."""
    return registry_category(model)


@lru_cache(maxsize=4)
def _items(path: str, mtime: float) -> tuple[QAItem, ...]:
    return tuple(read_items(path))


def load_items(run: RunPaths) -> list[QAItem]:
    return list(_items(str(run.qa_items), run.qa_items.stat().st_mtime))


def prediction_files(run: RunPaths, splits: Sequence[str] = ("test", "external"),
                     suffix: str = "") -> dict[tuple[str, str, str], Path]:
    """{(model id, split, level): path} for every prediction file of the run (``suffix`` e.g. '_circular')."""
    root = run.results / "predictions"
    out = {}
    for path in sorted(root.glob(f"*/*{suffix}.jsonl")):
        stem = path.stem[: len(path.stem) - len(suffix)] if suffix else path.stem
        if "_" not in stem or (not suffix and stem.endswith("_circular")):
            continue
        split, level = stem.split("_", 1)
        if split not in splits:
            continue
        model = read_predictions(path).provenance.get("model_id") or path.parent.name.replace("__", "/")
        out[(model, split, level)] = path
    return out


def score_run(run: RunPaths, matchers: Sequence[str] = ("strict", "official"), splits: Sequence[str] = ("test", "external"),
              models: Iterable[str] | None = None, evaluated_only: bool = True) -> pd.DataFrame:
    """Per-item scores of every model (or the given ones) for the splits and matchers.

    ``evaluated_only``: profiles may cap slow models to a seeded subset of items; then only the items that model
    was asked are scored (the subset is recorded in its prediction file), and comparisons must pair items.
    """
    items = load_items(run)
    by_key: dict[tuple[str, str], list[QAItem]] = {}
    for it in items:
        by_key.setdefault((it.split, it.level), []).append(it)
    wanted = set(models) if models is not None else None
    frames = []
    for (model, split, level), path in prediction_files(run, splits).items():
        if wanted is not None and model not in wanted:
            continue
        preds = read_predictions(path)
        sel = by_key.get((split, level), [])
        if evaluated_only:
            sel = [it for it in sel if it.id in preds.rows]
        for matcher in matchers:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                df = score_items(sel, preds, matcher, model=model)
            frames.append(df)
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True)
    out["category"] = out["model"].map(category)
    return out


def metrics(scored: pd.DataFrame) -> pd.DataFrame:
    table = metrics_table(scored.drop(columns=["category"], errors="ignore"))
    table.insert(1, "category", table["model"].map(category))
    return table


def topic_rows(table: pd.DataFrame, split: str = "test", level: str | None = "image", matcher: str = "strict") -> pd.DataFrame:
    """Per-topic rows (pooled over datasets) for one split/level/matcher."""
    sel = (table["split"] == split) & (table["dataset"] == "all") & (table["topic"] != "all") & (table["matcher"] == matcher)
    if level:
        sel &= table["level"] == level
    return table[sel].reset_index(drop=True)


def overall_rows(table: pd.DataFrame, matcher: str = "strict") -> pd.DataFrame:
    sel = (table["topic"] == "all") & (table["dataset"] == "all") & (table["matcher"] == matcher)
    return table[sel].reset_index(drop=True)


def best_model(table: pd.DataFrame, cat: str, split: str = "test", level: str = "image", matcher: str = "strict") -> str | None:
    rows = overall_rows(table, matcher)
    rows = rows[(rows["category"] == cat) & (rows["split"] == split) & (rows["level"] == level)]
    if rows.empty:
        return None
    return str(rows.sort_values(["weighted_accuracy", "model"], ascending=[False, True]).iloc[0]["model"])


def pct(x: float) -> str:
    return f"{100 * x:.1f}"


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text()) if Path(path).exists() else {}


def zero_shot_comparators(table: pd.DataFrame) -> tuple[list[str], str]:
    """Models that stand for "zero-shot" in comparisons, and a plain-words label of what they are.

    Real zero-shot VLMs when any ran; otherwise the untrained tiny VLM, named as the architecture check it is,
    so that no sentence implies a real zero-shot model was evaluated.
    """
    models = sorted(set(table.loc[table["category"] == "zero-shot", "model"]))
    if models:
        return models, "zero-shot VLMs"
    models = sorted(set(table.loc[table["category"] == "architecture check", "model"]))
    return models, "untrained architecture check; no zero-shot weights present"


MEAN_ROW = "mean (image-level topics)"


def wide_topic_table(table: pd.DataFrame, split: str = "test", level: str | None = None, matcher: str = "strict",
                     metric: str = "weighted_accuracy", models: Sequence[str] | None = None) -> pd.DataFrame:
    """Topics as rows, models as columns (percent), plus the random-guess column: the paper's table layout.

    The last row, ``MEAN_ROW``, is the mean over the image-level topics, the same definition as the metrics
    table's overall row that the text quotes (exam-level topics are listed but not averaged in), so the
    headline number and its table cell agree."""
    rows = topic_rows(table, split, level, matcher)
    if models is not None:
        rows = rows[rows["model"].isin(models)]
    rows = rows.assign(topic=[f"{t} (exam)" if lv == "exam" else t for t, lv in zip(rows["topic"], rows["level"])])
    wide = rows.pivot_table(index="topic", columns="model", values=metric, sort=False) * 100
    rg = rows.groupby("topic", sort=False)["random_guess"].mean() * 100
    wide.insert(0, "random guess", rg)
    image = [t for t, lv in zip(rows["topic"], rows["level"]) if lv == "image"]
    if image:  # the overall row's definition: the headline mean is over image-level topics only
        wide.loc[MEAN_ROW] = wide.loc[list(dict.fromkeys(image))].mean(numeric_only=True)
    return wide.round(2).reset_index()


def disagreement(run: RunPaths, models: Sequence[str], splits: Sequence[str] = ("test",)) -> pd.DataFrame:
    """How often the official and strict matchers decide differently, per model and topic."""
    from .eval.scoring import disagreement_table

    items = load_items(run)
    frames = []
    for (model, split, level), path in prediction_files(run, splits).items():
        if model not in models:
            continue
        preds = read_predictions(path)
        sel = [it for it in items if it.split == split and it.level == level and it.id in preds.rows]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = disagreement_table(sel, preds, by=("topic",))
        frames.append(t.assign(model=model, split=split, level=level))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def circular_scores(run: RunPaths, matcher: str = "strict") -> pd.DataFrame:
    """Scores of the option-rotation predictions (``*_circular.jsonl``), rebuilt against the rotated items."""
    from .stats.robustness import rotate_items

    manifest = read_json(run.results / "predictions" / "circular_manifest.json")
    files = prediction_files(run, ("test",), suffix="_circular")
    if not files:
        return pd.DataFrame()
    base = [it for it in load_items(run) if it.split == "test" and it.level == "image"]
    rotated = {it.id: it for it in rotate_items(base)}
    frames = []
    for (model, _split, _level), path in files.items():
        preds = read_predictions(path)
        sel = [rotated[i] for i in preds.rows if i in rotated]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frames.append(score_items(sel, preds, matcher, model=model).assign(
                options=["|".join(it.options) for it in sel]))
    out = pd.concat(frames, ignore_index=True)
    out.attrs["base_items"] = manifest.get("base_items")
    return out


def with_exam_topics(scored: pd.DataFrame) -> pd.DataFrame:
    """Exam-level items get their own topic label ("ACR (exam)"), so tests never pool the two levels."""
    out = scored.copy()
    exam = out["level"] == "exam"
    out.loc[exam, "topic"] = out.loc[exam, "topic"] + " (exam)"
    return out


# ------------------------------------------------------------------ significance (stage 5), from the analysis plan


SIGNIFICANCE_COLUMNS = ("model", "topic", "n", "n_clusters", "estimate", "ci_low", "ci_high", "no_information",
                        "uniform_guess", "margin", "p_superiority", "p_superiority_holm", "p_tost_holm", "verdict")


def significance_display(tests: pd.DataFrame) -> pd.DataFrame:
    """The manuscript's significance table: testable confirmatory rows, percent, the interval next to its
    estimate with the number of clusters it resampled. Everything else stays in the supplementary CSV."""
    t = tests[(tests["family"] == "confirmatory") & tests["estimate"].notna()]

    def ci(r) -> str:
        return f"{100 * r.estimate:.1f} [{100 * r.ci_low:.1f}, {100 * r.ci_high:.1f}]"

    return pd.DataFrame({
        "model": t["model"], "topic": t["topic"], "n (clusters)": [f"{n} ({c})" for n, c in zip(t["n"], t["n_clusters"])],
        "weighted acc. [95% CI]": [ci(r) for r in t.itertuples()],
        "no-information": (100 * t["no_information"]).round(1), "uniform guess": (100 * t["uniform_guess"]).round(1),
        "margin": (100 * t["margin"]).round(1), "p (Holm)": t["p_superiority_holm"].map(lambda p: f"{p:.3g}"),
        "verdict": t["verdict"]}).reset_index(drop=True)


def with_families(scored: pd.DataFrame, plan) -> pd.DataFrame:
    """The scored table with the plan's resampling key (dataset family + patient id) and each model's family
    ("confirmatory": trained and zero-shot models; "descriptive": baselines and the untrained check)."""
    from .stats.weighted import PATIENT_KEY, add_patient_key

    out = add_patient_key(scored) if plan.cluster_column == PATIENT_KEY else scored.copy()
    out["family"] = out["model"].map(lambda m: plan.family(category(m)))
    return out


def significance_tests(scored: pd.DataFrame, plan, seed: int) -> pd.DataFrame:
    """Every model x topic test of the plan, with the family and resampling unit the plan names, and each model's
    category (for the figures' styles and the reader)."""
    from .stats.random_guess import test_against_random

    return with_category(test_against_random(
        with_families(scored, plan), by=("model", "topic"), cluster=plan.cluster_column, n_boot=plan.n_boot,
        seed=int(seed), alpha=plan.alpha, ci=plan.interval, level=plan.level, margin_relative=plan.margin_relative,
        margin_minimum=plan.margin_minimum, margin=plan.margin_absolute, degenerate_at=plan.degenerate_share))


def significance_counts(tests: pd.DataFrame) -> dict[str, int]:
    """Verdict counts of the confirmatory family (what the Results sentence may claim) and of the rest."""
    conf = tests[tests["family"] == "confirmatory"]
    v = conf["verdict"].astype(str)
    testable = ~v.str.startswith("not testable")
    return {
        "n_confirmatory": int(testable.sum()),
        "n_descriptive": int(((tests["family"] == "descriptive")
                              & ~tests["verdict"].astype(str).str.startswith("not testable")).sum()),
        "n_not_testable": int(tests["verdict"].astype(str).str.startswith("not testable").sum()),
        "n_degenerate": int(tests["verdict"].astype(str).str.startswith("degenerate").sum()),
        "n_degenerate_confirmatory": int(v.str.startswith("degenerate").sum()),
        "n_above": int(v.isin(["above no-information", "above no-information, within margin"]).sum()),
        "n_below": int(v.isin(["below no-information", "below no-information, within margin"]).sum()),
        "n_equivalent": int((v == "equivalent to no-information").sum()),
        "n_uncorrected_only": int(v.str.endswith("before correction only").sum()),
        "n_inconclusive": int((v == "inconclusive").sum()),
    }


def significance_results_text(counts: dict[str, int], alpha: float) -> str:
    """The Results sentence, built from the counts (no claim the counts do not support)."""
    n = counts["n_confirmatory"]
    if n == 0:
        return ("No trained or zero-shot model x topic pair was testable in this run, so no claim about "
                "performance above the no-information level is made.")
    parts = [f"{counts['n_above']} were above the no-information level after Holm correction",
             f"{counts['n_below']} below it", f"{counts['n_equivalent']} equivalent to it within the margin",
             f"{counts['n_degenerate_confirmatory']} degenerate (one answer to nearly every item)"]
    text = f"Of {n} confirmatory model-topic pairs, " + ", ".join(parts[:-1]) + f" and {parts[-1]}"
    extra = []
    if counts["n_uncorrected_only"]:
        extra.append(f"{counts['n_uncorrected_only']} differed from it at level {alpha:g} only before correction")
    if counts["n_inconclusive"]:
        extra.append(f"{counts['n_inconclusive']} were inconclusive: their intervals include the no-information "
                     "level and reach beyond the equivalence margins")
    return text + ("; " + "; ".join(extra) if extra else "") + "."


def degenerate_sentence(predict_summary: dict, model: str, split: str = "test", level: str = "image") -> str:
    """A sentence for the text when the model's answers were degenerate (mostly empty or one answer), else "".

    Why: on the smoke profile the fine-tuned model answers "" to every item; its accuracy then measures a
    constant answer, and the abstract must say so instead of quoting the number as a result.
    """
    flag = (predict_summary.get(f"{split}_{level}") or {}).get("degenerate")
    if not flag:
        return ""
    return (f"The answers of {model} on the {split} split were degenerate ({flag['n_empty']:,} of {flag['n']:,} "
            f"empty, {flag['degenerate_share']:.0%} empty or one repeated answer), so its accuracy measures a "
            "constant answer, not a reading of the images.")


def degenerate_table(run: RunPaths, models: Sequence[str], split: str = "test", level: str = "image") -> pd.DataFrame:
    """One row per model among ``models`` whose answers on (split, level) are degenerate (read from its
    prediction file): how many answers, how many empty, the repeated answer and the share; empty when none is.

    Why in the notebook as well as the stage summaries: a model that answers one text to (nearly) every item
    (the smoke profile's fine-tuned model answers "" to all) still gets a row in every table; the reader must
    see it named. It reads the prediction files rather than the stage summaries, so runs made before the
    closed-set summary carried the flag are judged too."""
    from .eval.degenerate import degenerate_outputs

    rows = []
    for model in models:
        path = run.predictions(model, split, level)
        flag = degenerate_outputs(read_predictions(path)) if path.exists() else None
        if flag:
            rows.append({"model": model, "answers": flag["n"], "empty": flag["n_empty"],
                         "repeated answer": flag["top_output"], "empty or repeated (%)":
                         round(100 * flag["degenerate_share"], 1), "reason": flag["reason"]})
    return pd.DataFrame(rows, columns=["model", "answers", "empty", "repeated answer", "empty or repeated (%)",
                                       "reason"])


# ------------------------------------------------------------------ headline means with their intervals (stages 3, 4)


def _with_key(df: pd.DataFrame, key: str) -> pd.DataFrame:
    """``df`` with the resampling key column (the patient key is derived from dataset and patient id)."""
    from .stats.weighted import PATIENT_KEY, add_patient_key

    return add_patient_key(df) if key == PATIENT_KEY and key not in df.columns else df


def _plan_or_default(plan):
    from .stats.plan import load_plan

    return plan if plan is not None else load_plan()


def finetune_intervals(scored: pd.DataFrame, finetuned: str, comparator: str | None, plan=None, seed: int = 0,
                       cluster: str | None = None, baseline: str | None = None) -> pd.DataFrame:
    """Patient-clustered intervals of the fine-tuning headline numbers (internal test, image level).

    ``weighted_mean``/``absolute_mean``: the fine-tuned model's mean over topics (the metrics table's overall
    row); ``gain_over_random``: minus the uniform guesser's expectation on the same items; ``gain_over_zero_shot``:
    minus ``comparator``'s mean, both models resampled with the same patients; ``best_baseline_weighted``: the
    mean of ``baseline`` (the best closed-set model), when given. One draw of patients serves every
    topic and both models, so the topic means move jointly (see ``stats.means``)."""
    from .stats.means import contrast_intervals, mean_blocks

    plan = _plan_or_default(plan)
    key = cluster or plan.cluster_column
    sel = scored[(scored["split"] == "test") & (scored["level"] == "image")]
    sel = _with_key(sel, key)
    ft = sel[sel["model"] == finetuned]
    blocks = (mean_blocks(ft, "ft", ("topic",)) + mean_blocks(ft, "ft_abs", ("topic",), by_class=False)
              + mean_blocks(ft, "random", ("topic",), correct="random_p"))
    contrasts = {"weighted_mean": {"ft": 1.0}, "absolute_mean": {"ft_abs": 1.0},
                 "gain_over_random": {"ft": 1.0, "random": -1.0}}
    if comparator:
        blocks += mean_blocks(sel[sel["model"] == comparator], "comparator", ("topic",))
        contrasts["gain_over_zero_shot"] = {"ft": 1.0, "comparator": -1.0}
    if baseline:
        blocks += mean_blocks(sel[sel["model"] == baseline], "baseline", ("topic",))
        contrasts["best_baseline_weighted"] = {"baseline": 1.0}
    return contrast_intervals(blocks, contrasts, cluster=key, n_boot=plan.n_boot, seed=int(seed),
                              method=plan.interval, level=plan.level)


def external_intervals(scored: pd.DataFrame, finetuned: str, comparator: str | None, plan=None, seed: int = 0,
                       cluster: str | None = None) -> pd.DataFrame:
    """Patient-clustered intervals of the external-validation gains: the fine-tuned model minus ``comparator``,
    weighted accuracy as the mean over external datasets of each dataset's mean over topics, absolute accuracy as
    the mean over datasets of plain accuracy (the definitions of ``external_metrics``); same draw for both."""
    from .stats.means import INTERVAL_COLUMNS, contrast_intervals, mean_blocks

    if not comparator:
        return pd.DataFrame(columns=list(INTERVAL_COLUMNS))
    plan = _plan_or_default(plan)
    key = cluster or plan.cluster_column
    sel = scored[scored["split"] == "external"]
    sel = _with_key(sel, key)
    blocks = []
    for term, model in (("ft", finetuned), ("comparator", comparator)):
        m = sel[sel["model"] == model]
        blocks += mean_blocks(m, term, ("dataset", "topic")) + mean_blocks(m, f"{term}_abs", ("dataset",),
                                                                          by_class=False)
    contrasts = {"weighted_gain": {"ft": 1.0, "comparator": -1.0},
                 "absolute_gain": {"ft_abs": 1.0, "comparator_abs": -1.0}}
    return contrast_intervals(blocks, contrasts, cluster=key, n_boot=plan.n_boot, seed=int(seed),
                              method=plan.interval, level=plan.level)


CLUSTER_WORDS = {"patient_key": "patients", "record_id": "images", "exam_id": "exams"}


def best_zero_shot_variables(scored: pd.DataFrame, best: str | None, matcher: str, split: str,
                             seed: int = 0) -> dict[str, str]:
    """Stage variables ``best_<q>`` of the best zero-shot model's mean with its patient-clustered interval (test
    split, image-level topics, this matcher); ``best_weighted_mean_ci`` "n/a" when no zero-shot model ran or
    the split is not the test split, so the manuscript sentence always resolves."""
    out = {"best_weighted_mean_ci": "n/a", "best_ci_level": "95"}
    if best and split == "test":
        ci = finetune_intervals(scored[scored["matcher"] == matcher], best, None, seed=int(seed))
        out.update({f"best_{k}": v for k, v in interval_variables(ci).items()})
    return out


def interval_variables(intervals: pd.DataFrame) -> dict[str, str]:
    """Stage variables for the manuscript: per quantity ``<q>`` its point value ``<q>`` (percent or points, one
    decimal, the same rounding as the tables) and interval ``<q>_ci`` ("38.1-43.5"), plus what the intervals
    are: ``ci_level`` ("95"), ``ci_n_clusters``, ``ci_cluster_key``, ``ci_clusters`` ("56 patients") and
    ``ci_basis`` (a phrase for the text naming interval type, unit, key, cluster count and resamples)."""
    from .stats.means import format_interval
    from .stats.plan import INTERVAL_WORDS

    if intervals.empty:
        return {}
    out = {}
    for r in intervals.to_dict("records"):
        out[str(r["quantity"])] = pct(r["estimate"])
        out[f"{r['quantity']}_ci"] = format_interval(r)
    first = intervals.iloc[0]
    n, key = int(first["n_clusters"]), str(first["cluster_key"])
    out.update({
        "ci_level": f"{100 * float(first['level']):g}", "ci_n_clusters": str(n), "ci_cluster_key": key,
        "ci_clusters": f"{n:,} {CLUSTER_WORDS.get(key, 'clusters')}",
        "ci_basis": (f"{100 * float(first['level']):g}% {INTERVAL_WORDS.get(str(first['interval']), first['interval'])} "
                     f"cluster bootstrap interval over {int(first['n_boot'])} resamples of {n:,} "
                     f"{CLUSTER_WORDS.get(key, 'clusters')}, key {key}"),
    })
    return out


def intervals_display(intervals: pd.DataFrame, labels: dict[str, str]) -> pd.DataFrame:
    """The intervals as a manuscript table: quantity, estimate and interval in percent (points for gains), the
    resampling unit and the number of clusters, so every headline number has its table cell. Write it with
    ``float_digits=1`` so the Markdown cell prints exactly the text's number."""
    from .stats.means import format_interval

    return pd.DataFrame({
        "quantity": [labels.get(q, q) for q in intervals["quantity"]],
        "estimate": [float(pct(x)) for x in intervals["estimate"]],  # the variable's rounding; write with 1 digit
        f"{100 * float(intervals['level'].iloc[0]):g}% CI" if len(intervals) else "CI":
            [format_interval(r) for r in intervals.to_dict("records")],
        "interval": intervals["interval"], "cluster key": intervals["cluster_key"],
        "clusters": intervals["n_clusters"]})


FINETUNE_LABELS = {"weighted_mean": "mean weighted accuracy (%)", "absolute_mean": "mean absolute accuracy (%)",
                   "gain_over_random": "weighted accuracy minus uniform random guess (points)",
                   "gain_over_zero_shot": "weighted accuracy minus the comparator (points)",
                   "best_baseline_weighted": "best closed-set model: mean weighted accuracy (%)"}
EXTERNAL_LABELS = {"weighted_gain": "weighted accuracy minus the comparator (points)",
                   "absolute_gain": "absolute accuracy minus the comparator (points)"}


# ------------------------------------------------------------------ the significance stage (notebook 05), step by step


def with_category(df: pd.DataFrame, model_column: str = "model") -> pd.DataFrame:
    """``df`` with a ``category`` column (the model's role in models.yaml) right after ``model_column``, so the
    figures style models by category and a table reader sees which rows are trained, zero-shot or baselines."""
    out = df.drop(columns=["category"], errors="ignore")
    if model_column not in out.columns:
        return out
    out.insert(out.columns.get_loc(model_column) + 1, "category", out[model_column].map(category))
    return out


def significance_plan(plan_file: str | None = None, **overrides):
    """The analysis plan with the notebook's overrides (None = keep the plan's value) and what they changed.

    Overrides: ``margin`` (absolute TOST margin), ``cluster`` (resampling key, also the plan's unit),
    ``n_boot``. Returns ``(plan, changed)``; ``changed`` is printed and named in the Methods text."""
    from .stats.plan import load_plan

    planned = load_plan(plan_file or None)
    cluster = overrides.get("cluster")
    plan = planned.with_overrides(margin_absolute=overrides.get("margin"), cluster_column=cluster, cluster=cluster,
                                  n_boot=overrides.get("n_boot"))
    return plan, plan.overrides(planned)


def significance_scored(run: RunPaths, plan, matcher: str = "strict") -> pd.DataFrame:
    """Every model's scored test items, exam-level topics labelled apart, with the plan's resampling key and
    each model's family (the table every test of the stage reads)."""
    return with_families(with_exam_topics(score_run(run, matchers=(matcher,), splits=("test",))), plan)


def interval_note(plan) -> str:
    """The note under every significance table: interval type, resamples, key, reference and correction."""
    return (f"{100 * plan.level:g}% {plan.interval} cluster-bootstrap intervals, {plan.n_boot} resamples of "
            f"`{plan.cluster_column}`; n_clusters per row. Reference: no-information level 1/C; uniform guess "
            f"beside it. Holm over the confirmatory family.")


def write_significance_tables(run: RunPaths, tests: pd.DataFrame, plan, note: str) -> None:
    """The manuscript's short table (confirmatory, testable rows) and the full supplementary CSV."""
    from .outputs import write_table

    n_left = int((tests["family"] != "confirmatory").sum() + tests["estimate"].isna().sum())
    write_table(significance_display(tests), run.tables / "significance", float_digits=1,
                note=f"{interval_note(plan)} Confirmatory, testable rows; the {n_left} other rows (baselines, the "
                     f"untrained check, not-testable pairs) are in significance_all.csv. {note}")
    write_table(tests, run.tables / "significance_all", float_digits=4, note=f"{interval_note(plan)} {note}")


def power_table(scored: pd.DataFrame, plan, finetuned: str, seed: int = 0) -> tuple[pd.DataFrame, str]:
    """Minimum detectable effect per topic, two ways, and the note that says how.

    ``mde_simulated`` (the plan's method): patient-level simulation over the benchmark's own items and clusters,
    improvement over the no-information level, detected when the clustered interval excludes it; ``mde``: the
    analytic value over the uniform guess with the design effect of the mean cluster size. Both use the ICC of
    ``finetuned``'s answers within the plan's clusters; the items (not any model) set the design."""
    from .stats.power import icc_anova, minimum_detectable_effect, simulated_mde_table

    key = plan.cluster_column
    icc = {t: icc_anova(g["correct"], g[key]) for t, g in scored[scored["model"] == finetuned].groupby("topic")}
    power = minimum_detectable_effect(scored, by=("topic",), cluster=key, icc=icc,
                                      power=plan.power_target)  # de-duplicates items by id
    sim = simulated_mde_table(scored, by=("topic",), cluster=key, icc=icc, alpha=plan.alpha,
                              power=plan.power_target, n_sim=plan.power_n_sim, seed=int(seed))
    power = power.merge(sim, on="topic", how="left")
    note = (f"mde_simulated: smallest improvement over the no-information level detected with "
            f"{100 * plan.power_target:g}% power, patient-level simulation ({plan.power_n_sim} studies per effect, "
            f"clusters `{key}`, ICC of {finetuned}'s answers within clusters, one-way ANOVA, 0 where undefined). "
            f"mde: analytic, over the uniform guess, design effect 1 + (m - 1) ICC with m = mean items per cluster.")
    return power, note


def train_labels(run: RunPaths) -> pd.DataFrame:
    """Topic and gold answer of every image-level training item (the label balance of Fig. 3d)."""
    items = [it for it in load_items(run) if it.split == "train" and it.level == "image"]
    return pd.DataFrame({"topic": [it.topic_label for it in items], "gold": ["|".join(it.answer) for it in items]})


def significance_variables(tests: pd.DataFrame, plan, overrides: dict) -> dict[str, str]:
    """The stage's manuscript variables: verdict counts, plan parameters, Methods and Results text."""
    from .stats.plan import methods_text

    counts = significance_counts(tests)
    tested = tests[tests["n_clusters"].notna() & tests["estimate"].notna()]
    span = (int(tested["n_clusters"].min()), int(tested["n_clusters"].max())) if len(tested) else (0, 0)
    return {
        **{k: str(v) for k, v in counts.items()},
        "n_tests": str(counts["n_confirmatory"]), "n_above_random": str(counts["n_above"]),
        "n_equivalent_random": str(counts["n_equivalent"]),
        "alpha": f"{plan.alpha:g}", "n_boot": str(plan.n_boot), "cluster_key": plan.cluster_column,
        "interval": plan.interval, "n_clusters_min": str(span[0]), "n_clusters_max": str(span[1]),
        "methods_text": methods_text(plan, span, counts["n_confirmatory"], counts["n_descriptive"],
                                     counts["n_degenerate"], overrides),
        "results_text": significance_results_text(counts, plan.alpha),
    }


def paired_table(scored: pd.DataFrame, plan, finetuned: str, seed: int) -> tuple[pd.DataFrame, str]:
    """The fine-tuned model against the best comparator per topic (patient-level paired bootstrap and clustered
    McNemar, the plan's key and interval), and the note naming comparator and procedure; empty without one."""
    from .stats.paired import finetuned_vs_best_zero_shot

    comparators, label = zero_shot_comparators(metrics(scored))
    if not comparators or finetuned not in set(scored["model"]):
        return pd.DataFrame(), f"No comparator for {finetuned} in this run."
    paired = finetuned_vs_best_zero_shot(scored, finetuned, comparators, cluster=plan.cluster_column,
                                         n_boot=plan.n_boot, seed=int(seed), ci=plan.interval)
    note = (f"Comparator: {label}. Paired cluster bootstrap ({plan.interval}, {plan.n_boot} resamples of "
            f"`{plan.cluster_column}`), clustered McNemar; Holm across topics.")
    return paired, note


def finetune_margins(rows: pd.DataFrame, ci: pd.DataFrame, scored: pd.DataFrame, finetuned: str) -> pd.DataFrame:
    """Per image-level topic: the fine-tuned model's weighted accuracy with its clustered interval (``ci``, as
    drawn in the figure), the uniform guess and the no-information level, and whether the interval lies wholly
    above each. Uncorrected: the Holm-corrected verdicts are the significance stage's; this table only replaces
    the former "margin > 0" point comparison, which claimed "above random" without any inference."""
    from .stats.weighted import no_information_level

    ft = rows[rows["model"] == finetuned].merge(ci[ci["model"] == finetuned], on=["model", "topic"], how="left")
    items = scored[(scored["model"] == finetuned) & (scored["level"] == "image")]
    no_info = {t: no_information_level(g["gold"]) for t, g in items.groupby("topic")}
    ni = ft["topic"].map(no_info).astype(float).to_numpy()
    out = pd.DataFrame({
        "topic": ft["topic"], "weighted accuracy (%)": (100 * ft["weighted_accuracy"]).round(1),
        "95% CI": [f"{100 * lo:.1f}-{100 * hi:.1f}" if pd.notna(lo) else "none"
                   for lo, hi in zip(ft["ci_low"], ft["ci_high"])],
        "uniform guess (%)": (100 * ft["random_guess"]).round(1),
        "no-information (%)": (100 * ni).round(1)})
    out["interval above uniform guess"] = ft["ci_low"].to_numpy() > ft["random_guess"].to_numpy()
    out["interval above no-information"] = ft["ci_low"].to_numpy() > ni
    return out
