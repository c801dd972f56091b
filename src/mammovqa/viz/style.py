"""The one style every figure goes through: palette, per-model styles, placeholders, sizes, label placement.

Why one module: a reader compares bars across figures, so a model must look the same everywhere (colour from
its category, hatch and marker of its own), "not run" must never look like a score of 0, and no figure may
grow past what a page or a screen shows. The palette is Okabe & Ito's colour-blind-safe set; within a
category, models share the hue and differ by hatch and marker (hues run out long before models do).

The checks used by the tests live here too (:func:`text_overlaps`, :func:`saved_size_px`), so a figure
function and its test measure the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from ..seeding import stable_int  # noqa: E402

#: Okabe & Ito (2008), "Color Universal Design": distinguishable under the common colour-vision deficiencies.
OKABE_ITO = {"orange": "#E69F00", "sky blue": "#56B4E9", "bluish green": "#009E73", "yellow": "#F0E442",
             "blue": "#0072B2", "vermillion": "#D55E00", "reddish purple": "#CC79A7", "black": "#000000"}
GREY = "#8c8c8c"
CATEGORY_COLOURS = {"fine-tuned": OKABE_ITO["vermillion"], "closed-set": OKABE_ITO["blue"],
                    "zero-shot": OKABE_ITO["bluish green"], "architecture check": OKABE_ITO["orange"],
                    "baseline": GREY}
#: colours for things that are not models (splits, metric groups, systems): the palette in a fixed order
SERIES_COLOURS = [OKABE_ITO[k] for k in ("blue", "vermillion", "bluish green", "orange", "reddish purple",
                                         "sky blue", "yellow", "black")]
HATCHES = ["", "///", "...", "\\\\\\", "ooo", "---", "+++", "|||"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "*", "h", "p"]
NOT_RUN = {"facecolor": "#f2f2f2", "edgecolor": "#a0a0a0", "hatch": "xxxx", "linewidth": 0.5}
NOT_RUN_LABEL = "not run / no score"
RANDOM_LABEL = "random guess (per topic)"

SAVE_DPI = 150
MAX_PX = 2400  # longest side of a saved PNG
MAX_INCHES = 0.95 * MAX_PX / SAVE_DPI  # figure size cap, with room for what bbox_inches="tight" adds

STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": SAVE_DPI,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "hatch.linewidth": 0.6,
    "legend.frameon": False,
    "svg.hashsalt": "mammovqa",
}


def apply() -> None:
    """Install the shared rcParams (importing ``mammovqa.viz`` does this once)."""
    plt.rcParams.update(STYLE)


@dataclass(frozen=True)
class ModelStyle:
    """How one model is drawn everywhere: category hue, its own hatch (bars) and marker (points)."""

    colour: str
    hatch: str
    marker: str
    category: str

    def bar(self) -> dict:
        # white edges: neighbouring bars stay apart and the hatch reads on every palette colour, dark or light
        return {"color": self.colour, "hatch": self.hatch, "edgecolor": "white", "linewidth": 0.4}

    def point(self) -> dict:
        return {"color": self.colour, "marker": self.marker, "markeredgecolor": "#222222", "markeredgewidth": 0.4}


def model_styles(models: Sequence[str], categories: Mapping[str, str] | None = None) -> dict[str, ModelStyle]:
    """A distinct style per model: the category's colour, the k-th hatch of that category, a unique marker.

    Models are styled in the order given, so pass them in a stable order (the figures sort by category, then
    name). Without ``categories`` (a table that does not carry them) every model gets its own palette colour,
    then hatches once the colours run out. A model missing from ``categories`` is a "baseline" (grey).
    """
    out = {}
    if categories is None:
        for i, model in enumerate(models):
            n = len(SERIES_COLOURS)
            out[model] = ModelStyle(SERIES_COLOURS[i % n], HATCHES[(i // n) % len(HATCHES)],
                                    MARKERS[i % len(MARKERS)], "")
        return out
    seen: dict[str, int] = {}
    for i, model in enumerate(models):
        cat = categories.get(model) or "baseline"
        k = seen[cat] = seen.get(cat, -1) + 1
        out[model] = ModelStyle(CATEGORY_COLOURS.get(cat, GREY), HATCHES[k % len(HATCHES)], MARKERS[i % len(MARKERS)],
                                cat)
    return out


def series_style(i: int) -> dict:
    """Bar style of the i-th non-model series (colour first, hatch once the colours run out)."""
    return {"color": SERIES_COLOURS[i % len(SERIES_COLOURS)],
            "hatch": HATCHES[(i // len(SERIES_COLOURS)) % len(HATCHES)], "edgecolor": "white", "linewidth": 0.4}


def fig_size(width: float, height: float) -> tuple[float, float]:
    """(width, height) in inches, each capped so the saved PNG stays under :data:`MAX_PX` per side."""
    return min(width, MAX_INCHES), min(height, MAX_INCHES)


def legend_columns(labels: Sequence[str], width_in: float, fontsize: float = 7, most: int = 3) -> int:
    """The most legend columns (up to ``most``) whose labels fit side by side in ``width_in`` inches.

    Why an estimate before drawing: a figure-level legend wider than its figure is cut by the page or pushes
    the saved PNG past the size cap; matplotlib fills columns first, so each column is as wide as its longest
    label (about 0.55 em per character) plus the handle and the gaps (about 4 em).
    """
    em = fontsize / 72
    for ncol in range(max(1, min(most, len(labels))), 0, -1):
        rows = -(-len(labels) // ncol)
        cols = [labels[i * rows:(i + 1) * rows] for i in range(ncol)]
        width = sum(0.55 * em * max((len(x) for x in col), default=0) + 4 * em for col in cols if col)
        if width <= width_in:
            return ncol
    return 1


def not_run_bars(ax, x: Iterable[float], width: float, height: float = 6.0) -> None:
    """Hatched grey stubs where a model has no score (not run, or no item of that topic): never a 0 bar."""
    xs = list(x)
    if xs:
        ax.bar(xs, [height] * len(xs), width, **NOT_RUN, zorder=1)


def not_run_handle() -> Patch:
    return Patch(**NOT_RUN, label=NOT_RUN_LABEL)


def random_guess_lines(ax, x: Sequence[float], level: Sequence[float], half_width: float = 0.45) -> None:
    """A dashed black segment per topic group at that topic's random-guess level (levels differ by topic)."""
    for xi, r in zip(x, level):
        if np.isfinite(r):
            ax.hlines(r, xi - half_width, xi + half_width, colors="black", linestyles="--", linewidth=1.0, zorder=4)


