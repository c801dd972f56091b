"""Reliability figures (paper Fig. 3c-e and a forest plot against random guess); one function per figure.

Each function takes the tables of ``mammovqa.stats`` (``accuracy_table``, ``label_balance``,
``test_against_random``) and returns a matplotlib Figure; ``viz.save_figure`` writes it. Nothing here
computes statistics, so a figure always shows exactly the numbers of a table that is also written out.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import STYLE  # noqa: F401  (importing viz applies the shared style)

VERDICT_COLOURS = {"above random": "#2a7f3f", "above random, within margin": "#7fb069",
                   "equivalent to random": "#3b6fb6", "below random": "#b03030",
                   "below random, within margin": "#d98080", "inconclusive": "#888888"}


def _markers(n: int) -> list[str]:
    return (["o", "s", "^", "D", "v", "P", "X", "<", ">", "*", "h"] * (n // 11 + 1))[:n]


def absolute_vs_weighted(acc: pd.DataFrame, title: str = "Absolute vs weighted accuracy") -> plt.Figure:
    """Fig. 3c: one point per model and topic; points below the identity line gain accuracy from the
    majority class (imbalanced topics), which the weighted metric removes."""
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    models = list(dict.fromkeys(acc["model"]))
    for model, marker in zip(models, _markers(len(models))):
        d = acc[acc["model"] == model]
        ax.scatter(100 * d["accuracy"], 100 * d["weighted_accuracy"], marker=marker, s=22, label=model, alpha=0.85)
    ax.plot([0, 100], [0, 100], color="#444", lw=0.8, ls="--", zorder=0)
    ax.set(xlim=(0, 100), ylim=(0, 100), xlabel="Absolute accuracy (%)", ylabel="Weighted accuracy (%)", title=title)
    ax.set_aspect("equal")
    if len(models) <= 14:
        ax.legend(fontsize=7, frameon=False, loc="upper left")
    return fig


def balance_vs_gap(balance: pd.DataFrame, acc: pd.DataFrame, balance_col: str = "normalised_entropy",
                   title: str = "Training-label balance vs accuracy gap") -> plt.Figure:
    """Fig. 3d: per topic, the balance of the training labels against absolute minus weighted accuracy
    (mean over models, with the range across models as a bar)."""
    acc = acc.assign(gap=100 * (acc["accuracy"] - acc["weighted_accuracy"]))
    per_topic = acc.groupby("topic")["gap"].agg(["mean", "min", "max"]).reset_index()
    d = per_topic.merge(balance[["topic", balance_col]], on="topic", how="inner")
    fig, ax = plt.subplots(figsize=(5.0, 3.8))
    ax.errorbar(d[balance_col], d["mean"], yerr=[d["mean"] - d["min"], d["max"] - d["mean"]], fmt="o", ms=4,
                color="#3b6fb6", ecolor="#9bb4d8", capsize=2)
    for r in d.itertuples():
        ax.annotate(r.topic, (getattr(r, balance_col), r.mean), fontsize=7, xytext=(3, 3), textcoords="offset points")
    label = {"normalised_entropy": "Normalised label entropy (train split; 1 = balanced)",
             "majority_share": "Majority-class share (train split)"}.get(balance_col, balance_col)
    ax.axhline(0, color="#444", lw=0.6)
    ax.set(xlabel=label, ylabel="Absolute - weighted accuracy (points)", title=title)
    return fig


def breast_vs_finding(acc: pd.DataFrame, topics: Sequence[str] = ("Pathology", "Abnormality"),
                      metric: str = "weighted_accuracy", title: str = "Breast vs finding sets") -> plt.Figure:
    """Fig. 3e: per model, the same question asked of whole breasts and of lesion crops (topic labels
    "<Topic> (breast)" / "<Topic> (finding)"), side by side."""
    fig, axes = plt.subplots(1, len(topics), figsize=(4.2 * len(topics), 3.6), squeeze=False)
    for ax, topic in zip(axes[0], topics):
        parts = {p: acc[acc["topic"] == f"{topic} ({p})"].set_index("model")[metric] for p in ("breast", "finding")}
        models = sorted(set(parts["breast"].index) | set(parts["finding"].index))
        x = np.arange(len(models))
        for off, (part, colour) in zip((-0.2, 0.2), (("breast", "#c98b3b"), ("finding", "#3b6fb6"))):
            vals = [100 * parts[part].get(m, np.nan) for m in models]
            ax.bar(x + off, vals, width=0.4, label=part, color=colour)
        ax.set_xticks(x, models, rotation=45, ha="right", fontsize=7)
        ax.set(title=topic, ylabel=f"{metric.replace('_', ' ').capitalize()} (%)", ylim=(0, 100))
        ax.legend(fontsize=7, frameon=False)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def forest_vs_random(tests: pd.DataFrame, title: str = "Weighted accuracy minus random guess") -> plt.Figure:
    """Forest plot: estimate - random with its CI per model and topic, coloured by verdict; the shaded band
    is the equivalence margin. Not-testable rows are listed without a point."""
    d = tests.reset_index(drop=True)
    n = len(d)
    fig, ax = plt.subplots(figsize=(6.0, 0.9 + 0.22 * max(n, 1)))
    y = np.arange(n)[::-1]
    margin = float(d["margin"].dropna().iloc[0]) if "margin" in d and d["margin"].notna().any() else None
    if margin:
        ax.axvspan(-100 * margin, 100 * margin, color="#dde6f3", zorder=0)
    ax.axvline(0, color="#444", lw=0.8)
    for yi, r in zip(y, d.itertuples()):
        verdict = str(r.verdict)
        if verdict.startswith("not testable") or not np.isfinite(r.estimate):
            ax.text(0, yi, verdict, fontsize=6, color="#888", va="center", ha="center")
            continue
        colour = VERDICT_COLOURS.get(verdict, "#000")
        ax.errorbar(100 * (r.estimate - r.random_guess), yi, xerr=[[100 * (r.estimate - r.ci_low)],
                    [100 * (r.ci_high - r.estimate)]], fmt="o", ms=3.5, color=colour, capsize=2)
    ax.set_yticks(y, [f"{r.model} | {r.topic}" for r in d.itertuples()], fontsize=7)
    ax.set(xlabel="Weighted accuracy - random guess (points, 95% CI)", title=title)
    handles = [plt.Line2D([], [], marker="o", ls="", color=c, label=v) for v, c in VERDICT_COLOURS.items()
               if (d["verdict"] == v).any()]
    if handles:
        ax.legend(handles=handles, fontsize=7, frameon=False, loc="lower right")
    return fig
