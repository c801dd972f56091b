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
