"""Figures of the fine-tuning and external-validation stages (paper Fig. 2f, 3a/b, 3f) and training curves."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import finish_grid

CATEGORY_COLOURS = {"fine-tuned": "#1b7837", "closed-set": "#5aae61", "zero-shot": "#2166ac",
                    "architecture check": "#92c5de", "baseline": "#bababa"}


def accuracy_by_topic(rows: pd.DataFrame, metric: str = "weighted_accuracy", title: str = "") -> plt.Figure:
    """Grouped bars: one group per topic, one bar per model (coloured by category), random guess as a tick."""
    topics = list(dict.fromkeys(rows["topic"]))
    models = list(dict.fromkeys(rows.sort_values(["category", "model"])["model"]))
    width = 0.8 / max(len(models), 1)
    fig, ax = plt.subplots(figsize=(max(7, 0.9 * len(topics) + 2), 3.8))
    x = np.arange(len(topics))
    shades: dict[str, int] = {}
    for j, model in enumerate(models):
        sub = rows[rows["model"] == model].set_index("topic").reindex(topics)
        cat = str(sub["category"].dropna().iloc[0]) if sub["category"].notna().any() else "baseline"
        shade = shades[cat] = shades.get(cat, -1) + 1
        colour = plt.matplotlib.colors.to_rgba(CATEGORY_COLOURS.get(cat, "#999999"), 1.0 - 0.15 * min(shade, 4))
        ax.bar(x - 0.4 + (j + 0.5) * width, 100 * sub[metric].to_numpy(dtype=float), width, color=colour,
               label=f"{model} ({cat})", edgecolor="white", linewidth=0.3)
    rg = rows.groupby("topic", sort=False)["random_guess"].mean().reindex(topics)
    ax.scatter(x, 100 * rg.to_numpy(dtype=float), marker="_", s=600, color="black", zorder=5, label="random guess")
    ax.set_xticks(x, topics, rotation=30, ha="right")
    ax.set_ylabel(f"{metric.replace('_', ' ')} (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=6, ncol=2, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(title)
    fig.tight_layout()
    return fig


def training_curves(log: pd.DataFrame, title: str = "Training and validation loss",
                    ylabel: str = "cross-entropy (answer tokens)", log_scale: bool = True) -> plt.Figure:
    """Train and validation loss per optimiser step (``train.vlm.write_log_history`` CSV); VQA and reports."""
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    tr = log.dropna(subset=["loss"])
    ev = log.dropna(subset=["eval_loss"])
    ax.plot(tr["step"], tr["loss"], label="train loss", color="#2166ac")
    if len(ev):
        ax.plot(ev["step"], ev["eval_loss"], "o-", label="validation loss", color="#b2182b")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel(ylabel)
    if log_scale:
        ax.set_yscale("log")
    ax.legend(frameon=False)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def confusion_matrices(scored: pd.DataFrame, topics: Sequence[str], ncol: int = 3, title: str = "") -> plt.Figure:
    """Row-normalised gold x predicted matrices per topic ("no choice" as a column): prediction distributions."""
    topics = [t for t in topics if t in set(scored["topic"])]
    nrow = int(np.ceil(len(topics) / ncol)) or 1
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.4 * ncol, 3.0 * nrow), squeeze=False)
    for ax, topic in zip(axes.flat, topics):
        sub = scored[scored["topic"] == topic]
        pred = sub["pred"].replace("", "(none)")
        golds = sorted(sub["gold"].unique())
        preds = sorted(set(pred) | set(golds), key=lambda p: (p == "(none)", p))
        if len(golds) > 8:  # Abnormality sets: keep the most frequent gold sets
            golds = list(sub["gold"].value_counts().index[:8])
            preds = [p for p in preds if p in golds or p == "(none)"]
        m = pd.crosstab(sub["gold"], pred).reindex(index=golds, columns=preds, fill_value=0)
        frac = m.div(m.sum(axis=1).replace(0, 1), axis=0)
        ax.imshow(frac.to_numpy(dtype=float), cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(len(preds)), [p[:14] for p in preds], rotation=60, ha="right", fontsize=6)
        ax.set_yticks(range(len(golds)), [g[:14] for g in golds], fontsize=6)
        for (i, j), v in np.ndenumerate(frac.to_numpy(dtype=float)):
            if v >= 0.05:
                ax.text(j, i, f"{100 * v:.0f}", ha="center", va="center", fontsize=5,
                        color="white" if v > 0.6 else "black")
        ax.set_title(topic, fontsize=8)
        ax.set_xlabel("predicted", fontsize=7)
        ax.set_ylabel("gold", fontsize=7)
    return finish_grid(fig, axes, len(topics), title)


def internal_vs_external(rows: pd.DataFrame, metric: str = "weighted_accuracy", title: str = "") -> plt.Figure:
    """Per model, internal (test) vs external accuracy on the topics both splits share (Fig. 3f)."""
    piv = rows.pivot_table(index=["model", "topic"], columns="split", values=metric).dropna()
    fig, ax = plt.subplots(figsize=(4.4, 4.2))
    for model, sub in piv.groupby(level=0):
        ax.scatter(100 * sub["test"], 100 * sub["external"], label=model, s=22)
        for (_, topic), r in sub.iterrows():
            ax.annotate(topic[:10], (100 * r["test"], 100 * r["external"]), fontsize=5, alpha=0.7)
    ax.plot([0, 100], [0, 100], color="grey", lw=0.8, ls="--")
    ax.set_xlabel(f"internal test {metric.replace('_', ' ')} (%)")
    ax.set_ylabel(f"external {metric.replace('_', ' ')} (%)")
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.legend(fontsize=6, frameon=False)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def disagreement_bars(dis: pd.DataFrame, title: str = "Official vs strict matcher: decisions that differ") -> plt.Figure:
    rows = dis[dis["topic"] != "all"]
    piv = rows.pivot_table(index="topic", columns="model", values="differ", aggfunc="mean") * 100
    fig, ax = plt.subplots(figsize=(7, 3.4))
    piv.plot.bar(ax=ax, width=0.8)
    ax.set_ylabel("% of items decided differently")
    ax.set_xlabel("")
    ax.tick_params(axis="x", rotation=30)
    ax.legend(fontsize=6, frameon=False)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def position_bias_plot(bias: pd.DataFrame, title: str = "Which letter is chosen (1 = as often as chance)") -> plt.Figure:
    """Normalised choice share per answer letter and model, for the most common option count."""
    k = int(bias.groupby("n_options")["n_items"].sum().idxmax()) if len(bias) else 2
    sub = bias[bias["n_options"] == k]
    piv = sub.pivot_table(index="letter", columns="model", values="normalised")
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    piv.plot.bar(ax=ax, width=0.8)
    gold = sub.groupby("letter")["gold_normalised"].mean()
    ax.plot(range(len(gold)), gold.to_numpy(), "k_", markersize=18, label="gold answers")
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_xlabel(f"answer letter (items with {k} options, all rotations)")
    ax.set_ylabel("choice share x K")
    ax.tick_params(axis="x", rotation=0)
    ax.legend(fontsize=6, frameon=False)
    ax.set_title(title)
    fig.tight_layout()
    return fig
