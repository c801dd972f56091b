"""Seeded clustered bootstrap (percentile and BCa) for statistics that are functions of per-cluster sums.

Why clustered: questions about the same image (or exam, or patient) are not independent (docs/protocol.md s5), so
the resampling unit is the cluster, chosen by a column name (``patient_key`` = dataset family + patient id by default; ``record_id``, ``exam_id``).

How it stays fast. A resample is a multinomial count vector over the J clusters; the statistic only needs the
count-weighted sum of the per-cluster rows ``[correct per class | total per class]``. Clusters with identical
rows are exchangeable, so the counts summed over the ``m_u`` clusters sharing row ``u`` are jointly
Multinomial(J, m_u / J) over the U distinct rows: drawing that multinomial is the *exact* cluster bootstrap,
at O(U) instead of O(J) per resample. Realistic benchmark data (a handful of items per image, a few classes)
has U in the hundreds or thousands against J ~ 130K. When rows are mostly distinct the code falls back to
drawing cluster indices (also exact). Both paths are deterministic for a given seed.

BCa uses the exact leave-one-cluster-out jackknife: removing cluster j only subtracts its row from the total,
so all J jackknife values cost one vectorised pass (identical rows give identical values, so it runs over the
U distinct rows with multiplicities). No grouped-jackknife approximation is needed.

Statistics that must be recomputed on each resample by someone else's code (corpus BLEU and METEOR 1.5 of the
report wing) need the resamples themselves: :func:`cluster_multiplicities` draws them as (B, J) multiplicity
vectors, the same multinomial cluster bootstrap, and :func:`pooled_mean_replicates` is the pooled mean on them
(``stats.report_intervals`` builds the report metrics' intervals and paired comparisons from these two).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

StatFn = Callable[[np.ndarray], np.ndarray]  # (B, M) summed rows -> (B,) statistic


@dataclass(frozen=True)
class BootstrapResult:
    estimate: float
    ci_low: float
    ci_high: float
    se: float
    boot: np.ndarray  # (n_boot,) resampled statistics, for p-values and further intervals
    method: str
    level: float


def compress_rows(rows: np.ndarray, return_inverse: bool = False):
    """Distinct cluster rows and how many clusters share each (exchangeable clusters)."""
    uniq, inverse, counts = np.unique(rows, axis=0, return_inverse=True, return_counts=True)
    if return_inverse:
        return uniq, counts.astype(np.int64), inverse.ravel().astype(np.int64)
    return uniq, counts.astype(np.int64)


def _draw_sums(rng: np.random.Generator, rows: np.ndarray, n_boot: int, chunk: int | None) -> np.ndarray:
    """``(n_boot, M)`` sums of ``rows`` over plain cluster bootstrap resamples of size J."""
    n_clusters = rows.shape[0]
    uniq, mult, inverse = compress_rows(rows, return_inverse=True)
    n_uniq = uniq.shape[0]
    out = np.empty((n_boot, rows.shape[1]), dtype=float)
    if n_uniq * 8 <= n_clusters:  # a binomial draw per distinct row costs ~8 index draws
        pvals = mult / n_clusters
        step = chunk or max(1, min(n_boot, 2_000_000 // max(n_uniq, 1)))
        for start in range(0, n_boot, step):
            b = min(step, n_boot - start)
            counts = rng.multinomial(n_clusters, pvals, size=b)
            out[start:start + b] = counts @ uniq
        return out
    step = chunk or max(1, min(n_boot, 1_000_000 // max(n_clusters, 1)))
    for start in range(0, n_boot, step):
        b = min(step, n_boot - start)
        idx = inverse[rng.integers(0, n_clusters, size=(b, n_clusters))]
        idx += (np.arange(b, dtype=np.int64) * n_uniq)[:, None]
        counts = np.bincount(idx.ravel(), minlength=b * n_uniq).reshape(b, n_uniq)
        out[start:start + b] = counts.astype(float) @ uniq
    return out


MAX_REDRAWS = 50


def resample_sums(rows: np.ndarray, n_boot: int, seed: int | np.random.Generator, chunk: int | None = None,
                  require: np.ndarray | None = None) -> np.ndarray:
    """``(n_boot, M)`` sums of ``rows`` (J, M) over cluster bootstrap resamples of size J.

    With few distinct rows the counts are drawn as one multinomial over the distinct rows; otherwise cluster
    indices are drawn and tallied per distinct row. Both are the exact cluster bootstrap.

    ``require`` (column indices, e.g. the per-class item totals) makes it the bootstrap *conditional on every
    class being present*: a resample in which a required column sums to 0 is redrawn (up to ``MAX_REDRAWS``
    times). Why: weighted accuracy averages over the classes present, so a resample that lost a class would
    estimate a different quantity (an always-"Normal" answer would score 1/9 instead of 1/10 there and get an
    interval that excludes its own 1/10). Conditioning keeps whole clusters, so within-patient correlation
    across classes is kept. A resample still lacking a class after the redraws (classes held by a single
    cluster among very many rare ones) gets one cluster holding that class added, drawn at random among them.
    """
    rng = np.random.default_rng(seed)
    out = _draw_sums(rng, rows, n_boot, chunk)
    if require is None or len(require) == 0:
        return out
    require = np.asarray(require, dtype=np.int64)
    if np.any(rows[:, require].sum(axis=0) <= 0):
        raise ValueError("a required column is zero in every cluster; it cannot be kept present")
    for _ in range(MAX_REDRAWS):
        bad = np.flatnonzero((out[:, require] <= 0).any(axis=1))
        if bad.size == 0:
            return out
        out[bad] = _draw_sums(rng, rows, bad.size, chunk)
    for i in np.flatnonzero((out[:, require] <= 0).any(axis=1)):
        for col in require[out[i, require] <= 0]:
            holders = np.flatnonzero(rows[:, col] > 0)
            out[i] += rows[holders[rng.integers(0, holders.size)]]
    return out


def cluster_multiplicities(clusters: Sequence[str], n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(cluster code per unit, (n_boot, k) counts): ``n_boot`` cluster bootstrap resamples as multiplicities.

    Why this form: a statistic recomputed by its own implementation on each resample (corpus BLEU from resampled
    n-gram sums, METEOR 1.5 on the resampled pairs) needs to know how often each cluster was drawn, not only the
    summed rows. Codes follow the sorted distinct cluster names, so the draw depends on the set of clusters and
    the seed, not on the order of the units.
    """
    _, inv = np.unique(np.asarray(clusters, dtype=str), return_inverse=True)
    inv = inv.ravel()
    k = int(inv.max()) + 1 if len(inv) else 0
    if k == 0:
        return inv, np.zeros((n_boot, 0), dtype=np.int64)
    return inv, np.random.default_rng(seed).multinomial(k, np.full(k, 1.0 / k), size=n_boot)


