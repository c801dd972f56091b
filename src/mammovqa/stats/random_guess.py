"""Is a model better than, worse than, or equivalent to a random guesser on a topic?

Null of the superiority test: the model guesses at random, so item i is correct with probability
``random_p_i`` (1/K single choice, 1/(2^K-1) multiple choice), independently. The statistic is the weighted
accuracy, a weighted sum of independent Bernoullis (a Poisson-binomial with unequal weights, with no handy
closed form). Items of the same gold class have the same weight, so the items sharing (class, random_p) form
a cell whose number correct is exactly Binomial(n_cell, p_cell): the seeded Monte-Carlo draws one binomial per
cell per simulation, which is the exact null distribution sampled with ``n_sim`` (default 10,000) draws at a
cost independent of the number of items. ``method="normal"`` is the fast path: a z-test with the exact null
variance ``sum w_i^2 p_i (1 - p_i)``. Independence is right under this null even within an image: a random
guesser's guesses do not depend on each other.

Equivalence (TOST, margin default 5 points): H0 ``|acc - random| >= margin``. Its two one-sided p-values come
from the clustered bootstrap distribution (the share of resamples beyond each margin, +1 corrected), so
``p_tost < alpha`` matches "the (1 - 2 alpha) percentile CI lies inside [random - margin, random + margin]".
Superiority p-values are corrected across the family (every testable row) by Holm and Benjamini-Hochberg.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from ..errors import DataError
from .bootstrap import cluster_bootstrap, percentile_interval
from .weighted import class_weights, cluster_stats, random_expectation, require_columns, wacc_from_sums

VERDICTS = ("above random", "above random, within margin", "equivalent to random", "below random",
            "below random, within margin", "inconclusive")


def null_cells(gold: pd.Series | np.ndarray, random_p: pd.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cells of exchangeable items under the null: (n per cell, chance per cell, weight of one item)."""
    w = class_weights(gold)
    frame = pd.DataFrame({"g": np.asarray(gold, dtype=str), "p": np.asarray(random_p, dtype=float), "w": w})
    cells = frame.groupby(["g", "p"], sort=True).agg(n=("w", "size"), w=("w", "first")).reset_index()
    return cells["n"].to_numpy(np.int64), cells["p"].to_numpy(float), cells["w"].to_numpy(float)


