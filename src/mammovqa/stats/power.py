"""Minimum detectable improvement over random guess per topic (one-sided test, given alpha and power).

Why analytic: the benchmark's design (n, class balance, option counts) fixes the variance of the weighted
accuracy, ``sum w_i^2 q_i (1 - q_i)`` with ``w_i = 1/(K |C_i|)``. With every item's chance of being correct
raised from ``p_i`` to ``p_i + delta`` (clipped to [0, 1]), the smallest detectable ``delta`` solves

    delta = z_{1-alpha} * sd0 + z_{power} * sd1(delta)

(sd0 under the null, sd1 under the alternative), found by root search. A design effect
``1 + (m - 1) * icc`` (m = mean items per cluster within the topic) inflates both variances when answers
within a patient are correlated; ``icc = 0`` (default) assumes independence. ``icc`` may be a per-topic map,
e.g. :func:`icc_anova` of a trained model's answers within patients (the significance stage does this), so
the power table accounts for the same clustering as the intervals.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import optimize
from scipy import stats as sps

from .weighted import class_weights, random_expectation, require_columns


def mde_for_items(gold, random_p, alpha: float = 0.05, power: float = 0.8, deff: float = 1.0) -> float:
    """Smallest delta detectable for one group of items; NaN when even a perfect model is not detectable."""
    w = class_weights(gold)
    p = np.asarray(random_p, dtype=float)
    za, zb = sps.norm.ppf(1 - alpha), sps.norm.ppf(power)

    def sd(delta: float) -> float:
        q = np.clip(p + delta, 0.0, 1.0)
        return float(np.sqrt(deff * np.dot(w ** 2, q * (1 - q))))

    sd0 = sd(0.0)

    def gap(delta: float) -> float:
        return delta - za * sd0 - zb * sd(delta)

    top = float(1.0 - p.min())
    if top <= 0 or gap(top) < 0:
        return float("nan")
    return float(optimize.brentq(gap, 0.0, top, xtol=1e-10))


def icc_anova(values: np.ndarray | pd.Series, clusters: np.ndarray | pd.Series) -> float:
    """One-way ANOVA estimator of the intra-cluster correlation of 0/1 answers (clipped at 0; NaN when it is
    undefined: one cluster, or every cluster a single item)."""
    df = pd.DataFrame({"y": np.asarray(values, dtype=float), "c": np.asarray(clusters)})
    g = df.groupby("c")["y"]
    n_i, k, n = g.size().to_numpy(float), g.ngroups, len(df)
    if k < 2 or n <= k:
        return float("nan")
    means, grand = g.mean().to_numpy(), df["y"].mean()
    msb = float(np.sum(n_i * (means - grand) ** 2) / (k - 1))
    msw = float(np.sum((df["y"] - g.transform("mean")) ** 2) / (n - k))
    m0 = (n - np.sum(n_i ** 2) / n) / (k - 1)
    denom = msb + (m0 - 1) * msw
    return float(max(0.0, (msb - msw) / denom)) if denom > 0 else float("nan")


def minimum_detectable_effect(items: pd.DataFrame, by: Sequence[str] = ("topic",), alpha: float = 0.05,
                              power: float = 0.8, icc: float | dict = 0.0,
                              cluster: str | None = "patient_key") -> pd.DataFrame:
    """Per group: n, classes, random-guess expectation and the MDE (in accuracy units, 0.05 = 5 points).

    ``items`` may be a scored table of several models: items are de-duplicated by id first, since the
    benchmark design, not any model, sets the power.
    """
    by = list(by)
    require_columns(items, [*by, "id", "gold", "random_p"])
    uniq = items.drop_duplicates([*by, "id"])
    rows = []
    for key, g in uniq.groupby(by, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        m = len(g) / g[cluster].nunique() if cluster and cluster in g.columns else 1.0
        rho = icc.get(key[0] if len(key) == 1 else key, 0.0) if isinstance(icc, dict) else icc
        rho = 0.0 if not np.isfinite(rho) else float(rho)
        deff = 1.0 + (m - 1.0) * rho
        mde = mde_for_items(g["gold"], g["random_p"], alpha, power, deff) if g["gold"].nunique() > 0 else np.nan
        rows.append({**dict(zip(by, key)), "n": len(g), "n_classes": int(g["gold"].nunique()),
                     "random_guess": random_expectation(g["random_p"], g["gold"]), "items_per_cluster": m,
                     "icc": rho, "design_effect": deff,
                     "mde": mde})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ power by patient-level simulation


def _cluster_class_design(gold, clusters) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Item -> cluster code, item -> class code, per (cluster, class) item counts, J, K."""
    j, _ = pd.factorize(pd.Series(np.asarray(clusters)).astype(str), sort=True)
    k, _ = pd.factorize(pd.Series(np.asarray(gold)).astype(str), sort=True)
    n_j, n_k = int(j.max()) + 1, int(k.max()) + 1
    totals = np.bincount(j * n_k + k, minlength=n_j * n_k).reshape(n_j, n_k).astype(float)
    return j.astype(np.int64), k.astype(np.int64), totals, n_j, n_k