def random_guess_handle():
    return plt.Line2D([], [], color="black", ls="--", lw=1.0, label=RANDOM_LABEL)


def interval_handle(label: str):
    return plt.Line2D([], [], color="black", marker="|", ls="-", lw=0.8, markersize=6, label=label)


def stable_seed(seed: int, *key: str) -> int:
    """A per-group seed that does not depend on group order (the package's keyed scheme, ``seeding``)."""
    return stable_int(seed, "viz", *key, bits=32)


# ------------------------------------------------------------------ text placement and checks


def _in_view(axis, loc: float) -> bool:
    lo, hi = sorted(axis.get_view_interval())
    return lo - 1e-9 <= loc <= hi + 1e-9


def _tick_texts(ax) -> list[Text]:
    """Tick labels that are drawn: axes shown, tick inside the view interval, label non-empty."""
    if not ax.axison:
        return []
    out = []
    for axis in (ax.xaxis, ax.yaxis):
        for tick in axis.get_major_ticks() + axis.get_minor_ticks():
            if _in_view(axis, tick.get_loc()):
                out += [lab for lab in (tick.label1, tick.label2) if lab.get_visible() and lab.get_text()]
    return out


def _texts(fig: plt.Figure) -> list[Text]:
    """Every drawn, non-empty text of a figure: titles, labels, tick labels, legends, annotations, notes."""
    out: list[Text] = [*fig.texts]
    legends = list(fig.legends)
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        out += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label, *ax.texts]
        out += _tick_texts(ax)
        if ax.get_legend() is not None:
            legends.append(ax.get_legend())
    for leg in legends:
        out += [leg.get_title(), *leg.get_texts()]
    for attr in ("_suptitle", "_supxlabel", "_supylabel"):
        if getattr(fig, attr, None) is not None:
            out.append(getattr(fig, attr))
    return [t for t in dict.fromkeys(out) if t.get_visible() and t.get_text().strip()]


def text_overlaps(fig: plt.Figure, tolerance_px: float = 1.0) -> list[tuple[str, str]]:
    """Pairs of texts whose rendered outlines overlap by more than ``tolerance_px``.

    The figure is drawn first, so the outlines are those of the saved figure (same dpi). A rotated text is
    its rotated rectangle, not its axis-aligned box (neighbouring tick labels at 30 degrees have overlapping
    boxes but do not touch). A test asserting this is empty is what "no text collisions" means here.
    """
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    shapes = []
    for t in _texts(fig):
        bb = t.get_window_extent(renderer)
        if bb.width > 0 and bb.height > 0:
            shapes.append((t.get_text(), _outline(bb, t.get_rotation())))
    clashes = []
    for i in range(len(shapes)):
        for j in range(i + 1, len(shapes)):
            if _polygons_overlap(shapes[i][1], shapes[j][1], tolerance_px):
                clashes.append((shapes[i][0], shapes[j][0]))
    return clashes


