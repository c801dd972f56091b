"""Reliability figures (paper Fig. 3c-e and a forest plot against random guess); one function per figure.

Each function takes the tables of ``mammovqa.stats`` (``accuracy_table``, ``label_balance``,
``test_against_random``) and returns a matplotlib Figure; ``viz.save_figure`` writes it. Nothing here
computes statistics, so a figure always shows exactly the numbers of a table that is also written out.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from .style import fig_size, model_styles, not_run_bars, not_run_handle, place_labels, series_style

VERDICT_COLOURS = {"above random": "#009E73", "above random, within margin": "#56B4E9",
                   "equivalent to random": "#0072B2", "below random": "#D55E00",
                   "below random, within margin": "#CC79A7", "inconclusive": "#8c8c8c"}
VERDICT_MARKERS = {"above random": "^", "above random, within margin": "D", "equivalent to random": "o",
                   "below random": "v", "below random, within margin": "s", "inconclusive": "X"}


def _categories(df: pd.DataFrame) -> dict[str, str] | None:
    return dict(zip(df["model"].astype(str), df["category"].astype(str))) if "category" in df.columns else None


def absolute_vs_weighted(acc: pd.DataFrame, title: str = "Absolute vs weighted accuracy") -> plt.Figure:
    """Fig. 3c: one point per model and topic; points below the identity line gain accuracy from the
    majority class (imbalanced topics), which the weighted metric removes."""
    fig, ax = plt.subplots(figsize=(6.4, 4.4), layout="constrained")
    models = list(dict.fromkeys(acc["model"]))
    styles = model_styles(models, _categories(acc))
    for model in models:
        d = acc[acc["model"] == model]
        ax.plot(100 * d["accuracy"], 100 * d["weighted_accuracy"], ls="", ms=4.5, label=model, alpha=0.9,
                **styles[model].point())
    ax.plot([0, 100], [0, 100], color="#444", lw=0.8, ls="--", zorder=0)
    ax.set(xlim=(0, 100), ylim=(0, 100), xlabel="Absolute accuracy (%)", ylabel="Weighted accuracy (%)", title=title)
    ax.set_aspect("equal")
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.02, 1.0), ncol=1 if len(models) <= 16 else 2)
    return fig


def balance_vs_gap(balance: pd.DataFrame, acc: pd.DataFrame, balance_col: str = "normalised_entropy",
                   title: str = "Training-label balance vs accuracy gap") -> plt.Figure:
    """Fig. 3d: per topic, the balance of the training labels against absolute minus weighted accuracy
    (mean over models, with the range across models as a bar); topic labels placed so none overlap."""
    acc = acc.assign(gap=100 * (acc["accuracy"] - acc["weighted_accuracy"]))
    per_topic = acc.groupby("topic")["gap"].agg(["mean", "min", "max"]).reset_index()
    d = per_topic.merge(balance[["topic", balance_col]], on="topic", how="inner")
    fig, ax = plt.subplots(figsize=(6.0, 4.4))
    ax.errorbar(d[balance_col], d["mean"], yerr=[d["mean"] - d["min"], d["max"] - d["mean"]], fmt="o", ms=4,
                color="#0072B2", ecolor="#56B4E9", capsize=2)
    label = {"normalised_entropy": "Normalised label entropy (train split; 1 = balanced)",
             "majority_share": "Majority-class share (train split)"}.get(balance_col, balance_col)
    ax.axhline(0, color="#444", lw=0.6)
    ax.set(xlabel=label, ylabel="Absolute - weighted accuracy (points)", title=title)
    ax.margins(x=0.15, y=0.2)
    fig.tight_layout()
    place_labels(ax, list(d[balance_col]), list(d["mean"]), list(d["topic"]), fontsize=6.5)
    return fig


def breast_vs_finding(acc: pd.DataFrame, topics: Sequence[str] = ("Pathology", "Abnormality"),
                      metric: str = "weighted_accuracy", title: str = "Breast vs finding sets",
                      intervals: pd.DataFrame | None = None) -> plt.Figure:
    """Fig. 3e: per model, the same question asked of whole breasts and of lesion crops (topic labels
    "<Topic> (breast)" / "<Topic> (finding)"), side by side; a missing score is a hatched stub, not a 0.

    ``intervals``: the statistics stage's table (``test_against_random``: ``model``, ``topic``, ``ci_low``,
    ``ci_high`` of the weighted accuracy) draws its 95% clustered CIs as error bars.
    """
    ci = intervals.dropna(subset=["ci_low", "ci_high"]).set_index(["model", "topic"]) if intervals is not None \
        else None
    n_models = acc["model"].nunique()
    fig, axes = plt.subplots(1, len(topics), figsize=fig_size(max(4.2, 0.45 * n_models + 1.2) * len(topics), 4.0),
                             squeeze=False, layout="constrained")
    for ax, topic in zip(axes[0], topics):
        parts = {p: acc[acc["topic"] == f"{topic} ({p})"].set_index("model")[metric] for p in ("breast", "finding")}
        models = sorted(set(parts["breast"].index) | set(parts["finding"].index))
        x = np.arange(len(models))
        for k, (off, part) in enumerate(zip((-0.2, 0.2), ("breast", "finding"))):
            vals = np.array([100 * parts[part].get(m, np.nan) for m in models], dtype=float)
            have = np.isfinite(vals)
            st = series_style(k)
            ax.bar(x[have] + off, vals[have], width=0.4, label=part, **st)
            ax.plot(x[have] + off, vals[have], ls="", marker=("o", "s")[k], ms=3,
                    color=st["color"], markeredgecolor="#222222", markeredgewidth=0.4)
            not_run_bars(ax, x[~have] + off, 0.4)
            if ci is not None:
                key = [(m, f"{topic} ({part})") for m in models]
                ok = np.array([have[i] and key[i] in ci.index for i in range(len(models))], dtype=bool)
                if ok.any():
                    lo = np.array([100 * ci.loc[key[i], "ci_low"] for i in np.flatnonzero(ok)])
                    hi = np.array([100 * ci.loc[key[i], "ci_high"] for i in np.flatnonzero(ok)])
                    err = np.clip([vals[ok] - lo, hi - vals[ok]], 0, None)
                    ax.errorbar(x[ok] + off, vals[ok], yerr=err, fmt="none", ecolor="#111111", elinewidth=0.7,
                                capsize=1.5)
        ax.set_xticks(x, models, rotation=30, ha="right", fontsize=7)
        ax.set(title=topic, ylabel=f"{metric.replace('_', ' ').capitalize()} (%)", ylim=(0, 100))
        handles, _ = ax.get_legend_handles_labels()
        ax.legend(handles=[*handles, not_run_handle()], fontsize=7, loc="upper right")
    fig.suptitle(title)
    return fig


def forest_vs_random(tests: pd.DataFrame, title: str = "Weighted accuracy minus random guess (95% CI)",
                     ncol: int = 4) -> plt.Figure:
    """Forest plot, one panel per topic: estimate - random with its 95% CI per model, coloured (and shaped) by
    verdict; the shaded band is the equivalence margin.

    Readable at every profile: rows that were not testable are not drawn (a footnote counts them and gives
    the reasons), topics with no testable row get no panel, and the grid of panels keeps the figure inside
    the size cap however many models and topics there are.
    """
    d = tests.reset_index(drop=True)
    ok = d["verdict"].notna() & ~d["verdict"].astype(str).str.startswith("not testable") & np.isfinite(
        d["estimate"].astype(float))
    drawn, skipped = d[ok], d[~ok]
    topics = list(dict.fromkeys(drawn["topic"]))
    models = sorted(set(drawn["model"]))
    ncol = max(1, min(ncol, len(topics)))
    nrow = max(1, int(np.ceil(len(topics) / ncol)))
    panel_h = max(1.6, 0.5 + 0.17 * len(models))
    fig, axes = plt.subplots(nrow, ncol, figsize=fig_size(1.6 + 2.6 * ncol, 1.0 + panel_h * nrow), squeeze=False,
                             sharey=True, layout="constrained")
    margin = float(d["margin"].dropna().iloc[0]) if "margin" in d and d["margin"].notna().any() else None
    y_of = {m: i for i, m in enumerate(models[::-1])}
    for ax, topic in zip(axes.flat, topics):
        _forest_panel(ax, drawn[drawn["topic"] == topic], y_of, margin)
        ax.set_title(topic, fontsize=8)
    for ax in list(axes.flat)[len(topics):]:
        ax.axis("off")
    if topics:
        for ax in axes[:, 0]:
            ax.set_yticks(range(len(models)), models[::-1], fontsize=7)
        for ax in _bottom_row(axes, len(topics)):
            ax.set_xlabel("minus random guess (points)", fontsize=7)
        handles = [plt.Line2D([], [], marker=VERDICT_MARKERS[v], ls="", color=c, label=v)
                   for v, c in VERDICT_COLOURS.items() if (drawn["verdict"] == v).any()]
        if margin:
            handles.append(Patch(color="#dde6f3", label=f"equivalence margin (+/- {100 * margin:g} points)"))
        fig.legend(handles=handles, fontsize=7, loc="outside lower center", ncol=min(len(handles), 3))
    else:
        axes.flat[0].axis("off")
        axes.flat[0].text(0.5, 0.5, "nothing to draw: no model x topic has enough items\nfor a test at this profile "
                          "(see the significance table)", ha="center", va="center", fontsize=9,
                          transform=axes.flat[0].transAxes)
    fig.suptitle(f"{title}\n{_skipped_note(skipped, len(d))}", fontsize=9)
    return fig


def _bottom_row(axes: np.ndarray, used: int) -> list:
    """The lowest used panel of each column of a grid filled row by row."""
    nrow, ncol = axes.shape
    return [axes[max(r for r in range(nrow) if r * ncol + c < used), c] for c in range(min(ncol, used))]


def _forest_panel(ax, rows: pd.DataFrame, y_of: dict[str, int], margin: float | None) -> None:
    if margin:
        ax.axvspan(-100 * margin, 100 * margin, color="#dde6f3", zorder=0)
    ax.axvline(0, color="#444", lw=0.8)
    for r in rows.itertuples():
        colour = VERDICT_COLOURS.get(str(r.verdict), "#000000")
        est = 100 * (r.estimate - r.random_guess)
        err = np.clip([[100 * (r.estimate - r.ci_low)], [100 * (r.ci_high - r.estimate)]], 0, None)
        ax.errorbar(est, y_of[r.model], xerr=err, fmt=VERDICT_MARKERS.get(str(r.verdict), "o"), ms=3.5,
                    color=colour, capsize=1.5, elinewidth=0.8)
    ax.set_ylim(-0.7, len(y_of) - 0.3)
    ax.tick_params(axis="x", labelsize=7)


def _skipped_note(skipped: pd.DataFrame, total: int) -> str:
    """One line for every row not drawn: how many, and the reasons in short."""
    if skipped.empty:
        return f"all {total} model x topic rows testable"
    reasons = skipped["verdict"].fillna("no estimate").astype(str).str.replace(r"\d+ items? \(< (\d+)\)", r"fewer than \1 items", regex=True)
    kinds = "; ".join(f"{n}: {r.removeprefix('not testable: ')}" for r, n in reasons.value_counts().items())
    return textwrap.fill(f"{len(skipped)} of {total} model x topic rows not testable, not drawn ({kinds})", 110)
