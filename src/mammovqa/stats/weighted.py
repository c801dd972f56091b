"""Weighted (class-balanced) accuracy and its sufficient statistics.

Why sufficient statistics: the weighted accuracy of a group is a function of, per gold class, the number of
correct items and the number of items. Summing those counts per cluster (image, exam or patient) turns every
resampling method (bootstrap, jackknife) into sums over clusters, which is what makes 10,000 resamples over
565K items cheap. Weighted accuracy here is docs/protocol.md s5: weight ``1/|C_i|`` per item, ``C_i`` = items with
the same gold class, equal to the mean per-class accuracy over the classes present.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError
from ..eval.metrics import weighted_accuracy as _eval_weighted_accuracy

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
    """Mean per-class accuracy over the gold classes present (docs/protocol.md s5).

    One home: this is ``eval.metrics.weighted_accuracy``, the definition every metrics table uses, so a test's
    estimate and the table cell it sits next to cannot differ."""
    if len(correct) == 0:
        return float("nan")
    return _eval_weighted_accuracy(np.asarray(correct, dtype=float), np.asarray(gold, dtype=object))


def no_information_level(gold: np.ndarray | pd.Series) -> float:
    """The highest expected weighted accuracy a predictor can reach without looking at the image: 1/C_present.

    Why: an image-blind predictor answers with some distribution q over answers that does not depend on the
    item, so its expected accuracy on gold class k is q_k and its expected weighted accuracy is
    (1/C) * sum_k q_k <= 1/C, reached by any constant answer that is one of the classes present. This is the
    reference for "above chance": the uniform random guess over the options (1/K, or 1/(2^K - 1) for
    multiple choice) is lower whenever fewer than all answers occur as gold classes, and for multi-answer
    Abnormality it is 1/1023 against 1/C_present of 10-20%.
    """
    c = pd.Series(np.asarray(gold, dtype=str)).nunique()
    return 1.0 / c if c else float("nan")


def family_of(dataset: str) -> str:
    """Dataset family of a sub-dataset name (``CBIS-DDSM-finding`` -> ``CBIS-DDSM``), the unit patient ids are
    unique in. Unknown names (simulated tables) are their own family."""
    from ..config import load_datasets
    from ..errors import MammoVQAError

    try:
        return load_datasets().part(str(dataset)).dataset
    except (MammoVQAError, KeyError, OSError):
        return str(dataset)


PATIENT_KEY = "patient_key"


def add_patient_key(df: pd.DataFrame, column: str = PATIENT_KEY) -> pd.DataFrame:
    """A copy with ``column`` = dataset family + patient id: the resampling unit of every interval.

    Why the family: patient ids are only unique within a source dataset, while a patient's whole-breast image
    and its lesion crops sit in two sub-datasets (``...-breast``, ``...-finding``) of one family and share
    that patient's correlation; the grouped split uses the same (family, patient) key."""
    require_columns(df, ["dataset", "patient_id"])
    fam = {d: family_of(d) for d in pd.unique(df["dataset"].astype(str))}
    out = df.copy()
    out[column] = df["dataset"].astype(str).map(fam) + "::" + df["patient_id"].astype(str)
    return out


def degenerate_share(pred: pd.Series | np.ndarray) -> float:
    """Share of the most common answer (empty answers included): 1.0 for a constant-output predictor."""
    p = pd.Series(np.asarray(pred, dtype=object)).fillna("").astype(str)
    return float(p.value_counts(normalize=True).iloc[0]) if len(p) else float("nan")


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

    @property
    def total_columns(self) -> np.ndarray:
        """Indices of the per-class totals in ``matrix``: the columns a resample must keep non-zero."""
        k = self.n_classes
        return np.arange(k, 2 * k)


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
    """Weighted accuracy from summed ``[correct | total]`` rows (shape (..., 2K)), over the classes present.
    Resampling keeps every class present (``resample_sums(require=...)``), so this mean is always over the
    same classes as the estimate."""
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
