"""Figure of the open-ended MammoVQA results: per-fact accuracy of every system, with clustered intervals.

Why per fact: an open answer is read fact by fact (side, density, BI-RADS, findings) by the clinical extractor,
so a system can be right about the side and wrong about everything else; per-topic item accuracy hides that
for the whole-study descriptions. One panel per evaluated split (internal test, external), one bar group per
fact plus ``all`` (every fact asked, pooled), one bar per system in its shared style (``viz.style``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .style import fig_size, interval_handle, legend_columns, model_styles, not_run_bars, not_run_handle

FACT_LABELS = {"laterality": "Laterality", "density": "Density (ACR)", "birads": "BI-RADS",
               "abnormality": "Abnormality", "all": "All facts"}
SPLIT_TITLES = {"test": "internal test", "external": "external"}


def _error_bars(ax, xs: np.ndarray, vals: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
    ok = np.isfinite(lo) & np.isfinite(hi) & (hi - lo > 1e-6)  # a zero-width interval would only add caps
    if ok.any():  # an estimate may sit on a percentile bound: never a negative whisker
        err = np.clip(np.array([vals[ok] - lo[ok], hi[ok] - vals[ok]]), 0, None)
        ax.errorbar(xs[ok], vals[ok], yerr=err, fmt="none", ecolor="#111111", elinewidth=0.7, capsize=1.5, zorder=5)


def _panel(ax, table: pd.DataFrame, systems: Sequence[str], facts: Sequence[str], styles: Mapping) -> None:
    width = 0.84 / max(len(systems), 1)
    x = np.arange(len(facts))
    for j, system in enumerate(systems):
        sub = table[table["model"] == system].set_index("fact").reindex(facts)
        vals = 100 * sub["accuracy"].to_numpy(dtype=float)
        lo, hi = 100 * sub["ci_low"].to_numpy(dtype=float), 100 * sub["ci_high"].to_numpy(dtype=float)
        xs = x - 0.42 + (j + 0.5) * width
        have = np.isfinite(vals)
        st = styles[system]
        ax.bar(xs[have], vals[have], width, label=f"{system} ({st.category})", zorder=2, **st.bar())
        ax.plot(xs[have], vals[have], ls="", ms=3.5, zorder=3, **st.point())  # a marker: a 0 score stays visible
        not_run_bars(ax, xs[~have], width)
        _error_bars(ax, xs[have], vals[have], lo[have], hi[have])
    ax.set_xticks(x, [FACT_LABELS.get(f, f) for f in facts], rotation=30, ha="right")
    ax.set_xlim(-0.55, len(facts) - 0.45)
    ax.set_ylim(0, 104)


def fact_accuracy_figure(table: pd.DataFrame, categories: Mapping[str, str], systems: Sequence[str] | None = None,
                         interval_label: str = "95% CI, clustered by patient") -> plt.Figure:
    """Bars of per-fact accuracy (%) per system, one panel per split, with the intervals of ``table``.

    ``table``: :func:`mammovqa.pipeline.open_accuracy_table` with ``by="fact"`` (columns model, split, fact,
    accuracy, ci_low, ci_high; fractions). ``categories``: system -> style category (``fine-tuned``,
    ``architecture check``, ``baseline``). A fact a split does not ask gets a grey "no score" stub, never 0.
    """
    systems = list(systems or dict.fromkeys(table["model"]))
    splits = [s for s in SPLIT_TITLES if s in set(table["split"])] or list(dict.fromkeys(table["split"]))
    facts = [f for f in FACT_LABELS if f in set(table["fact"])]
    styles = model_styles(systems, categories)
    width = max(4.0, 0.09 * len(systems) * len(facts) + 1.6)
    fig, axes = plt.subplots(1, len(splits), figsize=fig_size(width * len(splits), 3.9), layout="constrained",
                             sharey=True, squeeze=False)
    for ax, split in zip(axes.flat, splits, strict=True):
        _panel(ax, table[table["split"] == split], systems, facts, styles)
        ax.set_title(f"{SPLIT_TITLES.get(split, split)} (n facts: {_n_facts(table, split)})")
    axes.flat[0].set_ylabel("accuracy per fact (%)")
    handles = [h for h, lab in zip(*axes.flat[0].get_legend_handles_labels()) if not lab.startswith("_")]
    handles += [not_run_handle(), interval_handle(interval_label)]
    labels = [h.get_label() for h in handles]
    fig.legend(handles=handles, loc="outside upper center", fontsize=7,
               ncol=legend_columns(labels, fig.get_size_inches()[0], most=3))
    return fig


def _n_facts(table: pd.DataFrame, split: str) -> str:
    """Facts behind the ``all`` bar of one split (the same items for every system)."""
    n = table[(table["split"] == split) & (table["fact"] == "all")]["n"]
    return f"{int(n.iloc[0]):,}" if len(n) else "0"
