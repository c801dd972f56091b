"""Phantom next to real mammograms: power spectra with fitted beta, intensity histograms, same-scale patches."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FixedLocator, FormatStrFormatter, NullFormatter

from ..data.realism import FIT_BAND, Measured
from .style import SERIES_COLOURS


def plot_realism(measured: Sequence[Measured], n_patches: int = 4, hide_patches_of: Sequence[str] = ()) -> plt.Figure:
    """Three rows: spectra (log-log, fit band shaded) and histograms per source, then patches of each source.

    Every source gets one colour; thin lines are single images, the thick line is the median over images.
    ``hide_patches_of``: sources whose pixels may not be shown (datasets whose terms forbid redistribution).
    """
    sources = list(dict.fromkeys(m.source for m in measured))
    colours = {s: SERIES_COLOURS[i % len(SERIES_COLOURS)] for i, s in enumerate(sources)}
    fig = plt.figure(figsize=(9.0, 6.4), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.15, 1.0])
    ax_spec, ax_hist = top.subplots(1, 2)
    for source in sources:
        mine = [m for m in measured if m.source == source]
        betas = [m.beta for m in mine if np.isfinite(m.beta)]
        label = f"{source}: median beta {np.median(betas):.2f} (n={len(betas)})" if betas else f"{source}: no patch"
        for m in mine:
            if m.spectrum is not None:
                ax_spec.loglog(m.spectrum.freq, m.spectrum.power / m.spectrum.power[0], color=colours[source],
                               lw=0.5, alpha=0.35)
        ax_hist.plot(np.linspace(0, 1, len(mine[0].histogram)), np.median([m.histogram for m in mine], axis=0),
                     color=colours[source], lw=1.6, label=label)
    ax_spec.axvspan(*FIT_BAND, color="#dddddd", alpha=0.5, lw=0, label="fit band")
    ax_spec.set(xlabel="spatial frequency (cycles / pixel at the common size)", ylabel="power (relative)",
                title="Radially averaged power spectrum")
    ax_spec.legend(fontsize=7, loc="lower left")
    ax_spec.set_xlim(1.5e-2, 0.5)
    ax_spec.xaxis.set_major_locator(FixedLocator([0.02, 0.05, 0.1, 0.2, 0.5]))
    ax_spec.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax_spec.xaxis.set_minor_formatter(NullFormatter())  # log-axis minor labels collide at this width
    ax_hist.set(xlabel="breast intensity (rescaled to [0, 1])", ylabel="density", title="Intensity histogram")
    ax_hist.legend(fontsize=7, loc="upper right")
    with_patch = {s: [m for m in measured if m.source == s and m.patch is not None][:n_patches]
                  for s in sources if s not in hide_patches_of}
    ncol = max(1, sum(len(v) for v in with_patch.values()))
    axes = np.atleast_1d(bottom.subplots(1, ncol))
    i = 0
    for source, ms in with_patch.items():
        for m in ms:
            p = m.patch
            axes[i].imshow(p, cmap="gray", vmin=float(np.percentile(p, 1)), vmax=float(np.percentile(p, 99)))
            axes[i].set_title(f"beta {m.beta:.2f}", fontsize=7, color=colours[source])
            axes[i].set_xticks([])
            axes[i].set_yticks([])
            for spine in axes[i].spines.values():
                spine.set_visible(True)
                spine.set_color(colours[source])
                spine.set_linewidth(2)
            i += 1
    bottom.suptitle("Breast-interior patches at the same scale (frame colour = source)", fontsize=9)
    return fig
