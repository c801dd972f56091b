"""95% clustered intervals for the accuracy figures: the statistics stage's own where it has them.

Why a lookup before any computation: an accuracy figure and the significance table must show the same
interval for the same bar. Notebook 05 writes ``tables/significance.csv`` (weighted accuracy with a clustered
bootstrap CI per model and topic); a row of it is used only when it provably describes the bar: same model and
topic, same item count, same estimate, and the same clustering unit. Any other bar (the table is absent, older
than the predictions, clustered differently, or the group was "not testable") gets an interval computed here
with the same bootstrap (:func:`mammovqa.stats.cluster_bootstrap`), and the legend says which is which.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..stats import add_patient_key, cluster_bootstrap, cluster_stats, wacc_from_sums
from ..stats.weighted import PATIENT_KEY
from .style import stable_seed

CLUSTER_WORDS = {"record_id": "image", "exam_id": "exam", "patient_id": "patient", PATIENT_KEY: "patient"}
TOLERANCE = 6e-5  # the statistics stage writes its full table with 4 decimals


def read_stats_table(path: str | Path, cluster: str) -> pd.DataFrame | None:
    """The statistics stage's table at ``path`` if it exists and was clustered on ``cluster``, else None.

    The clustering unit is read from a ``cluster_key`` (or ``cluster``) column when present, else from the
    table's note (``<path>.md``: "resamples of `<column>`", as notebook 05 writes it).
    """
    path = Path(path)
    if not path.exists():
        return None
    table = pd.read_csv(path)
    for col in ("cluster_key", "cluster"):
        if col in table.columns:
            return table if set(table[col].dropna().astype(str)) == {cluster} else None
    note = path.with_suffix(".md")
    if note.exists() and f"resamples of `{cluster}`" in note.read_text(encoding="utf-8"):
        return table
    return None


def bootstrap_interval(group: pd.DataFrame, cluster: str, n_boot: int, seed: int) -> tuple[float, float]:
    """Percentile 95% CI of the weighted accuracy of one group, resampling clusters; NaN when undefined."""
    if len(group) == 0 or group[cluster].nunique() < 2:
        return float("nan"), float("nan")
    res = cluster_bootstrap(cluster_stats(group, cluster).matrix, wacc_from_sums, n_boot=n_boot, seed=seed)
    return res.ci_low, res.ci_high


def accuracy_intervals(rows: pd.DataFrame, scored: pd.DataFrame, cluster: str = PATIENT_KEY,
                       stats_table: str | Path | None = None, n_boot: int = 2000,
                       seed: int = 0) -> tuple[pd.DataFrame, str]:
    """Per (model, topic) of ``rows`` (a metrics table slice): ``ci_low``, ``ci_high``, ``ci_source``; and a
    legend label saying where the intervals come from.

    ``scored`` holds the per-item scores behind ``rows`` (same split, level, matcher; it is filtered to them
    when it has those columns). ``stats_table`` is the path of ``tables/significance_all.csv`` (estimates to
    4 decimals, hence the tolerance). ``patient_key`` (the statistics stage's unit) is derived when absent.
    """
    items = _matching_items(rows, scored)
    if cluster == PATIENT_KEY and PATIENT_KEY not in items.columns:
        items = add_patient_key(items)
    table = read_stats_table(stats_table, cluster) if stats_table is not None else None
    lookup = {} if table is None else {(r.model, r.topic): r for r in table.itertuples() if np.isfinite(r.estimate)}
    out = []
    for r in rows[["model", "topic", "n", "weighted_accuracy"]].itertuples():
        hit = lookup.get((r.model, r.topic))
        if hit is not None and int(hit.n) == int(r.n) and abs(float(hit.estimate) - float(r.weighted_accuracy)) < TOLERANCE:
            out.append((r.model, r.topic, float(hit.ci_low), float(hit.ci_high), "statistics stage"))
            continue
        g = items[(items["model"] == r.model) & (items["topic"] == r.topic)]
        lo, hi = bootstrap_interval(g, cluster, n_boot, stable_seed(seed, r.model, r.topic))
        out.append((r.model, r.topic, lo, hi, "computed here" if np.isfinite(lo) else "none"))
    ci = pd.DataFrame(out, columns=["model", "topic", "ci_low", "ci_high", "ci_source"])
    return ci, interval_label(ci, cluster)


def _matching_items(rows: pd.DataFrame, scored: pd.DataFrame) -> pd.DataFrame:
    """The scored items behind ``rows``: the same split, level and matcher where both tables name them."""
    sel = np.ones(len(scored), dtype=bool)
    for col in ("split", "level", "matcher"):
        if col in rows.columns and col in scored.columns:
            sel &= scored[col].isin(set(rows[col])).to_numpy()
    return scored[sel]


def interval_label(ci: pd.DataFrame, cluster: str) -> str:
    """Legend text: 95% CI, the resampling unit, and how many bars come from the statistics stage's table."""
    unit = CLUSTER_WORDS.get(cluster, cluster)
    counts = ci["ci_source"].value_counts()
    n_stats, n_here = int(counts.get("statistics stage", 0)), int(counts.get("computed here", 0))
    if n_here == 0 and n_stats:
        src = "statistics-stage table"
    elif n_stats == 0:
        src = "bootstrap computed for this figure"
    else:
        src = f"{n_stats} from the statistics-stage table, {n_here} computed here"
    return f"95% CI, clustered by {unit} ({src})"
