"""One plotting function per figure (``viz/<area>.py``), shared by notebooks and the paper.

The style (palette, model styles, size caps) is ``viz.style``; this module holds the figure writer: PNG (for notebooks/HTML) and PDF (for print),
written atomically with fixed metadata so a re-run produces identical bytes.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..io import atomic_path  # noqa: E402
from .style import STYLE, apply, place_note, text_overlaps  # noqa: E402

apply()
__all__ = ["STYLE", "finish_grid", "publish", "save_figure"]


def save_figure(fig: plt.Figure, path_stem: str | Path, note: str | None = None) -> tuple[Path, Path]:
    """Write ``<stem>.png`` and ``<stem>.pdf``; ``note`` (e.g. the phantom-data label) is stamped in the corner."""
    stem = Path(path_stem)
    if note:  # below everything drawn, so it never overlaps a tick label
        place_note(fig, note, fontsize=7, color="#b03030", style="italic")
    clashes = text_overlaps(fig)
    if clashes:  # the tests hold every figure function to none; a real run's data may still find one
        warnings.warn(f"{stem.name}: {len(clashes)} overlapping text pair(s), e.g. {clashes[:3]}", stacklevel=2)
    out = []
    for ext, meta in ((".png", {"Software": None}), (".pdf", {"CreationDate": None, "Producer": None, "Creator": None})):
        path = stem.with_suffix(ext)
        with atomic_path(path, suffix=ext) as tmp:
            fig.savefig(tmp, bbox_inches="tight", metadata=meta)
        out.append(path)
    plt.close(fig)
    return out[0], out[1]


def publish(fig: plt.Figure, path_stem: str | Path, note: str | None = None) -> tuple[Path, Path]:
    """Save (PNG + PDF) and, inside a notebook, display the saved PNG so the reader sees the published file."""
    png, pdf = save_figure(fig, path_stem, note)
    try:
        from IPython import get_ipython
        from IPython.display import Image, display

        if get_ipython() is not None:
            display(Image(filename=str(png)))
    except ImportError:
        pass
    return png, pdf


def finish_grid(fig: plt.Figure, axes, used: int, title: str = "", tight: bool = True) -> plt.Figure:
    """Blank the unused panels of a subplot grid, add the title, lay out (the tail every grid figure shares)."""
    for ax in list(axes.flat)[used:]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    if tight:
        fig.tight_layout()
    return fig
