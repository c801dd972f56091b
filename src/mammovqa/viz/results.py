"""Figures of the fine-tuning and external-validation stages (paper Fig. 2f, 3a/b, 3f) and training curves."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from ..models.registry import CATEGORY_ORDER
from . import finish_grid
from .style import (
    CATEGORY_COLOURS,
    fig_size,
    interval_handle,
    model_styles,
    not_run_bars,
    not_run_handle,
    random_guess_handle,
    random_guess_lines,
)

__all__ = ["CATEGORY_COLOURS", "accuracy_by_topic", "confusion_matrices", "disagreement_bars", "internal_vs_external",
           "position_bias_plot", "training_curves"]
MIN_CURVE_POINTS = 3  # fewer logged points than this is not a curve: the figure says so


def _ordered_models(rows: pd.DataFrame) -> tuple[list[str], dict[str, str]]:
    """Models in category order, then by name; and each model's category ("baseline" when unknown)."""
    cats = {m: str(c) for m, c in zip(rows["model"], rows.get("category", pd.Series(["baseline"] * len(rows))))}
    rank = {c: i for i, c in enumerate(CATEGORY_ORDER)}
    models = sorted(cats, key=lambda m: (rank.get(cats[m], len(rank)), m))
    return models, cats


def accuracy_by_topic(rows: pd.DataFrame, metric: str = "weighted_accuracy", title: str = "",
                      intervals: pd.DataFrame | None = None, interval_label: str = "95% CI") -> plt.Figure:
    """Grouped bars: one group per topic, one bar per model, the topic's random-guess level as a dashed line.

    Each model keeps its style (category colour, own hatch; a marker on the bar top so a score of 0 is
    visible); a model with no score for a topic gets a hatched grey stub ("not run / no score"), never a 0
    bar. ``intervals`` (columns ``model``, ``topic``, ``ci_low``, ``ci_high``, fractions; see
    ``viz.intervals.accuracy_intervals``) draws error bars labelled ``interval_label``.
    """
    topics = list(dict.fromkeys(rows["topic"]))
    models, cats = _ordered_models(rows)
    styles = model_styles(models, cats)
    width = 0.84 / max(len(models), 1)
    fig, ax = plt.subplots(figsize=fig_size(max(7.0, 0.11 * len(models) * len(topics) + 1.8), 4.6),
                           layout="constrained")
    x = np.arange(len(topics))
    ci = intervals.set_index(["model", "topic"]) if intervals is not None and len(intervals) else None
    for j, model in enumerate(models):
        sub = rows[rows["model"] == model].set_index("topic").reindex(topics)
        vals = 100 * sub[metric].to_numpy(dtype=float)
        xs = x - 0.42 + (j + 0.5) * width
        have = np.isfinite(vals)
        st = styles[model]
        ax.bar(xs[have], vals[have], width, label=f"{model} ({st.category})", zorder=2, **st.bar())
        ax.plot(xs[have], vals[have], ls="", ms=4, zorder=3, **st.point())
        not_run_bars(ax, xs[~have], width)
        if ci is not None:
            _error_bars(ax, xs[have], vals[have], [ci.loc[(model, t)] if (model, t) in ci.index else None
                                                  for t, h in zip(topics, have) if h])
    rg = rows.groupby("topic", sort=False)["random_guess"].mean().reindex(topics)
    random_guess_lines(ax, x, 100 * rg.to_numpy(dtype=float))
    ax.set_xticks(x, topics, rotation=30, ha="right")
    ax.set_xlim(-0.55, len(topics) - 0.45)
    ax.set_ylabel(f"{metric.replace('_', ' ')} (%)")
    ax.set_ylim(0, 104)
    ax.set_title(title)
    extra = [random_guess_handle(), not_run_handle()] + ([interval_handle(interval_label)] if ci is not None else [])
    fig.legend(handles=[*_bar_handles(ax), *extra], loc="outside lower center", ncol=min(4, len(models) + len(extra)),
               fontsize=7)
    return fig


def _bar_handles(ax) -> list:
    """Legend handles of the model bars only (the marker lines carry no label)."""
    return [h for h, lab in zip(*ax.get_legend_handles_labels()) if not lab.startswith("_")]


def _error_bars(ax, xs: np.ndarray, vals: np.ndarray, cis: list) -> None:
    lo = np.array([100 * float(c["ci_low"]) if c is not None else np.nan for c in cis])
    hi = np.array([100 * float(c["ci_high"]) if c is not None else np.nan for c in cis])
    ok = np.isfinite(lo) & np.isfinite(hi) & (hi - lo > 1e-6)  # a zero-width interval would only add caps at the value
    if ok.any():  # an estimate may sit on a percentile bound: never a negative whisker
        err = np.clip(np.array([vals[ok] - lo[ok], hi[ok] - vals[ok]]), 0, None)
        ax.errorbar(xs[ok], vals[ok], yerr=err, fmt="none", ecolor="#111111", elinewidth=0.7, capsize=1.5, zorder=5)