def _outline(bb, rotation: float) -> np.ndarray:
    """Corners (4, 2) of a text's rotated rectangle, recovered from its axis-aligned box and angle."""
    theta = np.deg2rad(rotation % 180)
    c, s = abs(np.cos(theta)), abs(np.sin(theta))
    if abs(c - s) < 0.05 or s < 1e-6 or c < 1e-6:  # axis-aligned, or 45 degrees (not invertible): use the box
        return np.array([[bb.x0, bb.y0], [bb.x1, bb.y0], [bb.x1, bb.y1], [bb.x0, bb.y1]])
    w, h = np.linalg.solve([[c, s], [s, c]], [bb.width, bb.height])
    if (rotation % 180) < 90:  # text rising to the right: bottom-left corner on the bottom edge of the box
        p = np.array([bb.x0 + h * s, bb.y0])
        u, v = np.array([c, s]), np.array([-s, c])
    else:  # falling to the right
        p = np.array([bb.x0, bb.y0 + w * s])
        u, v = np.array([c, -s]), np.array([s, c])
    return np.array([p, p + w * u, p + w * u + h * v, p + h * v])


def _polygons_overlap(a: np.ndarray, b: np.ndarray, tolerance: float) -> bool:
    """Separating-axis test for two convex quadrilaterals; touching within ``tolerance`` px is no overlap."""
    for poly in (a, b):
        for k in range(4):
            edge = poly[(k + 1) % 4] - poly[k]
            axis = np.array([-edge[1], edge[0]])
            norm = np.hypot(*axis)
            if norm == 0:
                continue
            pa, pb = a @ axis / norm, b @ axis / norm
            if min(pa.max(), pb.max()) - max(pa.min(), pb.min()) <= tolerance:
                return False
    return True


def saved_size_px(path: str | Path) -> tuple[int, int]:
    """(width, height) in pixels of a saved PNG."""
    from PIL import Image

    with Image.open(path) as im:
        return im.size


_OFFSETS = [(4, 4), (4, -4), (-4, 4), (-4, -4), (8, 12), (8, -14), (-8, 12), (-8, -14), (14, 0), (-14, 0),
            (0, 18), (0, -20), (20, 20), (20, -22), (-20, 20), (-20, -22), (0, 30), (0, -32), (30, 0), (-30, 0)]


def place_labels(ax, xs: Sequence[float], ys: Sequence[float], labels: Sequence[str], fontsize: float = 7) -> None:
    """Annotate points without two labels overlapping: greedy, trying offsets around each point in turn.

    Call after the layout is final (``tight_layout``/constrained layout changes the data-to-pixel map). A
    label that fits nowhere in the candidate ring is drawn further out with a leader line, never on top of
    another one.
    """
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    placed = [t.get_window_extent(renderer) for t in _tick_texts(ax) if t.get_text()]
    for x, y, label in sorted(zip(xs, ys, labels), key=lambda r: (-r[1], r[0])):
        for k, (dx, dy) in enumerate([*_OFFSETS, *[(40 + 10 * i, 40 + 12 * i) for i in range(12)]]):
            ann = ax.annotate(label, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=fontsize,
                              ha="left" if dx >= 0 else "right", va="bottom" if dy >= 0 else "top",
                              arrowprops={"arrowstyle": "-", "color": "#888888", "lw": 0.5}
                              if k >= len(_OFFSETS) else None)
            bb = ann.get_window_extent(renderer)
            if not any(_overlap(bb, p) for p in placed):
                placed.append(bb)
                break
            ann.remove()


def _overlap(a, b, pad: float = 1.0) -> bool:
    return min(a.x1, b.x1) - max(a.x0, b.x0) > -pad and min(a.y1, b.y1) - max(a.y0, b.y0) > -pad


def place_note(fig: plt.Figure, note: str, **kw) -> Text:
    """Stamp ``note`` bottom-right *below* everything already drawn, so it can never overlap a tick label.

    A figure legend hangs on ``fig.bbox`` by default, which a ``bbox_inches="tight"`` save replaces by the
    cropped box; a note below the figure extends that box, and an "outside lower center" legend then slid down
    onto the note in the saved file though not on the canvas. So once the layout is final it is frozen and such
    legends are pinned to the figure's own frame (the canvas, the overlap check and the file then agree).
    """
    fig.canvas.draw()
    _pin_figure_legends(fig)
    bbox = fig.get_tightbbox(fig.canvas.get_renderer())  # inches
    y = (bbox.y0 - 0.04) / fig.get_figheight()
    x = min(bbox.x1, fig.get_figwidth()) / fig.get_figwidth()
    return fig.text(x, y, note, ha="right", va="top", **kw)


def _pin_figure_legends(fig: plt.Figure) -> None:
    """Freeze the layout just drawn and anchor default-anchored figure legends to ``fig.transFigure``.

    Why freeze: the layout engines reserve room only for legends without an explicit anchor; re-running one
    after pinning would give that room back to the axes.
    """
    legends = [leg for leg in fig.legends if leg.get_bbox_to_anchor() is fig.bbox]
    if not legends:
        return
    if fig.get_layout_engine() is not None:
        fig.set_layout_engine("none")
    for leg in legends:
        leg.set_bbox_to_anchor((0, 0, 1, 1), transform=fig.transFigure)
