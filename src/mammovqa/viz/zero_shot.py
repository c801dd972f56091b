"""Zero-shot figures: weighted accuracy per topic and model against the random-guess level (paper Fig. 3a/b),
and how often the official and strict matchers disagree.

Inputs are the tables of :mod:`mammovqa.eval.metrics` and :func:`mammovqa.eval.scoring.disagreement_table`
(fractions in [0, 1]); the plots show percentages, as the paper does.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..eval.metrics import TOPIC_ORDER
from . import STYLE  # noqa: F401  (applies the shared style)


def _topic_rows(metrics: pd.DataFrame, split: str, level: str, matcher: str | None) -> pd.DataFrame:
    df = metrics[(metrics["split"] == split) & (metrics["level"] == level) & (metrics["dataset"] == "all")
                 & (metrics["topic"] != "all")]
    if matcher is not None:
        df = df[df["matcher"] == matcher]
    if df.empty:
        raise ValueError(f"no topic rows for split={split!r} level={level!r} matcher={matcher!r}")
    if df["matcher"].nunique() > 1:
        raise ValueError(f"several matchers {sorted(df['matcher'].unique())}; pass matcher=")
    return df


def plot_weighted_accuracy_by_topic(metrics_df: pd.DataFrame, split: str = "test", level: str = "image",
                                    matcher: str | None = None, models: Sequence[str] | None = None,
                                    metric: str = "weighted_accuracy", title: str | None = None) -> plt.Figure:
    """Grouped bars: one group per topic, one bar per model; a black tick per topic marks random guess."""
    df = _topic_rows(metrics_df, split, level, matcher)
    models = list(models) if models is not None else sorted(df["model"].unique())
    topics = sorted(df["topic"].unique(), key=lambda t: (TOPIC_ORDER.index(t) if t in TOPIC_ORDER else 99, t))
    x = np.arange(len(topics))
    width = 0.8 / max(len(models), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(topics) + 2), 3.6))
    cmap = plt.get_cmap("tab10" if len(models) <= 10 else "tab20")
    for k, model in enumerate(models):
        vals = df[df["model"] == model].set_index("topic")[metric].reindex(topics)
        ax.bar(x - 0.4 + width * (k + 0.5), 100 * vals.to_numpy(dtype=float), width, label=model, color=cmap(k))
    rnd = df.groupby("topic")["random_guess"].mean().reindex(topics)
    for xi, r in zip(x, rnd.to_numpy(dtype=float), strict=True):
        ax.hlines(100 * r, xi - 0.45, xi + 0.45, colors="black", linestyles="--", linewidth=1.2)
    ax.plot([], [], "k--", linewidth=1.2, label="random guess")
    ax.set_xticks(x, topics, rotation=30, ha="right")
    ax.set_ylabel(f"{metric.replace('_', ' ')} (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title or f"{level}-level {split} split" + (f", {matcher} matcher" if matcher else ""))
    ax.legend(fontsize=7, ncol=min(4, len(models) + 1), loc="upper center", bbox_to_anchor=(0.5, -0.32),
              frameon=False)
    fig.tight_layout()
    return fig


def plot_disagreement(disagreement_df: pd.DataFrame, title: str | None = None) -> plt.Figure:
    """Bars of the fraction of items where the official and strict matchers decide differently, per topic."""
    df = disagreement_df[disagreement_df["topic"] != "all"]
    labels = [f"{t} ({lv})" if "level" in df and lv == "exam" else str(t)
              for t, lv in zip(df["topic"], df["level"] if "level" in df else [None] * len(df), strict=True)]
    fig, ax = plt.subplots(figsize=(max(5.0, 0.6 * len(df) + 2), 3.2))
    x = np.arange(len(df))
    ax.bar(x, 100 * df["differ"].to_numpy(dtype=float), color="#4c72b0")
    ax.set_xticks(x, labels, rotation=30, ha="right")
    ax.set_ylabel("decisions that differ (%)")
    ax.set_title(title or "Official vs strict matcher")
    fig.tight_layout()
    return fig