def training_curves(log: pd.DataFrame, title: str = "Training and validation loss",
                    ylabel: str = "cross-entropy (answer tokens)", log_scale: bool = True) -> plt.Figure:
    """Train and validation loss at every logged optimiser step (``train.vlm.write_log_history`` CSV).

    Every logged point is drawn with a marker; with fewer than :data:`MIN_CURVE_POINTS` logged points (smoke
    runs) the title says there are too few steps for a curve, so a single dot is not read as a flat line.
    """
    fig, ax = plt.subplots(figsize=(5.5, 3.4), layout="constrained")
    tr = log.dropna(subset=["loss"]) if "loss" in log else log.iloc[:0]
    ev = log.dropna(subset=["eval_loss"]) if "eval_loss" in log else log.iloc[:0]
    ax.plot(tr["step"], tr["loss"], "o-", ms=2.5, lw=1.0, label=f"train loss ({len(tr)} logged)", color="#0072B2")
    ax.plot(ev["step"], ev["eval_loss"], "s--", ms=3.5, lw=1.0, label=f"validation loss ({len(ev)} logged)",
            color="#D55E00")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel(ylabel)
    steps = int(log["step"].max()) if len(log) and log["step"].notna().any() else 0
    too_few = max(len(tr), len(ev)) < MIN_CURVE_POINTS
    if log_scale and not too_few and (pd.concat([tr["loss"], ev["eval_loss"]]) > 0).all():
        ax.set_yscale("log")
    ax.set_xlim(0, max(steps, 1) * 1.05)  # the whole run, from step 0, so a lone point sits in context
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if too_few:
        title = (f"{title}\ntoo few logged steps for a curve: {len(tr)} train, {len(ev)} validation point(s)"
                 f" in {steps} step(s)")
    ax.legend(loc="upper right", fontsize=7)
    ax.set_title(title, fontsize=9)
    return fig


#: Short forms of long option strings for tick labels (the full names are in the caption and the tables).
_SHORT = {"Architectural distortion": "Arch. distortion", "Calcification": "Calc.", "Suspicious lymph node":
          "Susp. node", "Heterogeneously dense": "Heterog. dense", "Dense-glandular": "Dense-gland.",
          "Fatty-glandular": "Fatty-gland."}


def tick_label(answer: str, width: int = 16) -> str:
    """A class label for a tick: multi-answer sets joined by "+", long option names shortened, wrapped onto at
    most three lines instead of cut (a cut label made "Calcification|Mass" and "Calcification|Asymmetry" one)."""
    import textwrap

    parts = [_SHORT.get(p, p) for p in str(answer).split("|")]
    return textwrap.fill(" + ".join(parts), width=width, max_lines=3, placeholder=" ...")


def confusion_matrices(scored: pd.DataFrame, topics: Sequence[str], ncol: int = 3, title: str = "") -> plt.Figure:
    """Row-normalised gold x predicted matrices per topic ("no choice" as a column): prediction distributions."""
    topics = [t for t in topics if t in set(scored["topic"])]
    nrow = int(np.ceil(len(topics) / ncol)) or 1
    fig, axes = plt.subplots(nrow, ncol, figsize=fig_size(3.4 * ncol, 3.0 * nrow), squeeze=False)
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
        ax.set_xticks(range(len(preds)), [tick_label(p) for p in preds], rotation=60, ha="right", fontsize=5)
        ax.set_yticks(range(len(golds)), [tick_label(g) for g in golds], fontsize=5)
        for (i, j), v in np.ndenumerate(frac.to_numpy(dtype=float)):
            if v >= 0.05:
                ax.text(j, i, f"{100 * v:.0f}", ha="center", va="center", fontsize=5,
                        color="white" if v > 0.6 else "black")
        ax.set_title(topic, fontsize=8)
        ax.set_xlabel("predicted", fontsize=7)
        ax.set_ylabel("gold", fontsize=7)
    return finish_grid(fig, axes, len(topics), title)


def _category_map(df: pd.DataFrame) -> dict[str, str] | None:
    """Each model's category from the table's ``category`` column; None (a colour per model) when it has none."""
    if "category" in df.columns:
        return {str(m): str(c) for m, c in zip(df["model"], df["category"])}
    return None


def _styles_for(models, cats: dict[str, str] | None):
    """Models in category order (then name) with their shared styles."""
    rank = {c: i for i, c in enumerate(CATEGORY_ORDER)}
    ordered = sorted(dict.fromkeys(models), key=lambda m: (rank.get((cats or {}).get(m, "baseline"), len(rank)), m))
    return ordered, model_styles(ordered, cats)


def _label(model: str, category: str) -> str:
    return f"{model} ({category})" if category else model


