"""Reliability figures (paper Fig. 3c-e and a forest plot against the no-information level); one function per figure.

Each function takes the tables of ``mammovqa.stats`` (``accuracy_table``, ``label_balance``,
``test_against_random``) and returns a matplotlib Figure; ``viz.save_figure`` writes it. Nothing here
computes statistics, so a figure always shows exactly the numbers of a table that is also written out.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch, Rectangle

from ..errors import ConfigError
from ..stats.plan import AnalysisPlan, load_plan
from .intervals import CLUSTER_WORDS, TOLERANCE
from .style import (
    GREY,
    OKABE_ITO,
    fig_size,
    interval_handle,
    legend_columns,
    model_styles,
    not_run_bars,
    not_run_handle,
    place_labels,
    series_style,
)


@dataclass(frozen=True)
class VerdictKind:
    """How one kind of verdict is drawn: a colour and a marker of its own, and the legend text."""

    key: str
    label: str
    colour: str
    marker: str


#: Every kind of verdict ``stats.random_guess`` writes, in legend order; each has its own (colour, marker).
#: Arrows point the way of the difference: up/right above the reference, down/left below it.
VERDICT_KINDS: tuple[VerdictKind, ...] = (
    VerdictKind("above", "above", OKABE_ITO["bluish green"], "^"),
    VerdictKind("above_within", "above, within margin", OKABE_ITO["sky blue"], "D"),
    VerdictKind("equivalent", "equivalent (within margin)", OKABE_ITO["blue"], "o"),
    VerdictKind("below_within", "below, within margin", OKABE_ITO["reddish purple"], "s"),
    VerdictKind("below", "below", OKABE_ITO["vermillion"], "v"),
    VerdictKind("above_uncorrected", "above before correction only", OKABE_ITO["orange"], ">"),
    VerdictKind("below_uncorrected", "below before correction only", OKABE_ITO["orange"], "<"),
    VerdictKind("inconclusive", "inconclusive", GREY, "X"),
    VerdictKind("degenerate", "degenerate: one answer to nearly all items, not tested", OKABE_ITO["black"], "h"),
    VerdictKind("other", "other verdict", OKABE_ITO["black"], "d"),
)
VERDICT_STYLES = {k.key: k for k in VERDICT_KINDS}
MARGIN_COLOUR, MARGIN_EDGE = "#dde6f3", "#9db4d6"
DESCRIPTIVE_LABEL = "hollow: descriptive row (baseline, untrained check; uncorrected)"


def verdict_kind(verdict: object) -> str:
    """The kind (a key of :data:`VERDICT_STYLES`) of a verdict string of ``stats.random_guess``.

    Why parse words, not match whole strings: the verdict carries suffixes (", within margin", " before
    correction only", " (descriptive, uncorrected)", "(one answer to 97% of items)") and older tables said
    "random" where newer ones say "no-information"; an exact lookup drew most rows as anonymous black dots.
    """
    v = str(verdict).strip().lower()
    if v.startswith("degenerate"):
        return "degenerate"
    uncorrected, within = "before correction only" in v, "within margin" in v
    for side in ("above", "below"):
        if v.startswith(side):
            return f"{side}_uncorrected" if uncorrected else f"{side}_within" if within else side
    if v.startswith("equivalent"):
        return "equivalent"
    if v.startswith("inconclusive"):
        return "inconclusive"
    return "other"


def _is_descriptive(r) -> bool:
    """A descriptive row (baselines, the untrained check): its family, or the verdict's own suffix."""
    family = getattr(r, "family", None)
    if isinstance(family, str) and family:
        return family == "descriptive"
    return "(descriptive" in str(r.verdict)


def _categories(df: pd.DataFrame) -> dict[str, str] | None:
    return dict(zip(df["model"].astype(str), df["category"].astype(str))) if "category" in df.columns else None


def absolute_vs_weighted(acc: pd.DataFrame, title: str = "Absolute vs weighted accuracy",
                         intervals: pd.DataFrame | None = None, interval_label: str | None = None) -> plt.Figure:
    """Fig. 3c: one point per model and topic; points below the identity line gain accuracy from the
    majority class (imbalanced topics), which the weighted metric removes.

    Vertical bars are the 95% clustered CIs of the weighted accuracy, taken from ``ci_low``/``ci_high`` columns
    of ``acc`` or, failing those, from ``intervals`` (the statistics stage's ``test_against_random`` table,
    matched on model and topic). A bar is drawn only where the interval provably belongs to the point (same
    ``estimate`` and ``n`` where the table has them); without any the legend says the points carry none, so an
    absent bar is never read as a zero-width interval.
    """
    ci = _weighted_intervals(acc, intervals)
    fig, ax = plt.subplots(figsize=(6.4, 4.4), layout="constrained")
    models = list(dict.fromkeys(acc["model"]))
    styles = model_styles(models, _categories(acc))
    handles = []
    for model in models:
        sel = (acc["model"] == model).to_numpy()
        x, y = 100 * acc.loc[sel, "accuracy"].to_numpy(float), 100 * acc.loc[sel, "weighted_accuracy"].to_numpy(float)
        handles += ax.plot(x, y, ls="", ms=4.5, label=model, alpha=0.9, zorder=3, **styles[model].point())
        lo, hi = 100 * ci["ci_low"].to_numpy(float)[sel], 100 * ci["ci_high"].to_numpy(float)[sel]
        ok = np.isfinite(lo) & np.isfinite(hi) & np.isfinite(y)
        if ok.any():
            ax.errorbar(x[ok], y[ok], yerr=np.clip([y[ok] - lo[ok], hi[ok] - y[ok]], 0, None), fmt="none",
                        ecolor=styles[model].colour, elinewidth=0.7, capsize=1.5, alpha=0.8, zorder=2)
    ax.plot([0, 100], [0, 100], color="#444", lw=0.8, ls="--", zorder=0)
    ax.set(xlim=(0, 100), ylim=(0, 100), xlabel="Absolute accuracy (%)", ylabel="Weighted accuracy (%)", title=title)
    ax.set_aspect("equal")
    handles.append(_interval_legend(ci, interval_label))
    ax.legend(handles=handles, fontsize=6, loc="upper left", bbox_to_anchor=(1.02, 1.0),
              ncol=1 if len(models) <= 16 else 2)
    return fig


def _weighted_intervals(acc: pd.DataFrame, intervals: pd.DataFrame | None) -> pd.DataFrame:
    """``ci_low``/``ci_high`` (NaN where none) aligned with the rows of ``acc``, plus ``cluster_key``.

    An interval whose table row gives another estimate or item count than the point (another level, split or
    run) is dropped: a bar must describe the point it is drawn on.
    """
    cols = ["ci_low", "ci_high", "estimate", "n", "cluster_key"]
    if {"ci_low", "ci_high"} <= set(acc.columns):
        src = acc.reset_index(drop=True)
        theirs = src.reindex(columns=cols)
    elif intervals is not None and {"model", "topic", "ci_low", "ci_high"} <= set(intervals.columns):
        table = intervals.reindex(columns=["model", "topic", *cols]).drop_duplicates(["model", "topic"])
        src = acc.reset_index(drop=True)
        theirs = src[["model", "topic"]].merge(table, on=["model", "topic"], how="left")[cols]
    else:
        return pd.DataFrame({"ci_low": np.full(len(acc), np.nan), "ci_high": np.nan, "cluster_key": None})
    out = theirs[["ci_low", "ci_high", "cluster_key"]].astype({"ci_low": float, "ci_high": float})
    est, n = pd.to_numeric(theirs["estimate"], errors="coerce"), pd.to_numeric(theirs["n"], errors="coerce")
    wrong = (est.notna() & ((est - src["weighted_accuracy"].astype(float)).abs() >= TOLERANCE))
    if "n" in src.columns:
        wrong |= n.notna() & (n != pd.to_numeric(src["n"], errors="coerce"))
    out.loc[wrong.to_numpy(), ["ci_low", "ci_high"]] = np.nan
    return out


def _interval_legend(ci: pd.DataFrame, label: str | None) -> plt.Line2D:
    """Legend entry for the bars, or a text-only entry saying that the points carry no interval."""
    have = ci["ci_low"].notna() & ci["ci_high"].notna()
    if not have.any():
        return plt.Line2D([], [], ls="", marker="", label="no intervals given: no error bars")
    if label is None:
        keys = set(ci.loc[have, "cluster_key"].dropna().astype(str))
        unit = CLUSTER_WORDS.get(next(iter(keys)), next(iter(keys))) if len(keys) == 1 else "cluster"
        label = f"bars: 95% CI, clustered by {unit}"
    missing = int((~have).sum())
    if missing:
        label += f" ({missing} of {len(ci)} points have none)"
    return interval_handle(label)


def balance_vs_gap(balance: pd.DataFrame, acc: pd.DataFrame, balance_col: str = "normalised_entropy",
                   title: str = "Training-label balance vs accuracy gap") -> plt.Figure:
    """Fig. 3d: per topic, the balance of the training labels against absolute minus weighted accuracy
    (mean over models, with the range across models as a bar); topic labels placed so none overlap."""
    acc = acc.assign(gap=100 * (acc["accuracy"] - acc["weighted_accuracy"]))
    per_topic = acc.groupby("topic")["gap"].agg(["mean", "min", "max"]).reset_index()
    d = per_topic.merge(balance[["topic", balance_col]], on="topic", how="inner")
    fig, ax = plt.subplots(figsize=(6.0, 4.4))
    ax.errorbar(d[balance_col], d["mean"], yerr=[d["mean"] - d["min"], d["max"] - d["mean"]], fmt="o", ms=4,
                color="#0072B2", ecolor="#56B4E9", capsize=2,
                label="mean over models; bar: range across models (not a CI)")
    ax.legend(fontsize=6.5, loc="best")
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
        if ci is not None:  # say what the bars are, so they are not read as ranges or standard errors
            handles.append(plt.Line2D([], [], color="#111111", lw=0.7, marker="_", ms=6,
                                      label="95% CI, clustered (statistics stage)"))
        ax.legend(handles=[*handles, not_run_handle()], fontsize=7, loc="upper right")
    fig.suptitle(title)
    return fig


def forest_vs_random(tests: pd.DataFrame, title: str | None = None, ncol: int = 4,
                     reference_label: str = "no-information level", plan: AnalysisPlan | None = None,
                     reference: str | None = None) -> plt.Figure:
    """Forest plot, one panel per topic: weighted accuracy minus the reference with its CI per model, coloured
    and shaped by the kind of verdict (hollow for descriptive rows); the light band on each row is that row's
    own equivalence margin (margins scale with each topic's no-information level, so one band would be wrong).

    ``reference``: the column subtracted; default ``no_information`` (what the verdicts and margins are
    relative to), else ``random_guess`` for tables without it. ``plan``: the analysis plan the table was made
    with; the legend states its margin rule and every row's margin is checked against it. Without a plan the
    default plan is used when it reproduces every margin, else the legend gives the range of margins.

    Readable at every profile: rows that were not testable are not drawn (a footnote counts them and gives
    the reasons), topics with no testable row get no panel, and the grid of panels keeps the figure inside
    the size cap however many models and topics there are.
    """
    d = tests.reset_index(drop=True)
    ref_col = reference or ("no_information" if "no_information" in d.columns else "random_guess")
    d = d.assign(plot_ref=pd.to_numeric(d[ref_col], errors="coerce"),
                 plot_kind=[verdict_kind(v) for v in d["verdict"]])
    ok = d["verdict"].notna() & ~d["verdict"].astype(str).str.startswith("not testable") & np.isfinite(
        d["estimate"].astype(float)) & np.isfinite(d["plot_ref"])
    drawn, skipped = d[ok], d[~ok]
    rule = _margin_rule(drawn, plan, reference_label)
    level = f"{100 * plan.level:g}%" if plan is not None else "95%"
    title = title or f"Weighted accuracy minus the {reference_label} ({level} CI)"
    topics = list(dict.fromkeys(drawn["topic"]))
    models = sorted(set(drawn["model"]))
    ncol = max(1, min(ncol, len(topics)))
    nrow = max(1, int(np.ceil(len(topics) / ncol)))
    panel_h = max(1.6, 0.5 + 0.17 * len(models))
    fig, axes = plt.subplots(nrow, ncol, figsize=fig_size(1.6 + 2.6 * ncol, 1.0 + panel_h * nrow), squeeze=False,
                             sharey=True, layout="constrained")
    y_of = {m: i for i, m in enumerate(models[::-1])}
    for ax, topic in zip(axes.flat, topics):
        _forest_panel(ax, drawn[drawn["topic"] == topic], y_of)
        ax.set_title(topic, fontsize=8)
    for ax in list(axes.flat)[len(topics):]:
        ax.axis("off")
    if topics:
        for ax in axes[:, 0]:
            ax.set_yticks(range(len(models)), models[::-1], fontsize=7)
        for ax in _bottom_row(axes, len(topics)):
            ax.set_xlabel(f"minus {reference_label} (points)", fontsize=7)
        handles = _forest_handles(drawn, rule)
        fig.legend(handles=handles, fontsize=7, loc="outside lower center",
                   ncol=legend_columns([h.get_label() for h in handles], fig.get_figwidth(), fontsize=7),
                   title=f"verdict against the {reference_label}; band: equivalence margin", title_fontsize=7)
    else:
        axes.flat[0].axis("off")
        axes.flat[0].text(0.5, 0.5, "nothing to draw: no model x topic has enough items\nfor a test at this profile "
                          "(see the significance table)", ha="center", va="center", fontsize=9,
                          transform=axes.flat[0].transAxes)
    fig.suptitle(f"{title}\n{_skipped_note(skipped, len(d))}", fontsize=9)
    return fig


def _margins_drawn(rows: pd.DataFrame) -> pd.Series:
    """Rows whose margin band is drawn: tested rows with a margin (a degenerate row was never tested)."""
    if "margin" not in rows.columns:
        return pd.Series(False, index=rows.index)
    return pd.to_numeric(rows["margin"], errors="coerce").notna() & (rows["plot_kind"] != "degenerate")


def _margin_rule(rows: pd.DataFrame, plan: AnalysisPlan | None, reference_label: str) -> str | None:
    """Legend text of the per-row margins: the plan's rule (checked against every row), else their range.

    Why check: the figure says which rule made the bands; a table made under another plan (an override run)
    must not be labelled with this one's rule.
    """
    m = rows.loc[_margins_drawn(rows)]
    if m.empty:
        return None
    margin, ref = m["margin"].astype(float).to_numpy(), m["plot_ref"].astype(float).to_numpy()
    explicit = plan is not None
    if plan is None:
        try:
            plan = load_plan()
        except ConfigError:
            plan = None
    fits = plan is not None and all(abs(plan.margin_for(r) - x) < 1e-4 for r, x in zip(ref, margin))
    if explicit and not fits:
        bad = m.iloc[int(np.argmax([abs(plan.margin_for(r) - x) for r, x in zip(ref, margin)]))]
        raise ValueError(f"margin {bad['margin']:.4f} of {bad['model']} / {bad['topic']} is not the plan's "
                         f"({plan.margin_for(bad['plot_ref']):.4f} for a {reference_label} of {bad['plot_ref']:.4f}); "
                         "pass the plan the table was made with")
    if fits and plan.margin_absolute is None:
        least = 100 * plan.margin_minimum
        return (f"margin of each row: +/- {100 * plan.margin_relative:g}% of its {reference_label}, "
                f">= {least:g} point{'' if least == 1 else 's'} (plan)")
    lo, hi = 100 * margin.min(), 100 * margin.max()
    span = f"+/- {lo:.3g} points" if np.isclose(lo, hi) else f"+/- {lo:.3g} to {hi:.3g} points"
    return f"margin of each row: {span} (as tested)"


def _forest_handles(drawn: pd.DataFrame, rule: str | None) -> list:
    """A legend entry per verdict kind present, the hollow-marker key if a descriptive row is drawn, the margin."""
    kinds = set(drawn["plot_kind"])
    handles: list = [plt.Line2D([], [], marker=k.marker, ls="", color=k.colour, label=k.label)
                     for k in VERDICT_KINDS if k.key in kinds]
    if any(_is_descriptive(r) for r in drawn.itertuples()):
        handles.append(plt.Line2D([], [], marker="o", ls="", color="#444444", markerfacecolor="white",
                                  label=DESCRIPTIVE_LABEL))
    if rule:
        handles.append(Patch(facecolor=MARGIN_COLOUR, edgecolor=MARGIN_EDGE, lw=0.5, label=rule))
    return handles


def _bottom_row(axes: np.ndarray, used: int) -> list:
    """The lowest used panel of each column of a grid filled row by row."""
    nrow, ncol = axes.shape
    return [axes[max(r for r in range(nrow) if r * ncol + c < used), c] for c in range(min(ncol, used))]


def _forest_panel(ax, rows: pd.DataFrame, y_of: dict[str, int]) -> None:
    """One topic: per row its margin band (gid ``margin|<model>|<topic>``), then the estimate (gid
    ``point|<model>|<topic>``) and its CI; the gids let a test find each row's artists."""
    banded = _margins_drawn(rows)
    for r in rows[banded].itertuples():
        half = 100 * float(r.margin)
        ax.add_patch(Rectangle((-half, y_of[r.model] - 0.32), 2 * half, 0.64, facecolor=MARGIN_COLOUR,
                               edgecolor=MARGIN_EDGE, lw=0.5, zorder=0, gid=f"margin|{r.model}|{r.topic}"))
    ax.axvline(0, color="#444", lw=0.8, zorder=1)
    for r in rows.itertuples():
        kind = VERDICT_STYLES[r.plot_kind]
        est = 100 * (r.estimate - r.plot_ref)
        lo, hi = float(r.ci_low), float(r.ci_high)
        err = np.clip([[100 * (r.estimate - lo)], [100 * (hi - r.estimate)]], 0, None) \
            if np.isfinite(lo) and np.isfinite(hi) else None
        face = "white" if _is_descriptive(r) else kind.colour
        bars = ax.errorbar(est, y_of[r.model], xerr=err, fmt=kind.marker, ms=4, color=kind.colour, mfc=face,
                           mec=kind.colour, mew=0.9, capsize=1.5, elinewidth=0.8, zorder=3)
        bars.lines[0].set_gid(f"point|{r.model}|{r.topic}")
    ax.set_ylim(-0.7, len(y_of) - 0.3)
    ax.tick_params(axis="x", labelsize=7)


def _skipped_note(skipped: pd.DataFrame, total: int) -> str:
    """One line for every row not drawn: how many, and the reasons in short."""
    if skipped.empty:
        return f"all {total} model x topic rows testable"
    reasons = skipped["verdict"].fillna("no estimate").astype(str).str.replace(r"\d+ items? \(< (\d+)\)", r"fewer than \1 items", regex=True)
    kinds = "; ".join(f"{n}: {r.removeprefix('not testable: ')}" for r, n in reasons.value_counts().items())
    return textwrap.fill(f"{len(skipped)} of {total} model x topic rows not testable, not drawn ({kinds})", 110)
