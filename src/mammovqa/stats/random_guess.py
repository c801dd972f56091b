"""Is a model better than, worse than, or equivalent to what it could reach without looking at the image?

Reference: the *no-information level* of a topic, ``1/C`` with ``C`` the gold classes present (see
``weighted.no_information_level``): the highest expected weighted accuracy of any image-blind predictor. The
uniform random guess over the options (1/K single choice, 1/(2^K-1) multiple choice) is reported beside it as a
second, labelled column (``uniform_guess``); for multi-answer Abnormality it is 1/1023 while a constant answer
reaches 10-20%, so testing against it would call image-blind predictors "above random".

One inference per claim: estimate, interval, superiority, inferiority and equivalence all come from one clustered
bootstrap distribution (resampling the plan's cluster, by default patients, conditional on every class being
present). The superiority p-value is two-sided, ``2 * share of resamples <= reference`` (+1 corrected), so
uncorrected ``p < alpha`` is exactly "the (1 - alpha) percentile interval lies above the reference"; likewise
inferiority. Equivalence (TOST) against ``margin = max(minimum, relative * reference)``: the larger of the
shares of resamples beyond each bound, so ``p_tost < alpha`` is "the (1 - 2 alpha) interval lies within the
margins". Holm corrects each kind of test across the confirmatory family only (``family`` column; trained and
zero-shot models x topics); descriptive rows (baselines, the untrained check) keep uncorrected p-values and say
so in their verdict. A predictor giving one answer to at least ``degenerate_share`` of the items is reported as
degenerate and never tested: its resampling variance is ~0, so a TOST would call it "equivalent" by construction.

``simulate_null`` and ``random_guess_pvalues`` keep the exact null distribution of a *uniform guesser on fixed
items* (no sampling variance); they are used for power and simulation checks, not for verdicts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from ..errors import DataError
from .bootstrap import cluster_bootstrap, percentile_interval
from .weighted import (
    class_weights,
    cluster_stats,
    degenerate_share,
    no_information_level,
    random_expectation,
    require_columns,
    wacc_from_sums,
)

ABOVE, BELOW, EQUIVALENT = "above no-information", "below no-information", "equivalent to no-information"
VERDICTS = (ABOVE, f"{ABOVE}, within margin", EQUIVALENT, BELOW, f"{BELOW}, within margin",
            f"{ABOVE} before correction only", f"{BELOW} before correction only", "inconclusive", "degenerate")
DESCRIPTIVE_SUFFIX = " (descriptive, uncorrected)"


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


def bootstrap_pvalues(boot: np.ndarray, reference: float) -> tuple[float, float]:
    """Two-sided (superiority, inferiority) p-values of the bootstrap distribution against ``reference``:
    ``p_sup < alpha`` exactly when the (1 - alpha) percentile interval lies above the reference."""
    b = boot[np.isfinite(boot)]
    if b.size == 0:
        return float("nan"), float("nan")
    eps = 1e-12  # a constant statistic equal to the reference is not above it
    p_sup = 2 * (1 + np.count_nonzero(b <= reference + eps)) / (b.size + 1)
    p_inf = 2 * (1 + np.count_nonzero(b >= reference - eps)) / (b.size + 1)
    return float(min(1.0, p_sup)), float(min(1.0, p_inf))


def _not_testable_reason(g: pd.DataFrame, cluster: str, min_items: int) -> str | None:
    if len(g) < min_items:
        return f"not testable: {len(g)} items (< {min_items})"
    if g["gold"].nunique() < 2:
        return f"not testable: one gold class ({g['gold'].iloc[0]!r})"
    if g[cluster].nunique() < 2:
        return "not testable: one cluster"
    return None


def _check_unique_ids(scored: pd.DataFrame, by: Sequence[str]) -> None:
    """One row per item and group, or the group mixes matchers/splits and every count would be wrong."""
    dup = scored.duplicated([*by, "id"])
    if dup.any():
        ex = scored.loc[dup, [*by, "id"]].head(3).to_dict("records")
        raise DataError("scored table", None, f"{int(dup.sum())} duplicate item ids within groups {list(by)} "
                        f"(e.g. {ex}); filter to one matcher/split or add it to `by`")


RESULT_COLUMNS = ("family", "n", "n_clusters", "cluster_key", "interval", "n_classes", "estimate", "ci_low",
                  "ci_high", "se", "no_information", "uniform_guess", "diff", "margin", "p_superiority",
                  "p_superiority_holm", "p_inferiority", "p_inferiority_holm", "p_tost", "p_tost_holm", "tost_low",
                  "tost_high", "top_answer_share", "verdict")


def test_against_random(scored: pd.DataFrame, by: Sequence[str] = ("model", "topic"), cluster: str = "patient_key",
                        n_boot: int = 2000, seed: int = 0, alpha: float = 0.05, min_items: int = 20,
                        ci: str = "percentile", level: float = 0.95, margin_relative: float = 0.2,
                        margin_minimum: float = 0.01, margin: float | None = None,
                        degenerate_at: float = 0.95) -> pd.DataFrame:
    """Per group: weighted accuracy with its clustered CI, the no-information and uniform-guess levels,
    superiority / inferiority / TOST p-values from that same bootstrap (raw and Holm within the confirmatory
    family), and a verdict (see the module docstring). ``margin`` (absolute) overrides the relative rule.

    ``scored`` may carry a ``family`` column ("confirmatory" / "descriptive"); without it every row is
    confirmatory. A ``pred`` column enables the degenerate-predictor check. Groups with too few items, one
    class or one cluster are "not testable: <reason>" with NaN statistics.
    """
    by = list(by)
    require_columns(scored, [*by, "id", "gold", "correct", "random_p", cluster])
    _check_unique_ids(scored, by)
    rows: list[dict] = []
    for i, (key, g) in enumerate(scored.groupby(by, sort=True)):
        key = key if isinstance(key, tuple) else (key,)
        family = str(g["family"].iloc[0]) if "family" in g.columns else "confirmatory"
        row: dict = {**dict(zip(by, key)), "family": family, "n": len(g), "n_clusters": int(g[cluster].nunique()),
                     "cluster_key": cluster, "interval": ci, "n_classes": int(g["gold"].nunique())}
        reason = _not_testable_reason(g, cluster, min_items)
        if reason:
            rows.append({**row, "verdict": reason})
            continue
        rows.append({**row, **_group_stats(g, cluster, n_boot, _group_seed(seed, i), ci, level, alpha,
                                           margin_relative, margin_minimum, margin)})
    out = pd.DataFrame(rows)
    return _finish(out, by, alpha, degenerate_at)


test_against_random.__test__ = False  # a library function, not a pytest test


def _group_seed(seed: int, i: int) -> int:
    return int(np.random.SeedSequence([seed, i]).generate_state(1)[0])


def _group_stats(g: pd.DataFrame, cluster: str, n_boot: int, seed: int, ci: str, level: float, alpha: float,
                 margin_relative: float, margin_minimum: float, margin: float | None) -> dict:
    stats = cluster_stats(g, cluster)
    res = cluster_bootstrap(stats.matrix, wacc_from_sums, n_boot=n_boot, seed=seed, method=ci, level=level,
                            require=stats.total_columns)
    ref = no_information_level(g["gold"])
    m = float(margin) if margin is not None else max(margin_minimum, margin_relative * ref)
    p_sup, p_inf = bootstrap_pvalues(res.boot, ref)
    lo90, hi90 = percentile_interval(res.boot, 1 - 2 * alpha)
    top = degenerate_share(g["pred"]) if "pred" in g.columns else float("nan")
    return {"estimate": res.estimate, "ci_low": res.ci_low, "ci_high": res.ci_high, "se": res.se,
            "no_information": ref, "uniform_guess": random_expectation(g["random_p"], g["gold"]),
            "diff": res.estimate - ref, "margin": m, "p_superiority": p_sup, "p_inferiority": p_inf,
            "p_tost": tost_pvalue(res.boot, ref, m), "tost_low": lo90, "tost_high": hi90, "top_answer_share": top}


def _holm(p: pd.Series) -> np.ndarray:
    return multipletests(p.to_numpy(float), method="holm")[1] if len(p) else np.array([])


def _finish(out: pd.DataFrame, by: list[str], alpha: float, degenerate_at: float) -> pd.DataFrame:
    for c in RESULT_COLUMNS:
        if c not in out.columns:
            out[c] = None if c in ("verdict", "family", "cluster_key", "interval") else np.nan
    tested = out["p_superiority"].notna()
    degenerate = tested & (out["top_answer_share"].fillna(0) >= degenerate_at)
    out.loc[degenerate, "verdict"] = [f"degenerate (one answer to {100 * s:.0f}% of items)"
                                      for s in out.loc[degenerate, "top_answer_share"]]
    live = tested & ~degenerate
    conf = live & (out["family"] == "confirmatory")
    for col in ("p_superiority", "p_inferiority", "p_tost"):
        out.loc[conf, f"{col}_holm"] = _holm(out.loc[conf, col])
    out.loc[live, "verdict"] = [_verdict(r, alpha) for r in out.loc[live].itertuples()]
    return out[[*by, *RESULT_COLUMNS]].reset_index(drop=True)


def _verdict(r, alpha: float) -> str:
    """Verdict of one row: corrected p-values for the confirmatory family, raw ones (labelled) otherwise."""
    confirmatory = r.family == "confirmatory"
    sup = r.p_superiority_holm if confirmatory else r.p_superiority
    inf = r.p_inferiority_holm if confirmatory else r.p_inferiority
    tost = r.p_tost_holm if confirmatory else r.p_tost
    suffix = "" if confirmatory else DESCRIPTIVE_SUFFIX
    within = tost < alpha
    if sup < alpha:
        return (f"{ABOVE}, within margin" if within else ABOVE) + suffix
    if inf < alpha:
        return (f"{BELOW}, within margin" if within else BELOW) + suffix
    if within:
        return EQUIVALENT + suffix
    if r.p_superiority < alpha:
        return f"{ABOVE} before correction only"
    if r.p_inferiority < alpha:
        return f"{BELOW} before correction only"
    return "inconclusive" + suffix