def pooled_mean_replicates(values: np.ndarray, clusters: Sequence[str], n_boot: int, seed: int) -> np.ndarray:
    """(n_boot,) pooled means of ``values`` over cluster bootstrap resamples; NaN values are left out first.

    Each replicate is (counts @ cluster sums) / (counts @ cluster sizes): the mean over every unit of the
    resampled clusters, so a cluster with more units weighs more, as in the estimate itself.
    """
    values = np.asarray(values, dtype=float)
    keep = ~np.isnan(values)
    inv, w = cluster_multiplicities(np.asarray(clusters, dtype=str)[keep], n_boot, seed)
    k = w.shape[1]
    if k == 0:
        return np.full(n_boot, np.nan)
    sums = np.bincount(inv, weights=values[keep], minlength=k)
    sizes = np.bincount(inv, minlength=k).astype(float)
    w = w.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (w @ sums) / (w @ sizes)


def jackknife(rows: np.ndarray, stat: StatFn) -> tuple[np.ndarray, np.ndarray]:
    """Leave-one-cluster-out values over the distinct rows, with their multiplicities."""
    uniq, mult = compress_rows(rows)
    total = rows.sum(axis=0)
    return stat(total[None, :] - uniq), mult


def percentile_interval(boot: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    b = boot[np.isfinite(boot)]
    if b.size == 0:
        return float("nan"), float("nan")
    a = (1 - level) / 2
    lo, hi = np.quantile(b, [a, 1 - a])
    return float(lo), float(hi)


def bca_interval(boot: np.ndarray, estimate: float, jack: np.ndarray, jack_weights: np.ndarray,
                 level: float = 0.95) -> tuple[float, float]:
    """Efron's BCa: bias correction z0 from the share of resamples below the estimate, acceleration from the
    (multiplicity-weighted) jackknife skewness. Falls back to the percentile interval when degenerate
    (all resamples equal, or undefined acceleration)."""
    b = boot[np.isfinite(boot)]
    ok = np.isfinite(jack)
    jack, w = jack[ok], jack_weights[ok].astype(float)
    if b.size == 0 or not np.isfinite(estimate):
        return float("nan"), float("nan")
    below = (np.sum(b < estimate) + 0.5 * np.sum(b == estimate)) / b.size
    if below <= 0 or below >= 1 or w.sum() < 2:
        return percentile_interval(b, level)
    z0 = sps.norm.ppf(below)
    mean_j = np.dot(w, jack) / w.sum()
    d = mean_j - jack
    denom = 6.0 * np.dot(w, d ** 2) ** 1.5
    acc = float(np.dot(w, d ** 3) / denom) if denom > 0 else 0.0
    alpha = (1 - level) / 2
    z = sps.norm.ppf([alpha, 1 - alpha])
    adj = sps.norm.cdf(z0 + (z0 + z) / (1 - acc * (z0 + z)))
    if not np.all(np.isfinite(adj)):
        return percentile_interval(b, level)
    lo, hi = np.quantile(b, np.clip(adj, 0, 1))
    return float(lo), float(hi)


def cluster_bootstrap(rows: np.ndarray, stat: StatFn, n_boot: int = 2000, seed: int = 0, method: str = "percentile",
                      level: float = 0.95, require: np.ndarray | None = None) -> BootstrapResult:
    """Bootstrap ``stat`` of per-cluster ``rows`` (J, M): estimate, CI (``percentile`` or ``bca``), SE, draws.

    ``require``: columns that must stay non-zero in every resample (see ``resample_sums``)."""
    return cluster_bootstrap_many(rows, {"stat": stat}, n_boot, seed, method, level, require)["stat"]


def cluster_bootstrap_many(rows: np.ndarray, stats: Mapping[str, StatFn], n_boot: int = 2000, seed: int = 0,
                           method: str = "percentile", level: float = 0.95,
                           require: np.ndarray | None = None) -> dict[str, BootstrapResult]:
    """Several statistics of the same per-cluster ``rows`` from ONE set of resamples.

    Why one draw for all: a difference of two statistics (a fine-tuned model's mean minus a comparator's, or a
    mean over topics that share patients) is only a paired, jointly resampled quantity when every statistic
    sees the same clusters in every resample; evaluating them on one draw also keeps the results consistent
    (the interval of A - B is built from the same resamples as the intervals of A and of B)."""
    if method not in ("percentile", "bca"):
        raise ValueError(f"method must be 'percentile' or 'bca', got {method!r}")
    total = rows.sum(axis=0)[None, :]
    sums = resample_sums(rows, n_boot, seed, require=require)
    out = {}
    for name, stat in stats.items():
        estimate = float(stat(total)[0])
        boot = stat(sums)
        if method == "bca":
            jack, mult = jackknife(rows, stat)
            lo, hi = bca_interval(boot, estimate, jack, mult, level)
        else:
            lo, hi = percentile_interval(boot, level)
        finite = boot[np.isfinite(boot)]
        se = float(finite.std(ddof=1)) if finite.size > 1 else float("nan")
        out[name] = BootstrapResult(estimate, lo, hi, se, boot, method, level)
    return out