def internal_vs_external(rows: pd.DataFrame, metric: str = "weighted_accuracy", title: str = "",
                         intervals: pd.DataFrame | None = None, interval_label: str = "95% CI") -> plt.Figure:
    """Internal (test) vs external accuracy, one point per model and shared topic (Fig. 3f).

    Each model has its own colour-and-marker style; topics are not annotated (with several models per topic
    the labels would pile up), the per-topic numbers are in the external-validation table. ``intervals``
    (``model``, ``topic``, ``split``, ``ci_low``, ``ci_high``) draws both CIs as thin whiskers.
    """
    piv = rows.pivot_table(index=["model", "topic"], columns="split", values=metric).dropna()
    fig, ax = plt.subplots(figsize=(6.0, 6.6), layout="constrained")
    models, styles = _styles_for(piv.index.get_level_values(0), _category_map(rows))
    ci = intervals.set_index(["model", "topic", "split"]) if intervals is not None and len(intervals) else None
    for model in models:
        sub = piv.loc[model]
        if ci is not None:
            _cross_whiskers(ax, model, sub, ci, styles[model].colour)
        ax.plot(100 * sub["test"], 100 * sub["external"], ls="", ms=5, alpha=0.9, zorder=3,
                label=_label(model, styles[model].category), **styles[model].point())
    if ci is not None:
        ax.plot([], [], color="#555555", lw=0.6, marker="|", label=interval_label)
    ax.plot([0, 100], [0, 100], color="grey", lw=0.8, ls="--", label="external = internal")
    ax.set_xlabel(f"internal test {metric.replace('_', ' ')} (%)")
    ax.set_ylabel(f"external {metric.replace('_', ' ')} (%)")
    ax.set(xlim=(-2, 102), ylim=(-2, 102), title=title)  # a score of 0 or 100 shows its whole marker
    ax.set_aspect("equal")
    fig.legend(*ax.get_legend_handles_labels(), fontsize=6, loc="outside lower center", ncol=2)  # below: a wide
    # legend beside an equal-aspect axes would shrink the plot
    return fig


def _cross_whiskers(ax, model: str, sub: pd.DataFrame, ci: pd.DataFrame, colour: str) -> None:
    """Horizontal (internal) and vertical (external) 95% CI whiskers of one model's points."""
    for topic, r in sub.iterrows():
        x, y = 100 * r["test"], 100 * r["external"]
        for split, horizontal in (("test", True), ("external", False)):
            if (model, topic, split) not in ci.index:
                continue
            lo, hi = (100 * float(ci.loc[(model, topic, split), c]) for c in ("ci_low", "ci_high"))
            if np.isfinite(lo) and np.isfinite(hi) and hi > lo:
                seg = ([lo, hi], [y, y]) if horizontal else ([x, x], [lo, hi])
                ax.plot(*seg, color=colour, lw=0.6, alpha=0.6, zorder=2)


def _model_bars(ax, piv: pd.DataFrame, cats: dict[str, str]) -> None:
    """Grouped bars of a (group x model) table, each model in its shared style; NaN cells as not-run stubs."""
    models, styles = _styles_for(piv.columns, cats)
    width = 0.84 / max(len(models), 1)
    x = np.arange(len(piv.index))
    for j, model in enumerate(models):
        vals = piv[model].to_numpy(dtype=float)
        xs = x - 0.42 + (j + 0.5) * width
        have = np.isfinite(vals)
        ax.bar(xs[have], vals[have], width, label=model, zorder=2, **styles[model].bar())
        ax.plot(xs[have], vals[have], ls="", ms=3, zorder=3, **styles[model].point())
        not_run_bars(ax, xs[~have], width, height=0.0)
    ax.set_xticks(x, [str(i) for i in piv.index])


def disagreement_bars(dis: pd.DataFrame, title: str = "Official vs strict matcher: decisions that differ") -> plt.Figure:
    """Per topic and model, the share of items the official and strict matchers decide differently."""
    rows = dis[dis["topic"] != "all"]
    piv = rows.pivot_table(index="topic", columns="model", values="differ", aggfunc="mean", sort=False) * 100
    fig, ax = plt.subplots(figsize=fig_size(max(7.0, 0.09 * piv.size + 2), 3.8), layout="constrained")
    _model_bars(ax, piv, _category_map(rows))
    ax.set_ylabel("% of items decided differently")
    ax.tick_params(axis="x", rotation=30)
    for lab in ax.get_xticklabels():
        lab.set_ha("right")
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(title)
    return fig


def position_bias_plot(bias: pd.DataFrame, title: str = "Which letter is chosen (1 = as often as chance)") -> plt.Figure:
    """Choice share over chance per answer letter and model, for the most common single-choice option count
    (multiple-choice rows when there is no single-choice item)."""
    if "kind" in bias.columns and (bias["kind"] == "single").any():
        bias = bias[bias["kind"] == "single"]
    k = int(bias.groupby("n_options")["n_items"].sum().idxmax()) if len(bias) else 2
    sub = bias[bias["n_options"] == k]
    piv = sub.pivot_table(index="letter", columns="model", values="normalised")
    fig, ax = plt.subplots(figsize=(6.2, 3.4), layout="constrained")
    _model_bars(ax, piv, _category_map(sub))
    gold = sub.groupby("letter")["gold_normalised"].mean().reindex(piv.index)
    ax.plot(range(len(gold)), gold.to_numpy(), "k_", markersize=18, label="gold answers")
    ax.axhline(1.0, color="grey", lw=0.8, ls="--", label="chance (1)")
    ax.set_xlabel(f"answer letter (items with {k} options, all rotations)")
    ax.set_ylabel("choice share / chance share")
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(title)
    return fig