def simulate_null(gold, random_p, n_sim: int = 10_000, seed: int = 0) -> np.ndarray:
    """``n_sim`` draws of the random guesser's weighted accuracy (exact cell-binomial sampling)."""
    n, p, w = null_cells(gold, random_p)
    rng = np.random.default_rng(seed)
    out = np.empty(n_sim)
    step = max(1, 2_000_000 // max(len(n), 1))
    for start in range(0, n_sim, step):
        b = min(step, n_sim - start)
        out[start:start + b] = rng.binomial(n, p, size=(b, len(n))) @ w
    return out


def random_guess_pvalues(correct, gold, random_p, n_sim: int = 10_000, seed: int = 0,
                         method: str = "simulation") -> tuple[float, float]:
    """One-sided p-values (superiority, inferiority) of the observed weighted accuracy against the null."""
    w = class_weights(gold)
    obs = float(np.dot(w, np.asarray(correct, dtype=float)))
    rp = np.asarray(random_p, dtype=float)
    mean0 = float(np.dot(w, rp))
    if method == "normal":
        sd0 = float(np.sqrt(np.dot(w ** 2, rp * (1 - rp))))
        if sd0 == 0:
            return (0.0 if obs > mean0 else 1.0), (0.0 if obs < mean0 else 1.0)
        z = (obs - mean0) / sd0
        return float(sps.norm.sf(z)), float(sps.norm.cdf(z))
    if method != "simulation":
        raise ValueError(f"method must be 'simulation' or 'normal', got {method!r}")
    sims = simulate_null(gold, random_p, n_sim, seed)
    eps = 1e-12  # float sums of equal draws must compare equal
    p_sup = (1 + np.count_nonzero(sims >= obs - eps)) / (n_sim + 1)
    p_inf = (1 + np.count_nonzero(sims <= obs + eps)) / (n_sim + 1)
    return float(p_sup), float(p_inf)


def tost_pvalue(boot: np.ndarray, random_guess: float, margin: float) -> float:
    """Bootstrap TOST: the larger of the shares of resamples at or beyond each equivalence bound."""
    b = boot[np.isfinite(boot)]
    if b.size == 0:
        return float("nan")
    p_low = (1 + np.count_nonzero(b <= random_guess - margin)) / (b.size + 1)
    p_high = (1 + np.count_nonzero(b >= random_guess + margin)) / (b.size + 1)
    return float(max(p_low, p_high))


def _not_testable_reason(g: pd.DataFrame, cluster: str, min_items: int) -> str | None:
    if len(g) < min_items:
        return f"not testable: {len(g)} items (< {min_items})"
    if g["gold"].nunique() < 2:
        return f"not testable: one gold class ({g['gold'].iloc[0]!r})"
    if g[cluster].nunique() < 2:
        return "not testable: one cluster"
    rp = g["random_p"].to_numpy(float)
    if not np.all(np.isfinite(rp)):
        return f"not testable: {int((~np.isfinite(rp)).sum())} items lack a random-guess chance"
    if np.all((rp <= 0) | (rp >= 1)):
        return "not testable: no item has a random-guess chance strictly between 0 and 1"
    return None


def _check_unique_ids(scored: pd.DataFrame, by: Sequence[str]) -> None:
    """One row per item and group, or the group mixes matchers/splits and every count would be wrong."""
    dup = scored.duplicated([*by, "id"])
    if dup.any():
        ex = scored.loc[dup, [*by, "id"]].head(3).to_dict("records")
        raise DataError("scored table", None, f"{int(dup.sum())} duplicate item ids within groups {list(by)} "
                        f"(e.g. {ex}); filter to one matcher/split or add it to `by`")


def test_against_random(scored: pd.DataFrame, by: Sequence[str] = ("model", "topic"), margin: float = 0.05,
                        cluster: str = "record_id", n_boot: int = 2000, seed: int = 0, n_sim: int = 10_000,
                        alpha: float = 0.05, min_items: int = 20, ci: str = "percentile",
                        null_method: str = "simulation", level: float = 0.95) -> pd.DataFrame:
    """Per group: weighted accuracy with clustered CI, random-guess expectation, superiority p (raw, Holm,
    BH), TOST p against ``margin``, and a verdict.

    Verdict: "above random" when Holm-adjusted superiority p < alpha ("above random, within margin" when the
    equivalence test also holds: better than chance but by less than the margin); "below random" (likewise
    ", within margin") when the Holm-adjusted inferiority p < alpha; "equivalent to random" when p_tost < alpha; else "inconclusive".
    Groups with too few items, one class or one cluster are "not testable: <reason>" with NaN statistics.
    """
    by = list(by)
    require_columns(scored, [*by, "id", "gold", "correct", "random_p", cluster])
    _check_unique_ids(scored, by)
    rows: list[dict] = []
    for i, (key, g) in enumerate(scored.groupby(by, sort=True)):
        key = key if isinstance(key, tuple) else (key,)
        row: dict = {**dict(zip(by, key)), "n": len(g), "n_clusters": int(g[cluster].nunique()),
                     "n_classes": int(g["gold"].nunique())}
        reason = _not_testable_reason(g, cluster, min_items)
        if reason:
            rows.append({**row, "verdict": reason})
            continue
        group_seed = int(np.random.SeedSequence([seed, i]).generate_state(1)[0])
        stats = cluster_stats(g, cluster)
        res = cluster_bootstrap(stats.matrix, wacc_from_sums, n_boot=n_boot, seed=group_seed, method=ci, level=level)
        rg = random_expectation(g["random_p"], g["gold"])
        p_sup, p_inf = random_guess_pvalues(g["correct"], g["gold"], g["random_p"], n_sim, group_seed + 1, null_method)
        lo90, hi90 = percentile_interval(res.boot, 1 - 2 * alpha)
        rows.append({**row, "estimate": res.estimate, "ci_low": res.ci_low, "ci_high": res.ci_high, "se": res.se,
                     "random_guess": rg, "diff": res.estimate - rg, "p_superiority": p_sup, "p_inferiority": p_inf,
                     "p_tost": tost_pvalue(res.boot, rg, margin), "tost_low": lo90, "tost_high": hi90})
    out = pd.DataFrame(rows)
    return _finish(out, by, alpha, margin)


test_against_random.__test__ = False  # a library function, not a pytest test


def _finish(out: pd.DataFrame, by: list[str], alpha: float, margin: float) -> pd.DataFrame:
    cols = [*by, "n", "n_clusters", "n_classes", "estimate", "ci_low", "ci_high", "se", "random_guess", "diff",
            "p_superiority", "p_holm", "p_bh", "p_inferiority", "p_inferiority_holm", "p_tost", "tost_low",
            "tost_high", "margin", "verdict"]
    for c in cols:
        if c not in out.columns:
            out[c] = np.nan if c != "verdict" else None
    out["margin"] = margin
    testable = out["p_superiority"].notna()
    if testable.any():
        out.loc[testable, "p_holm"] = multipletests(out.loc[testable, "p_superiority"], method="holm")[1]
        out.loc[testable, "p_bh"] = multipletests(out.loc[testable, "p_superiority"], method="fdr_bh")[1]
        out.loc[testable, "p_inferiority_holm"] = multipletests(out.loc[testable, "p_inferiority"], method="holm")[1]
        out.loc[testable, "verdict"] = [
            _verdict(r.p_holm, r.p_inferiority_holm, r.p_tost, alpha) for r in out.loc[testable].itertuples()]
    return out[cols].reset_index(drop=True)


def _verdict(p_holm: float, p_inf_holm: float, p_tost: float, alpha: float) -> str:
    equivalent = p_tost < alpha
    if p_holm < alpha:
        return "above random, within margin" if equivalent else "above random"
    if p_inf_holm < alpha:
        return "below random, within margin" if equivalent else "below random"
    return "equivalent to random" if equivalent else "inconclusive"
