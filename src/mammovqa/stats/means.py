"""Intervals for headline means: a model's mean over topics (or datasets) and paired differences of such means.

Why a module: the abstract quotes "mean weighted accuracy over topics", "gain over random guessing", "gain over
the best comparator" and the external-validation gains. Each is a fixed linear combination of per-group
accuracies (group = topic, or dataset x topic), and the groups share patients: one woman contributes items to
Laterality, View, ACR ... of the same images. An interval per topic does not give an interval for the mean; a
bootstrap of the mean must resample each patient *once for all topics*, so that the topic accuracies move
together as they do in the population, and a difference of two models must use the *same* draw for both.

How: every (term, group) block (e.g. fine-tuned x ACR) is reduced to per-cluster class counts over one common
list of clusters (``weighted.cluster_stats``), the blocks are laid side by side, and the one clustered bootstrap
(``bootstrap.cluster_bootstrap_many``, conditional on every class of every block being present) resamples the
rows. A term's value is ``sum_b w_b * wacc_b``; a contrast is ``sum_t c_t * term_t``. Absolute accuracy is the
weighted accuracy of a block whose items share one class; the uniform random guesser's expectation is the
weighted accuracy of a block whose "correct" column is each item's ``random_p``. Estimates therefore equal
the metrics tables' cells exactly (same definitions, same items), and the intervals are for those numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .bootstrap import cluster_bootstrap_many
from .weighted import cluster_keys, cluster_stats, require_columns, wacc_from_sums

ONE_CLASS = "all items"


@dataclass(frozen=True)
class Block:
    """One group of items entering a term with weight ``weight``; ``correct`` names the 0/1 (or expected) column.

    ``by_class`` False scores plain (absolute) accuracy: every item is put into one class."""

    term: str
    group: str
    weight: float
    items: pd.DataFrame
    correct: str = "correct"
    by_class: bool = True


def mean_blocks(df: pd.DataFrame, term: str, groups: Sequence[str], correct: str = "correct",
                by_class: bool = True) -> list[Block]:
    """Blocks whose weighted sum is the nested equal-weight mean over ``groups``.

    ``groups=("topic",)``: the mean over topics (the metrics table's overall row); ``("dataset", "topic")``: the
    mean over datasets of each dataset's mean over its topics (the dataset rows' weighted accuracy, averaged);
    ``("dataset",)`` with ``by_class=False``: the mean over datasets of plain accuracy."""
    groups = list(groups)
    require_columns(df, [*groups, "gold", correct])
    if df.empty:
        return []
    return _nested(df, term, groups, 1.0, (), correct, by_class)


def _nested(df: pd.DataFrame, term: str, groups: list[str], weight: float, path: tuple[str, ...], correct: str,
            by_class: bool) -> list[Block]:
    if not groups:
        return [Block(term, " / ".join(path), weight, df, correct, by_class)]
    parts = list(df.groupby(groups[0], sort=True))
    out: list[Block] = []
    for key, g in parts:
        out += _nested(g, term, groups[1:], weight / len(parts), (*path, str(key)), correct, by_class)
    return out


def _block_matrix(block: Block, cluster: str, clusters: Sequence[str]) -> np.ndarray:
    items = block.items if block.by_class else block.items.assign(gold=ONE_CLASS)
    return cluster_stats(items, cluster, correct=block.correct, clusters=clusters).matrix


def _term_stat(layout: list[tuple[slice, float]]):
    def stat(sums: np.ndarray) -> np.ndarray:
        return sum(w * wacc_from_sums(sums[:, sl]) for sl, w in layout)
    return stat


def _contrast_stat(terms: Mapping[str, object], coefs: Mapping[str, float]):
    def stat(sums: np.ndarray) -> np.ndarray:
        return sum(c * terms[t](sums) for t, c in coefs.items())
    return stat


def contrast_intervals(blocks: Sequence[Block], contrasts: Mapping[str, Mapping[str, float]],
                       cluster: str = "patient_key", n_boot: int = 2000, seed: int = 0, method: str = "percentile",
                       level: float = 0.95) -> pd.DataFrame:
    """Estimate and clustered bootstrap interval of each contrast ``{name: {term: coefficient}}``.

    All blocks are resampled with one draw of clusters (the union of the blocks' cluster keys), conditional on
    every class of every block being present. Columns: ``quantity, estimate, ci_low, ci_high, se, n_clusters,
    n_groups, cluster_key, interval, level, n_boot`` (fractions, not percent)."""
    if not blocks:
        return pd.DataFrame(columns=list(INTERVAL_COLUMNS))
    unknown = sorted({t for c in contrasts.values() for t in c} - {b.term for b in blocks})
    if unknown:
        raise ValueError(f"contrasts name terms without blocks: {unknown}")
    clusters = sorted(set().union(*(set(cluster_keys(b.items, cluster)) for b in blocks)))
    mats, layout, require, start = [], {}, [], 0
    for b in blocks:
        m = _block_matrix(b, cluster, clusters)
        k = m.shape[1] // 2
        layout.setdefault(b.term, []).append((slice(start, start + 2 * k), b.weight))
        require += list(range(start + k, start + 2 * k))
        mats.append(m)
        start += 2 * k
    rows = np.hstack(mats)
    terms = {t: _term_stat(lay) for t, lay in layout.items()}
    stats = {name: _contrast_stat(terms, coefs) for name, coefs in contrasts.items()}
    res = cluster_bootstrap_many(rows, stats, n_boot=n_boot, seed=seed, method=method, level=level,
                                 require=np.asarray(require, dtype=np.int64))
    n_groups = {t: len(lay) for t, lay in layout.items()}
    return pd.DataFrame([{"quantity": name, "estimate": r.estimate, "ci_low": r.ci_low, "ci_high": r.ci_high,
                          "se": r.se, "n_clusters": len(clusters),
                          "n_groups": max(n_groups[t] for t in contrasts[name]), "cluster_key": cluster,
                          "interval": method, "level": level, "n_boot": n_boot} for name, r in res.items()],
                        columns=list(INTERVAL_COLUMNS))


INTERVAL_COLUMNS = ("quantity", "estimate", "ci_low", "ci_high", "se", "n_clusters", "n_groups", "cluster_key",
                    "interval", "level", "n_boot")


def format_interval(row: Mapping[str, float], digits: int = 1, scale: float = 100.0) -> str:
    """``"38.1-43.5"`` (percent, or points for a difference); a negative bound is written with a minus sign so
    the range stays readable ("-4.2 to 3.0")."""
    lo, hi = scale * float(row["ci_low"]), scale * float(row["ci_high"])
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "not estimable"
    if lo < 0 or hi < 0:
        return f"{lo:.{digits}f} to {hi:.{digits}f}"
    return f"{lo:.{digits}f}-{hi:.{digits}f}"
