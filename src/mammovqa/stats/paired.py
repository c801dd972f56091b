"""Paired comparison of two models answering the same items.

Absolute accuracy: the clustered McNemar test of Durkalski et al. (2003), which replaces McNemar's
variance (discordant pairs counted as independent) by the empirical variance of the per-cluster
differences, ``X = (sum_j (b_j - c_j))^2 / sum_j (b_j - c_j)^2`` ~ chi2(1), so questions sharing a patient
are not counted as independent evidence; the exact item-level McNemar p is kept beside it (``p_mcnemar_items``)
for comparison with the literature only. Weighted accuracy: patient-level paired clustered bootstrap of the
difference: both models' per-cluster class counts are resampled with the *same* cluster draws (conditional on
every class being present), so the shared difficulty of a patient cancels in the difference.

Pairing only makes sense on identical item sets; a mismatch is an error that lists what differs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import binomtest, chi2
from statsmodels.stats.multitest import multipletests

from ..errors import DataError
from .bootstrap import cluster_bootstrap
from .weighted import cluster_keys, cluster_stats, require_columns, wacc_from_sums, weighted_accuracy


class ItemSetMismatchError(DataError):
    """Two scored tables that should cover the same items do not."""

    def __init__(self, label_a: str, label_b: str, only_a: list[str], only_b: list[str], show: int = 5):
        self.only_a, self.only_b = only_a, only_b
        msg = (f"item sets differ: {len(only_a)} only in {label_a} (first: {only_a[:show]}), "
               f"{len(only_b)} only in {label_b} (first: {only_b[:show]})")
        super().__init__(f"{label_a} vs {label_b}", None, msg)


def _label(df: pd.DataFrame, fallback: str) -> str:
    if "model" in df.columns and df["model"].nunique() == 1:
        return str(df["model"].iloc[0])
    return fallback


def align_items(scored_a: pd.DataFrame, scored_b: pd.DataFrame, cluster: str = "patient_key") -> pd.DataFrame:
    """One row per shared item: gold, cluster and group columns from A, ``correct_a``/``correct_b``.

    Raises ``ItemSetMismatchError`` when ids differ, ``DataError`` on duplicate ids or a gold answer that
    differs between the two tables for the same id.
    """
    for df, name in ((scored_a, "A"), (scored_b, "B")):
        require_columns(df, ["id", "gold", "correct", cluster], f"scored table {name}")
        if df["id"].duplicated().any():
            dups = df.loc[df["id"].duplicated(), "id"].head(5).tolist()
            raise DataError(f"scored table {name}", None, f"duplicate item ids {dups}; filter to one matcher/split")
    la, lb = _label(scored_a, "A"), _label(scored_b, "B")
    ids_a, ids_b = set(scored_a["id"]), set(scored_b["id"])
    if ids_a != ids_b:
        raise ItemSetMismatchError(la, lb, sorted(ids_a - ids_b), sorted(ids_b - ids_a))
    b = scored_b.set_index("id").loc[scored_a["id"]]
    gold_diff = scored_a["gold"].to_numpy() != b["gold"].to_numpy()
    if gold_diff.any():
        raise DataError(f"{la} vs {lb}", None, f"{int(gold_diff.sum())} items have different gold answers "
                        f"(first: {scored_a['id'][gold_diff].head(5).tolist()})")
    out = scored_a.drop(columns=["correct"]).copy()
    out["correct_a"] = scored_a["correct"].to_numpy(int)
    out["correct_b"] = b["correct"].to_numpy(int)
    return out.reset_index(drop=True)


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> tuple[int, int, float]:
    """(A right & B wrong, A wrong & B right, exact two-sided p)."""
    a, b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    n_ab, n_ba = int(np.sum(a & ~b)), int(np.sum(~a & b))
    p = 1.0 if n_ab + n_ba == 0 else float(binomtest(n_ab, n_ab + n_ba, 0.5).pvalue)
    return n_ab, n_ba, p


def mcnemar_clustered(correct_a: np.ndarray, correct_b: np.ndarray, clusters: np.ndarray) -> float:
    """Durkalski's clustered McNemar p-value (two-sided); 1.0 when no cluster has a discordant item."""
    a, b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    d = pd.Series((a & ~b).astype(int) - (~a & b).astype(int)).groupby(np.asarray(clusters)).sum().to_numpy(float)
    denom = float(np.sum(d ** 2))
    if denom == 0:
        return 1.0
    return float(chi2.sf(float(d.sum()) ** 2 / denom, df=1))


def _paired_diff(sums: np.ndarray) -> np.ndarray:
    half = sums.shape[-1] // 2
    return wacc_from_sums(sums[..., :half]) - wacc_from_sums(sums[..., half:])


