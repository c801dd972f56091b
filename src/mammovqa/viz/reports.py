"""Report-generation figures: BI-RADS confusion matrix, metrics of models and baselines beside AMRG's, and the
fine-tuning curve. The report stage (``report/stage.py``) and notebook 06 draw with these functions only.

Why the data-source labels: the AMRG figures (docs/protocol.md §8) were measured on real DMID reports; ours may be
on phantom reports. Bars from different data must never look comparable at a glance, so every bar group
names its source and the published values are hatched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..eval.report_metrics import birads_confusion
from .style import MARKERS, fig_size, series_style

PUBLISHED_AMRG: dict[str, float] = {"ROUGE-L": 0.5691, "METEOR": 0.6152, "CIDEr": 0.5818, "BI-RADS accuracy": 0.5582}
PUBLISHED_SOURCE = "AMRG paper (real DMID, published)"


def birads_confusion_figure(reference: Sequence[str | None], generated: Sequence[str | None],
                            title: str = "BI-RADS: reference vs generated", normalise: bool = True) -> plt.Figure:
    """Heat map of :func:`birads_confusion`; rows normalised to recall when ``normalise``; counts annotated."""
    return confusion_matrix_figure(birads_confusion(reference, generated), title, normalise)


def confusion_matrix_figure(mat: pd.DataFrame, title: str = "BI-RADS: reference vs generated",
                            normalise: bool = True) -> plt.Figure:
    """Heat map of a reference (rows) x generated (columns) count matrix such as :func:`birads_confusion`."""
    counts = mat.to_numpy(dtype=float)
    shown = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1) if normalise else counts
    fig, ax = plt.subplots(figsize=(1.0 + 0.45 * mat.shape[1], 0.8 + 0.42 * max(mat.shape[0], 1)))
    im = ax.imshow(shown if shown.size else np.zeros((1, 1)), cmap="Blues", vmin=0,
                   vmax=1 if normalise else max(counts.max(initial=0), 1))
    ax.set_xticks(range(mat.shape[1]), list(mat.columns))
    ax.set_yticks(range(mat.shape[0]), list(mat.index))
    ax.set_xlabel("generated")
    ax.set_ylabel("reference")
    for i in range(mat.shape[0]):
        for j in range(mat.shape[1]):
            if counts[i, j]:
                ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=7,
                        color="white" if shown[i, j] > 0.6 * (shown.max() or 1) else "black")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="row share" if normalise else "count")
    fig.tight_layout()
    return fig


def _scale_groups(metrics: Sequence[str], values: Mapping[str, float]) -> list[list[str]]:
    """Metrics split by scale: those bounded by 1 (ROUGE, METEOR, accuracies) and the unbounded rest (CIDEr,
    up to 10), so a CIDEr of 1.3 never squeezes the [0, 1] metrics onto a quarter of one axis."""
    unit = [m for m in metrics if m != "CIDEr" and values.get(m, 0.0) <= 1.0]
    other = [m for m in metrics if m not in unit]
    return [g for g in (unit, other) if g]


def metrics_bar_figure(results: pd.DataFrame, metrics: Sequence[str] = tuple(PUBLISHED_AMRG),
                       published: Mapping[str, float] | None = PUBLISHED_AMRG,
                       title: str = "Report generation metrics") -> plt.Figure:
    """Grouped bars per metric: each system of ``results`` plus the published AMRG values (hatched).

    ``results`` has columns ``system``, ``metric`` (display names as in ``ReportScores.table``), ``value``
    and ``source`` (e.g. "phantom" or "real DMID"); legend entries read "system (source)". Optional ``ci_low``
    / ``ci_high`` columns draw error bars. Metrics on different scales get their own axes; values are marked
    on the bar tops (a score of 0 is a marker on the axis) and listed in the table, not printed on the bars.
    """
    df = results[results["metric"].isin(metrics)].copy()
    df["label"] = df["system"].astype(str) + " (" + df["source"].astype(str) + ")"
    labels = list(dict.fromkeys(df["label"]))
    if published:
        labels.append(PUBLISHED_SOURCE)
    peak = {m: float(np.nanmax([*df.loc[df["metric"] == m, "value"].astype(float), (published or {}).get(m, 0.0),
                               *df.loc[df["metric"] == m].get("ci_high", pd.Series(dtype=float)).astype(float), 0.0]))
            for m in metrics}
    groups = _scale_groups(metrics, peak)
    fig, axes = plt.subplots(1, len(groups), figsize=fig_size(1.4 + 1.3 * len(metrics) + 2.2, 3.6), squeeze=False,
                             layout="constrained", gridspec_kw={"width_ratios": [len(g) for g in groups]})
    for ax, group in zip(axes[0], groups):
        _metric_bars(ax, df, group, labels, published)
        ax.set_ylim(0, 1.0 if max(peak[m] for m in group) <= 1.0 else 1.1 * max(peak[m] for m in group))
        ax.set_ylabel("score (0-1)" if group[0] != "CIDEr" and max(peak[m] for m in group) <= 1 else "score")
    handles, names = axes[0][0].get_legend_handles_labels()
    keep = [(h, n) for h, n in zip(handles, names) if not n.startswith("_")]
    # on the first panel (below it), so the legend belongs to an axes the layout engine makes room for
    axes[0][0].legend([h for h, _ in keep], [n for _, n in keep], fontsize=7, loc="upper left",
                      bbox_to_anchor=(0.0, -0.14), ncol=1)
    fig.suptitle(title, fontsize=10)
    return fig


def _metric_bars(ax, df: pd.DataFrame, metrics: Sequence[str], labels: Sequence[str],
                 published: Mapping[str, float] | None) -> None:
    n = max(len(labels), 1)
    width = 0.8 / n
    x = np.arange(len(metrics))
    for k, label in enumerate(labels):
        err = None
        if label == PUBLISHED_SOURCE:
            vals = np.array([published.get(m, np.nan) if published else np.nan for m in metrics], dtype=float)
            style = {"color": "white", "edgecolor": "black", "hatch": "///", "linewidth": 0.6}
            mstyle = {"color": "white", "marker": "D"}
        else:
            sub = df[df["label"] == label].set_index("metric")
            vals = np.array([float(sub.loc[m, "value"]) if m in sub.index else np.nan for m in metrics], dtype=float)
            if {"ci_low", "ci_high"} <= set(sub.columns):
                lo = [vals[i] - float(sub.loc[m, "ci_low"]) if m in sub.index else 0 for i, m in enumerate(metrics)]
                hi = [float(sub.loc[m, "ci_high"]) - vals[i] if m in sub.index else 0 for i, m in enumerate(metrics)]
                # a corpus statistic (BLEU, METEOR) may lie outside the CI of the pair mean: no negative whisker
                err = np.clip(np.nan_to_num(np.array([lo, hi], dtype=float)), 0, None)
            style = series_style(k)
            mstyle = {"color": style["color"], "marker": MARKERS[k % len(MARKERS)]}
        xs = x + (k - (n - 1) / 2) * width
        ax.bar(xs, vals, width, label=label, yerr=err, capsize=2, error_kw={"elinewidth": 0.7}, **style)
        ax.plot(xs, vals, ls="", ms=3.5, markeredgecolor="#222222", markeredgewidth=0.4, zorder=4, **mstyle)
    ax.set_xticks(x, list(metrics))


def metrics_table_figure(table: pd.DataFrame, keys: Sequence[str], published_system: str,
                         title: str = "Report generation: this run vs baselines vs published AMRG") -> plt.Figure:
    """:func:`metrics_bar_figure` of the report stage's long metrics table.

    ``table`` has columns ``system``, ``data_source``, ``metric`` (display name), ``key``, ``value``, ``ci_low``,
    ``ci_high``; rows of ``published_system`` become the hatched published bars, the others one group each.
    """
    from ..eval.report_metrics import DISPLAY

    sel = table[table["key"].isin(keys)]
    metrics = [DISPLAY.get(k, k) for k in keys if k in set(sel["key"])]
    pub = sel[sel["system"] == published_system]
    ours = sel[sel["system"] != published_system].rename(columns={"data_source": "source"})
    return metrics_bar_figure(ours, metrics, dict(zip(pub["metric"], pub["value"].astype(float))) or None, title)


def training_curve_figure(log: pd.DataFrame, title: str = "Report fine-tuning") -> plt.Figure:
    """Training and validation loss of the report fine-tune (the shared curve of ``viz.results``)."""
    from .results import training_curves

    return training_curves(log, title, ylabel="token cross-entropy", log_scale=False)


#: Display names of ``eval.clinical.ERROR_TYPES`` (kept here so the figure does not import the extractor).
CLINICAL_ERROR_LABELS: dict[str, str] = {"missed_finding": "missed finding", "false_finding": "false finding",
                                         "wrong_laterality": "wrong laterality", "wrong_density": "wrong density",
                                         "wrong_birads": "wrong BI-RADS"}


def clinical_errors_figure(errors: pd.DataFrame, title: str = "Clinical errors of generated reports") -> plt.Figure:
    """Clinical errors by type per system, per 100 test reports (the report stage's ``report_clinical_errors``).

    Per 100 reports rather than raw counts so that runs with different test sizes read alike; the legend names
    each system's mean errors per report with its patient-clustered 95% CI, and the title names the data source
    (phantom reports carry no clinical meaning).
    """
    types = [t for t in CLINICAL_ERROR_LABELS if t in errors.columns]
    fig, ax = plt.subplots(figsize=(7.2, 3.6))
    n = max(len(errors), 1)
    width = 0.8 / n
    x = np.arange(len(types))
    for k, (_, row) in enumerate(errors.iterrows()):
        per100 = np.array([100.0 * float(row[t]) / max(float(row["n_reports"]), 1.0) for t in types])
        label = (f"{row['system']} ({float(row['errors_per_report']):.2f}/report, "
                 f"95% CI {float(row['ci_low']):.2f}-{float(row['ci_high']):.2f})")
        style = series_style(k)
        xs = x + (k - (n - 1) / 2) * width
        ax.bar(xs, per100, width, label=label, **style)
        ax.plot(xs, per100, ls="", ms=3.5, marker=MARKERS[k % len(MARKERS)], color=style["color"],
                markeredgecolor="#222222", markeredgewidth=0.4, zorder=4)
    ax.set_xticks(x, [CLINICAL_ERROR_LABELS[t] for t in types])
    ax.set_ylabel("errors per 100 reports")
    source = ", ".join(sorted(set(errors["data_source"].astype(str)))) if "data_source" in errors else ""
    ax.set_title(f"{title}" + (f" ({source})" if source else ""), fontsize=10)
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(0, -0.14), ncol=1)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig
