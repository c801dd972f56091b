"""Patient-clustered intervals and paired comparisons of report-generation metrics (docs/protocol.md s8).

Why here and not beside the metrics: every clustered bootstrap of the package lives in ``stats/``. The report
wing resamples *patients as multiplicity vectors* (:func:`stats.bootstrap.cluster_multiplicities`) rather than
as summed cluster rows (:func:`stats.bootstrap.resample_sums`), because corpus BLEU and METEOR 1.5 must be
recomputed by their implementations on each resample (``eval.report_metrics`` does that, given the same
multiplicities); pair means and micro F1 are then sums over the same resamples. One draw of patients serves
every statistic and every system, so model-minus-baseline differences stay paired.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..eval.report_metrics import ReportScores
from .bootstrap import cluster_multiplicities, percentile_interval, pooled_mean_replicates

#: Report-table keys compared between systems; each is compared on the statistic the metrics table reports.
COMPARED_METRICS: tuple[str, ...] = ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "rouge_l", "meteor", "cider",
                                     "birads_acc", "birads4_acc", "density_acc", "finding_f1")
#: Table key -> per-pair column whose pooled mean (pairs without the fact left out) is the table's value.
MEAN_STATISTICS = {"rouge_l": "rouge_l", "cider": "cider", "birads_acc": "birads_correct",
                   "birads4_acc": "birads4_correct", "density_acc": "density_correct"}
#: Finding precision, recall and F1 are micro-averaged over every finding term of every pair.
MICRO_STATISTICS = ("finding_precision", "finding_recall", "finding_f1")


def patient_resample(patient_ids: Sequence[str], n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The patient resamples of a set of pairs (one patient id per pair, in scoring order): (patient code per
    pair, (n_boot, patients) counts). Passed to ``eval.report_metrics.score_systems(resample=...)`` so corpus
    BLEU and METEOR get replicates on exactly the resamples :func:`value_interval` and
    :func:`compare_with_baselines` use with the same ``n_boot`` and ``seed``."""
    return cluster_multiplicities([str(p) for p in patient_ids], n_boot, seed)


def interval(boot: np.ndarray, level: float = 0.95) -> dict[str, float]:
    """Percentile interval of replicates (non-finite ones left out) as a ``{ci_low, ci_high}`` row."""
    lo, hi = percentile_interval(np.asarray(boot, dtype=float), level)
    return {"ci_low": lo, "ci_high": hi}


def _two_sided_p(reps: np.ndarray) -> float:
    """2 x the smaller tail share of replicate differences at or beyond zero (capped at 1)."""
    return float(min(1.0, 2 * min(np.mean(reps <= 0), np.mean(reps >= 0)))) if len(reps) else float("nan")


def cluster_bootstrap_ci(values: Sequence[float], clusters: Sequence[str], n_boot: int = 2000, seed: int = 0,
                         level: float = 0.95) -> dict[str, float]:
    """Mean of ``values`` (NaNs left out) with a percentile CI from a patient-clustered bootstrap."""
    v = np.asarray(values, dtype=float)
    ok = ~np.isnan(v)
    reps = pooled_mean_replicates(v, clusters, n_boot, seed)
    return {"mean": float(np.nanmean(v)) if ok.any() else float("nan"), **interval(reps, level),
            "n": int(ok.sum()), "clusters": int(np.unique(np.asarray(clusters, dtype=str)[ok]).size)}


def paired_cluster_bootstrap(a: Sequence[float], b: Sequence[float], clusters: Sequence[str], n_boot: int = 2000,
                             seed: int = 0, level: float = 0.95) -> dict[str, float]:
    """Mean paired difference a - b with a patient-clustered bootstrap CI and two-sided bootstrap p-value.

    Pairs where either score is NaN (e.g. a reference without BI-RADS) are dropped from both.
    """
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    reps = pooled_mean_replicates(d, clusters, n_boot, seed)
    ok = reps[~np.isnan(reps)]
    return {"diff": float(np.nanmean(d)) if np.any(~np.isnan(d)) else float("nan"), **interval(ok, level),
            "p": _two_sided_p(ok), "n": int(np.sum(~np.isnan(d)))}


def statistic_kind(key: str) -> str:
    """How the table's value of ``key`` is formed, in words (a column of the comparison table)."""
    if key in MICRO_STATISTICS:
        return {"finding_precision": "micro precision", "finding_recall": "micro recall",
                "finding_f1": "micro F1"}[key] + " over all finding terms"
    if key in MEAN_STATISTICS:
        return "mean over pairs"
    return "corpus statistic"