def compare_paired(paired: pd.DataFrame, cluster: str = "patient_key", n_boot: int = 2000, seed: int = 0,
                   ci: str = "percentile", level: float = 0.95) -> dict:
    """Statistics of one aligned group (see ``align_items``)."""
    n_ab, n_ba, p_items = mcnemar_exact(paired["correct_a"], paired["correct_b"])
    p_mc = mcnemar_clustered(paired["correct_a"], paired["correct_b"], cluster_keys(paired, cluster).to_numpy())
    sa = cluster_stats(paired, cluster, correct="correct_a")
    sb = cluster_stats(paired, cluster, correct="correct_b", classes=sa.classes, clusters=sa.clusters)
    rows = np.hstack([sa.matrix, sb.matrix])
    k = sa.n_classes  # class totals of A: columns k..2k-1 (B's are identical)
    res = cluster_bootstrap(rows, _paired_diff, n_boot=n_boot, seed=seed, method=ci, level=level,
                            require=np.arange(k, 2 * k))
    boot = res.boot[np.isfinite(res.boot)]
    p_boot = float(min(1.0, 2 * min((1 + np.sum(boot <= 0)) / (boot.size + 1), (1 + np.sum(boot >= 0)) / (boot.size + 1))))
    return {"n": len(paired), "n_clusters": sa.n_clusters, "cluster_key": cluster, "interval": ci,
            "accuracy_a": float(paired["correct_a"].mean()), "accuracy_b": float(paired["correct_b"].mean()),
            "accuracy_diff": float(paired["correct_a"].mean() - paired["correct_b"].mean()),
            "a_only_correct": n_ab, "b_only_correct": n_ba, "p_mcnemar": p_mc, "p_mcnemar_items": p_items,
            "weighted_a": weighted_accuracy(paired["correct_a"], paired["gold"]),
            "weighted_b": weighted_accuracy(paired["correct_b"], paired["gold"]),
            "weighted_diff": res.estimate, "ci_low": res.ci_low, "ci_high": res.ci_high, "p_bootstrap": p_boot}


def compare_models(scored_a: pd.DataFrame, scored_b: pd.DataFrame, by: Sequence[str] = ("topic",),
                   cluster: str = "patient_key", n_boot: int = 2000, seed: int = 0, ci: str = "percentile",
                   level: float = 0.95) -> pd.DataFrame:
    """Per group (default per topic): A minus B in absolute (McNemar) and weighted accuracy (paired clustered
    bootstrap CI and two-sided p), with Holm-adjusted p-values across the groups."""
    by = list(by)
    paired = align_items(scored_a, scored_b, cluster)
    la, lb = _label(scored_a, "A"), _label(scored_b, "B")
    rows = []
    for i, (key, g) in enumerate(paired.groupby(by, sort=True) if by else [((), paired)]):
        key = key if isinstance(key, tuple) else (key,)
        group_seed = int(np.random.SeedSequence([seed, i]).generate_state(1)[0])
        rows.append({"model_a": la, "model_b": lb, **dict(zip(by, key)),
                     **compare_paired(g, cluster, n_boot, group_seed, ci, level)})
    out = pd.DataFrame(rows)
    for col in ("p_mcnemar", "p_bootstrap"):
        out[f"{col}_holm"] = multipletests(out[col], method="holm")[1]
    return out


def finetuned_vs_best_zero_shot(scored_all: pd.DataFrame, finetuned_model: str, zero_shot_models: Sequence[str],
                                by: Sequence[str] = ("topic",), cluster: str = "patient_key", n_boot: int = 2000,
                                seed: int = 0, ci: str = "percentile") -> pd.DataFrame:
    """Per topic, the fine-tuned model against the zero-shot model with the highest weighted accuracy on
    that topic (chosen on the same data, as the paper does; the comparison is therefore against the most
    favourable baseline, not a pre-registered one)."""
    by = list(by)
    require_columns(scored_all, ["model", *by, "gold", "correct"])
    known = set(scored_all["model"])
    missing = [m for m in [finetuned_model, *zero_shot_models] if m not in known]
    if missing:
        raise DataError("scored table", None, f"models {missing} not present (have {sorted(known)})")
    rows = []
    for i, (key, g) in enumerate(scored_all.groupby(by, sort=True)):
        key = key if isinstance(key, tuple) else (key,)
        ft = g[g["model"] == finetuned_model]
        zs = {m: g[g["model"] == m] for m in zero_shot_models}
        zs = {m: d for m, d in zs.items() if len(d)}
        if ft.empty or not zs:
            continue
        best = max(sorted(zs), key=lambda m: weighted_accuracy(zs[m]["correct"], zs[m]["gold"]))
        group_seed = int(np.random.SeedSequence([seed, i]).generate_state(1)[0])
        paired = align_items(ft, zs[best], cluster)
        rows.append({**dict(zip(by, key)), "finetuned": finetuned_model, "best_zero_shot": best,
                     **compare_paired(paired, cluster, n_boot, group_seed, ci)})
    out = pd.DataFrame(rows)
    if len(out):
        out["p_bootstrap_holm"] = multipletests(out["p_bootstrap"], method="holm")[1]
        out["p_mcnemar_holm"] = multipletests(out["p_mcnemar"], method="holm")[1]
    return out
