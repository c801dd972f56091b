"""Acquisition sites: the part of the phantom that varies between datasets but carries no label.

Why sites exist: real benchmarks mix scanners, and a model can learn "which hospital" instead of "which
finding". Each phantom dataset draws its images from a fixed list of sites (datasets.yaml ``sites``), so
site effects are confounded with datasets exactly as in the real benchmark, while external sets (sites 4-7)
use acquisition settings never seen in training, which makes the external split a real domain shift.

A site changes only the display chain, never the anatomy: field of view (pixel spacing), detector blur,
noise, the grey-level curve and the background level. The same rendered attenuation map therefore looks
different at two sites but keeps every label-bearing structure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter


@dataclass(frozen=True)
class Site:
    index: int
    fov_mm: float  # field of view across the square image; sets pixel spacing
    blur: float  # detector/processing blur, in pixels at 256 px (scaled with image size); halved in phantom v2,
    # since v1's blur flattened the anatomy's power spectrum far below what real detectors do
    noise: float  # standard deviation of additive noise on the [0, 1] display scale
    quantum: float  # signal-dependent (Poisson-like) noise factor
    curve: str  # "gamma" or "sigmoid" grey-level curve
    gamma: float
    gain: float
    background: float  # grey level of air outside the breast (film base vs digital black)

    @property
    def name(self) -> str:
        return f"site{self.index}"

    def pixel_spacing_mm(self, size: int) -> float:
        return round(self.fov_mm / size, 4)


SITES: dict[int, Site] = {
    0: Site(0, 240.0, 0.3, 0.010, 0.010, "gamma", 1.00, 1.00, 0.00),
    1: Site(1, 230.0, 0.5, 0.018, 0.015, "gamma", 0.80, 0.95, 0.02),
    2: Site(2, 250.0, 0.45, 0.014, 0.010, "gamma", 1.25, 1.05, 0.08),  # film-like: grey background
    3: Site(3, 245.0, 0.2, 0.008, 0.012, "sigmoid", 1.00, 1.00, 0.00),
    4: Site(4, 220.0, 0.65, 0.024, 0.020, "gamma", 1.10, 0.90, 0.03),  # external (DBT-like synthetic 2D)
    5: Site(5, 260.0, 0.25, 0.010, 0.008, "gamma", 0.70, 1.00, 0.00),
    6: Site(6, 235.0, 0.75, 0.030, 0.020, "gamma", 1.40, 1.10, 0.10),  # external (photographed film)
    7: Site(7, 240.0, 0.35, 0.016, 0.014, "sigmoid", 1.20, 0.95, 0.01),
}


def get_site(index: int) -> Site:
    if index not in SITES:
        raise KeyError(f"unknown phantom site {index!r} (known: {sorted(SITES)})")
    return SITES[index]


def apply_site(image: np.ndarray, site: Site, rng: np.random.Generator) -> np.ndarray:
    """Turn a [0, 1] attenuation map into the 8-bit image this site would store.

    Blur precedes noise (the detector blurs the signal, electronics add noise after), so a site's noise
    grain stays sharp even when its anatomy is soft, as in real images.
    """
    size = image.shape[0]
    img = gaussian_filter(image, sigma=site.blur * size / 256.0, mode="nearest") if site.blur > 0 else image
    img = img * site.gain
    if site.curve == "sigmoid":
        k = 6.0 * site.gamma
        lo, hi = 1 / (1 + np.exp(k * 0.5)), 1 / (1 + np.exp(-k * 0.5))
        img = (1.0 / (1.0 + np.exp(-k * (img - 0.5))) - lo) / (hi - lo)
    else:
        img = np.clip(img, 0.0, 1.0) ** site.gamma
    img = site.background + (1.0 - site.background) * img
    noise = rng.standard_normal(img.shape, dtype=np.float32)
    img = img + noise * (site.noise + site.quantum * np.sqrt(np.clip(img, 0.0, 1.0)))
    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
