"""Figures of the dataset-statistics stage (paper Fig. 1a and 1e, and the phantom gallery)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch
from PIL import Image

from ..paths import resolve
from ..qa.items import QAItem
from . import finish_grid
from .style import MAX_INCHES, SERIES_COLOURS, fig_size, series_style

SPLIT_COLOURS = dict(zip(("train", "val", "test", "external"), SERIES_COLOURS))


def plot_composition(comp: pd.DataFrame) -> plt.Figure:
    """Stacked horizontal bars: QA pairs per sub-dataset, coloured by topic (Fig. 1a)."""
    topic_cols = [c for c in comp.columns if c not in ("role", "dataset", "records", "patients", "qa_pairs")]
    labels = [f"{d} ({'ext' if r == 'external' else 'int'})" for r, d in zip(comp["role"], comp["dataset"])]
    fig, ax = plt.subplots(figsize=fig_size(8, 0.35 * len(comp) + 1.4))
    left = np.zeros(len(comp))
    for i, col in enumerate(topic_cols):  # palette colours, then the same colours hatched: 16 distinct topics
        vals = comp[col].to_numpy(dtype=float)
        ax.barh(labels, vals, left=left, label=col, **{**series_style(i), "edgecolor": "white"})
        left += vals
    ax.invert_yaxis()
    ax.set_xlabel("QA pairs")
    ax.legend(fontsize=7, ncol=2, loc="lower right", frameon=False)
    ax.set_title("Benchmark composition by sub-dataset and topic")
    return fig


def plot_label_distribution(dist: pd.DataFrame, max_topics: int = 12) -> plt.Figure:
    """Per topic, the share of each gold answer in train / val / test / external (imbalance at a glance)."""
    topics = sorted(dist["topic"].unique())[:max_topics]
    ncol = 3
    nrow = int(np.ceil(len(topics) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=fig_size(11, 2.3 * nrow + 0.6), squeeze=False, layout="constrained")
    for ax, topic in zip(axes.flat, topics):
        sub = dist[dist["topic"] == topic]
        table = sub.pivot_table(index="answer", columns="split", values="share", fill_value=0.0)
        table = table[[s for s in ("train", "val", "test", "external") if s in table.columns]]
        if len(table) > 8:  # Abnormality answer sets: keep the most frequent
            table = table.loc[table.sum(axis=1).sort_values(ascending=False).index[:8]]
        table.plot.barh(ax=ax, width=0.8, legend=False, color=[SPLIT_COLOURS.get(c, "#8c8c8c") for c in table.columns])
        ax.set_title(topic, fontsize=9)
        ax.set_ylabel("")
        ax.tick_params(labelsize=6)
        ax.set_xlim(0, 1)
    for ax in list(axes.flat)[len(topics):]:
        ax.axis("off")
    splits = [sp for sp in SPLIT_COLOURS if sp in set(dist["split"])]  # every split, not the first panel's
    handles = [Patch(color=SPLIT_COLOURS[sp], label=sp) for sp in splits]
    fig.suptitle("Gold-answer distribution per topic and split")
    fig.legend(handles=handles, loc="outside lower center", fontsize=7, ncol=len(handles) or 1)
    return fig


def _thumb(path: str, size: int = 160) -> np.ndarray:
    with Image.open(resolve(path)) as im:
        im = im.convert("L")
        im.thumbnail((size, size))
        return np.asarray(im)


def plot_qa_gallery(items: Sequence[QAItem], ncol: int = 4) -> plt.Figure:
    """One QA pair per topic: the image(s), the question, the lettered options and the gold answer (Fig. 1e)."""
    rows_fit = max(1, int(MAX_INCHES // 4.4))  # rows of 4.4 in that fit the size cap: widen instead of growing
    ncol = max(ncol, int(np.ceil(len(items) / rows_fit)))
    nrow = int(np.ceil(len(items) / ncol))
    # constrained layout reserves room for the multi-line titles (tight_layout lets them overrun the row above)
    fig, axes = plt.subplots(nrow, ncol, figsize=fig_size(3.3 * ncol, 4.4 * nrow), squeeze=False,
                             layout="constrained")
    for ax, it in zip(axes.flat, items):
        thumbs = [_thumb(p, 140) for p in it.images[:4]]
        h = max(t.shape[0] for t in thumbs)
        row = np.concatenate([np.pad(t, ((0, h - t.shape[0]), (0, 4))) for t in thumbs], axis=1)
        ax.imshow(row, cmap="gray", vmin=0, vmax=255)
        ax.set_xticks([])
        ax.set_yticks([])
        opts = ", ".join(f"{chr(65 + i)}: {o}" for i, o in enumerate(it.options))
        text = f"{it.topic_label} [{it.dataset}]\nQ: {it.question}\n{opts}\nAnswer: {', '.join(it.answer)}"
        ax.set_title("\n".join(textwrap.fill(line, 44) for line in text.split("\n")), fontsize=6, loc="left")
    return finish_grid(fig, axes, len(items), tight=False)  # constrained layout already set


def plot_image_grid(paths: Sequence[str], captions: Sequence[str], ncol: int = 6, title: str = "") -> plt.Figure:
    """A labelled grid of images: lets a reader check that what is labelled is what is visible."""
    nrow = int(np.ceil(len(paths) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=fig_size(1.9 * ncol, 2.2 * nrow), squeeze=False)
    for ax, path, cap in zip(axes.flat, paths, captions):
        ax.imshow(_thumb(path, 200), cmap="gray", vmin=0, vmax=255)
        ax.set_title(cap, fontsize=6)
        ax.set_xticks([])
        ax.set_yticks([])
    return finish_grid(fig, axes, len(paths), title)