def _reject_share(correct: np.ndarray, j: np.ndarray, k: np.ndarray, totals: np.ndarray, reference: float,
                  z: float) -> float:
    """Share of simulated studies (rows of ``correct``) whose clustered interval lies wholly above ``reference``.

    The interval is estimate +/- z * the cluster-robust (linearised) SE of weighted accuracy, the large-sample
    counterpart of the percentile cluster bootstrap the verdicts use: per-cluster influence
    ``(1/K) sum_k (c_jk - acc_k n_jk) / N_k``, variance ``J/(J-1) sum_j infl_j^2``."""
    n_sim = correct.shape[0]
    n_j, n_k = totals.shape
    flat = j * n_k + k
    sums = np.zeros((n_sim, n_j * n_k))
    for s in range(n_sim):
        sums[s] = np.bincount(flat, weights=correct[s], minlength=n_j * n_k)
    sums = sums.reshape(n_sim, n_j, n_k)
    n_class = totals.sum(axis=0)
    acc_k = sums.sum(axis=1) / n_class
    est = acc_k.mean(axis=1)
    infl = ((sums - acc_k[:, None, :] * totals[None]) / n_class).sum(axis=2) / n_k
    se = np.sqrt(n_j / max(n_j - 1, 1) * (infl ** 2).sum(axis=1))
    return float(np.mean(est - z * se > reference))


def simulated_power(gold, clusters, delta: float, icc: float = 0.0, alpha: float = 0.05, n_sim: int = 400,
                    seed: int = 0, reference: float | None = None) -> float:
    """Power of "above the no-information level" for a model ``delta`` above it, by simulating patients.

    Why simulate: the benchmark's real structure (which patients hold how many items of which class) sets the
    power, and a design effect with one mean cluster size does not capture unequal clusters or classes held by
    few patients. The simulation keeps every item, its gold class and its cluster; a simulated model answers
    item i of cluster j correctly with probability ``reference + delta + e_j``, ``e_j = +/- b`` with equal odds
    (a patient who is easy or hard on every item), ``b = sqrt(icc * p (1 - p))`` so the answers' intra-cluster
    correlation is ``icc``. A study rejects when its two-sided ``1 - alpha`` clustered interval lies wholly above
    the reference (the uncorrected verdict of the significance stage). ``reference`` defaults to 1/C."""
    j, k, totals, n_j, n_k = _cluster_class_design(gold, clusters)
    ref = 1.0 / n_k if reference is None else float(reference)
    p = float(np.clip(ref + delta, 0.0, 1.0))
    b = float(np.sqrt(max(icc, 0.0) * p * (1 - p)))
    rng = np.random.default_rng(seed)
    z = sps.norm.ppf(1 - alpha / 2)
    hits, done, step = 0.0, 0, max(1, min(n_sim, 2_000_000 // max(len(j), 1)))
    while done < n_sim:
        m = min(step, n_sim - done)
        e = np.where(rng.random((m, n_j)) < 0.5, -b, b)
        prob = np.clip(p + e[:, j], 0.0, 1.0)
        correct = (rng.random((m, len(j))) < prob).astype(float)
        hits += m * _reject_share(correct, j, k, totals, ref, z)
        done += m
    return hits / n_sim


def mde_by_simulation(gold, clusters, icc: float = 0.0, alpha: float = 0.05, power: float = 0.8,
                      n_sim: int = 400, seed: int = 0, tol: float = 0.0025) -> float:
    """Smallest improvement over the no-information level detected with ``power`` (bisection on
    :func:`simulated_power`, common random numbers across deltas); NaN when even a perfect model is not, or when
    the topic has one class or one cluster (the significance stage does not test those either)."""
    n_k = pd.Series(np.asarray(gold)).astype(str).nunique()
    if n_k < 2 or pd.Series(np.asarray(clusters)).nunique() < 2:
        return float("nan")
    hi = 1.0 - 1.0 / n_k
    if simulated_power(gold, clusters, hi, icc, alpha, n_sim, seed) < power:
        return float("nan")
    lo = 0.0
    while hi - lo > tol:
        mid = (lo + hi) / 2
        if simulated_power(gold, clusters, mid, icc, alpha, n_sim, seed) >= power:
            hi = mid
        else:
            lo = mid
    return float(hi)


def simulated_mde_table(items: pd.DataFrame, by: Sequence[str] = ("topic",), cluster: str = "patient_key",
                        icc: float | dict = 0.0, alpha: float = 0.05, power: float = 0.8, n_sim: int = 400,
                        seed: int = 0) -> pd.DataFrame:
    """Per group: clusters, no-information level and the simulated MDE over it (items de-duplicated by id)."""
    by = list(by)
    require_columns(items, [*by, "id", "gold", cluster])
    uniq = items.drop_duplicates([*by, "id"])
    rows = []
    for i, (key, g) in enumerate(uniq.groupby(by, sort=True)):
        key = key if isinstance(key, tuple) else (key,)
        rho = icc.get(key[0] if len(key) == 1 else key, 0.0) if isinstance(icc, dict) else icc
        rho = 0.0 if not np.isfinite(rho) else float(rho)
        rows.append({**dict(zip(by, key)), "n_clusters": int(g[cluster].nunique()),
                     "no_information": 1.0 / g["gold"].astype(str).nunique(),
                     "mde_simulated": mde_by_simulation(g["gold"], g[cluster], rho, alpha, power, n_sim,
                                                        seed + i)})
    return pd.DataFrame(rows)
