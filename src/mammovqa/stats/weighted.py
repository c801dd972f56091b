"""Weighted (class-balanced) accuracy and its sufficient statistics.

Why sufficient statistics: the weighted accuracy of a group is a function of, per gold class, the number of
correct items and the number of items. Summing those counts per cluster (image, exam or patient) turns every
resampling method (bootstrap, jackknife) into sums over clusters, which is what makes 10,000 resamples over
565K items cheap. Weighted accuracy here is PROTOCOL.md s5: weight ``1/|C_i|`` per item, ``C_i`` = items with
the same gold class, equal to the mean per-class accuracy over the classes present.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError

SCORED_COLUMNS = ("id", "model", "topic", "gold", "correct", "random_p")


def require_columns(df: pd.DataFrame, columns: Sequence[str], what: str = "scored table") -> None:
    """Fail early, naming every missing column, instead of a KeyError deep inside a group loop."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(what, None, f"missing column(s) {missing}; has {list(df.columns)}")


def class_weights(gold: np.ndarray | pd.Series) -> np.ndarray:
    """Per-item weight ``1/(K * |C_i|)`` (K = classes present), so weights sum to 1 and the weighted mean of
    0/1 scores is the balanced accuracy."""
    codes, uniques = pd.factorize(pd.Series(gold), sort=True)
    counts = np.bincount(codes, minlength=len(uniques)).astype(float)
    return 1.0 / (len(uniques) * counts[codes])


def weighted_accuracy(correct: np.ndarray | pd.Series, gold: np.ndarray | pd.Series) -> float:
    """Mean per-class accuracy over the gold classes present (PROTOCOL.md s5)."""
    if len(correct) == 0:
        return float("nan")
    return float(np.dot(class_weights(gold), np.asarray(correct, dtype=float)))


def random_expectation(random_p: np.ndarray | pd.Series, gold: np.ndarray | pd.Series) -> float:
    """The random guesser's expected weighted accuracy: each item's chance aggregated with the same weights,
    so topics whose items have different option counts (or multiple choice) get the right baseline."""
    if len(random_p) == 0:
        return float("nan")
    return float(np.dot(class_weights(gold), np.asarray(random_p, dtype=float)))


@dataclass(frozen=True)
class ClusterStats:
    """Per-cluster, per-class counts: ``correct[j, k]`` and ``total[j, k]`` (float for BLAS products)."""

    correct: np.ndarray  # (J, K)
    total: np.ndarray  # (J, K)
    classes: tuple[str, ...]
    clusters: tuple[str, ...]

    @property
    def matrix(self) -> np.ndarray:
        """``[correct | total]`` side by side: the (J, 2K) rows that resampling sums."""
        return np.hstack([self.correct, self.total])

    @property
    def n_clusters(self) -> int:
        return self.correct.shape[0]

    @property
    def n_classes(self) -> int:
        return self.correct.shape[1]


def cluster_stats(df: pd.DataFrame, cluster: str, correct: str = "correct", classes: Sequence[str] | None = None,
                  clusters: Sequence[str] | None = None) -> ClusterStats:
    """Counts per (cluster, class). ``classes``/``clusters`` fix the code order so that two models' tables
    line up row for row in paired resampling. Items without a cluster key (e.g. no ``exam_id`` on an
    image-level item) form their own cluster (their ``record_id``, else their ``id``), never one big one."""
    require_columns(df, [cluster, "gold", correct])
    cl_codes, cl_uni = _codes(cluster_keys(df, cluster), clusters)
    k_codes, k_uni = _codes(df["gold"].astype(str), classes)
    n_j, n_k = len(cl_uni), len(k_uni)
    flat = cl_codes * n_k + k_codes
    total = np.bincount(flat, minlength=n_j * n_k).reshape(n_j, n_k).astype(float)
    corr = np.bincount(flat, weights=df[correct].to_numpy(dtype=float), minlength=n_j * n_k).reshape(n_j, n_k)
    return ClusterStats(corr, total, tuple(k_uni), tuple(cl_uni))


def cluster_keys(df: pd.DataFrame, cluster: str) -> pd.Series:
    """The cluster column as strings, with blanks replaced by a per-item fallback key."""
    keys = df[cluster].astype("string")
    blank = keys.isna() | (keys == "")
    if blank.any():
        fallback = "record_id" if "record_id" in df.columns and cluster != "record_id" else "id"
        if fallback not in df.columns:
            raise DataError("scored table", None, f"{int(blank.sum())} items have no {cluster!r} and no fallback key")
        keys = keys.where(~blank, "item:" + df[fallback].astype(str))
    return keys.astype(str)


def _codes(values: pd.Series, order: Sequence[str] | None) -> tuple[np.ndarray, list[str]]:
    if order is None:
        codes, uni = pd.factorize(values, sort=True)
        return codes.astype(np.int64), list(uni)
    cat = pd.Categorical(values, categories=list(order))
    if (cat.codes < 0).any():
        bad = values[cat.codes < 0].unique()[:5]
        raise DataError("scored table", None, f"values {list(bad)} not in the fixed code order")
    return cat.codes.astype(np.int64), list(order)


def wacc_from_sums(sums: np.ndarray) -> np.ndarray:
    """Weighted accuracy from summed ``[correct | total]`` rows (shape (..., 2K)); classes absent from a
    resample are left out of the mean, as they would be for a real sample without them."""
    k = sums.shape[-1] // 2
    corr, tot = sums[..., :k], sums[..., k:]
    present = tot > 0
    acc = np.divide(corr, tot, out=np.zeros_like(corr, dtype=float), where=present)
    n_present = present.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_present > 0, acc.sum(axis=-1) / np.maximum(n_present, 1), np.nan)


def accuracy_table(scored: pd.DataFrame, by: Sequence[str] = ("model", "topic")) -> pd.DataFrame:
    """Absolute and weighted accuracy and the random-guess expectation per group (figures and quick looks)."""
    require_columns(scored, [*by, "gold", "correct", "random_p"])
    rows = []
    for key, g in scored.groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(by, key)), "n": len(g), "n_classes": g["gold"].nunique(),
                     "accuracy": float(g["correct"].mean()),
                     "weighted_accuracy": weighted_accuracy(g["correct"], g["gold"]),
                     "random_guess": random_expectation(g["random_p"], g["gold"])})
    return pd.DataFrame(rows)


def label_balance(df: pd.DataFrame, by: Sequence[str] = ("topic",)) -> pd.DataFrame:
    """Class balance of the gold labels per group: normalised Shannon entropy (1 = balanced, 0 = one class)
    and the majority-class share. Fig. 3d relates the training split's balance to the accuracy gap."""
    require_columns(df, [*by, "gold"])
    rows = []
    for key, g in df.groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        p = g["gold"].value_counts(normalize=True).to_numpy()
        ent = float(-(p * np.log(p)).sum() / np.log(len(p))) if len(p) > 1 else 0.0
        rows.append({**dict(zip(by, key)), "n": len(g), "n_classes": len(p), "normalised_entropy": ent,
                     "majority_share": float(p.max())})
    return pd.DataFrame(rows)