def statistic_replicates(sc: ReportScores, key: str, inv: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Replicates of the table's value of ``key`` on the patient resamples ``(inv, w)`` of
    :func:`patient_resample`.

    Why: a comparison or interval must be of the number the metrics table reports. Micro F1 is formed from
    resampled true/false positive and false negative sums (pairs where neither report names a finding score
    F1 = 1 per pair but add nothing to the micro F1, so a pair mean would be another quantity); pair means from
    resampled sums and counts; corpus BLEU and METEOR use the replicates ``score_reports`` made on the same
    resamples (the same for every system scored together, so differences stay paired).
    """
    k = w.shape[1]
    per = sc.per_pair

    def sums(values: np.ndarray) -> np.ndarray:
        return w.astype(float) @ np.bincount(inv, weights=values, minlength=k)

    if key in MICRO_STATISTICS:
        t, p, n = (sums(per[c].to_numpy(float)) for c in ("finding_tp", "finding_fp", "finding_fn"))
        with np.errstate(invalid="ignore", divide="ignore"):
            if key == "finding_precision":
                return np.where(t + p > 0, t / (t + p), np.nan)
            if key == "finding_recall":
                return np.where(t + n > 0, t / (t + n), np.nan)
            return np.where(t > 0, 2 * t / (2 * t + p + n), 0.0)
    if key in MEAN_STATISTICS:
        x = per[MEAN_STATISTICS[key]].to_numpy(float)
        ok = ~np.isnan(x)
        with np.errstate(invalid="ignore", divide="ignore"):
            return sums(np.where(ok, x, 0.0)) / sums(ok.astype(float))
    if key in sc.corpus_boot:
        return np.asarray(sc.corpus_boot[key], dtype=float)
    return np.full(w.shape[0], np.nan)


def value_interval(sc: ReportScores, key: str, n_boot: int, seed: int, level: float = 0.95) -> dict[str, float]:
    """Patient-clustered percentile interval of the value ``sc.corpus[key]`` itself (see
    :func:`statistic_replicates`); pair means keep :func:`cluster_bootstrap_ci`, whose resamples skip pairs
    without the fact. A corpus statistic without replicates gets no interval (NaN), never a pair mean's."""
    clusters = sc.per_pair["patient_id"].astype(str).to_numpy()
    if key in MEAN_STATISTICS:
        col = MEAN_STATISTICS[key]
        if col not in sc.per_pair:
            return {"ci_low": float("nan"), "ci_high": float("nan")}
        ci = cluster_bootstrap_ci(sc.per_pair[col].to_numpy(float), clusters, n_boot=n_boot, seed=seed,
                                  level=level)
        return {"ci_low": ci["ci_low"], "ci_high": ci["ci_high"]}
    if key in MICRO_STATISTICS:
        return interval(statistic_replicates(sc, key, *cluster_multiplicities(clusters, n_boot, seed)), level)
    if key in sc.corpus_boot:
        return interval(sc.corpus_boot[key], level)
    return {"ci_low": float("nan"), "ci_high": float("nan")}


def compare_with_baselines(model: ReportScores, baselines: Mapping[str, ReportScores],
                           metrics: Sequence[str] = COMPARED_METRICS, n_boot: int = 2000,
                           seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """Paired, patient-clustered comparison of the model with each baseline on the metrics table's own values.

    ``model`` and ``baseline_value`` equal the ``value`` column of ``report_metrics.csv`` for the same key, and
    the interval and two-sided bootstrap p-value (2 x the smaller tail share of replicate differences at or
    beyond zero) come from the same resamples for both systems. A corpus statistic without replicates (METEOR
    through NLTK) gets its difference without an interval.
    """
    rows = []
    clusters = model.per_pair["patient_id"].astype(str).to_numpy()
    inv, w = cluster_multiplicities(clusters, n_boot, seed)
    model_reps: dict[str, np.ndarray] = {}  # the model's replicates serve every baseline
    for name, base in baselines.items():
        if list(base.per_pair["id"]) != list(model.per_pair["id"]):
            raise ValueError(f"baseline {name!r} was scored on different pairs than the model")
        for m in metrics:
            if not (np.isfinite(model.corpus.get(m, np.nan)) and np.isfinite(base.corpus.get(m, np.nan))):
                continue  # not scored, or no reference states the fact (e.g. density): nothing to compare
            if m not in model_reps:
                model_reps[m] = statistic_replicates(model, m, inv, w)
            reps = model_reps[m] - statistic_replicates(base, m, inv, w)
            ok = reps[np.isfinite(reps)]
            n = int(model.per_pair[MEAN_STATISTICS[m]].notna().sum()) if m in MEAN_STATISTICS else len(clusters)
            rows.append({"baseline": name, "metric": m, "statistic": statistic_kind(m),
                         "model": float(model.corpus[m]), "baseline_value": float(base.corpus[m]),
                         "diff": float(model.corpus[m] - base.corpus[m]), **interval(ok, level),
                         "p": _two_sided_p(ok), "n": n, "clusters": int(w.shape[1]), "cluster_key": "patient_id"})
    return pd.DataFrame(rows, columns=["baseline", "metric", "statistic", "model", "baseline_value", "diff",
                                       "ci_low", "ci_high", "p", "n", "clusters", "cluster_key"])
