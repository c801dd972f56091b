"""Breast anatomy of the phantom: outline, compression thickness, fibroglandular tissue and pectoral muscle.

Everything is drawn in a *canonical frame* with the chest wall on the left image edge (x = 0), which is how
a right breast is shown in this phantom; ``generate`` mirrors the finished image for a left breast. Keeping
one frame means the lesion and crop geometry is written once.

Causal links drawn here (label -> pixel property):

* View: an MLO image has a bright pectoral-muscle triangle in the chest-wall top corner and a taller breast
  reaching the top edge (axilla); a CC image has neither, so that corner is air (dark).
* Density (ACR A-D) -> the fibroglandular fraction ``fg`` of breast pixels that are bright glandular tissue,
  and the contrast of the fine texture inside it, both increasing with density. The fraction is exact by
  construction: the glandular mask thresholds a smooth random field at its own (1 - fg) quantile.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

FAT = 0.30  # attenuation of fatty tissue (display scale before the site curve)
GLAND = 0.66  # attenuation of fibroglandular tissue
PECTORAL = 0.90  # attenuation of the pectoral muscle (brightest anatomy)


@dataclass(frozen=True)
class Geometry:
    """Outline of one breast image in the canonical frame (chest wall at x = 0), in pixels."""

    size: int
    view: str  # "CC" or "MLO"
    a: float  # depth of the breast from the chest wall (ellipse semi-axis along x)
    b: float  # half-height of the breast at the chest wall (ellipse semi-axis along y)
    cy: float  # vertical centre of the breast at the chest wall
    pec_w: float = 0.0  # pectoral triangle width along the top edge (MLO only)
    pec_h: float = 0.0  # pectoral triangle height along the chest wall (MLO only)

    def point(self, u: float, phi: float) -> tuple[float, float]:
        """Pixel position of normalised breast coordinates: ``u`` fraction of the radius, ``phi`` angle.

        Lesions are stored in these coordinates at patient level so that CC and MLO of one breast show the
        same lesion at anatomically corresponding places.
        """
        return u * self.a * float(np.cos(phi)), self.cy + u * self.b * float(np.sin(phi))

    def pectoral_edge_x(self, y: float) -> float:
        """x of the pectoral boundary at row ``y`` (0 where there is no muscle)."""
        if self.view != "MLO" or y >= self.pec_h:
            return 0.0
        return self.pec_w * (1.0 - y / self.pec_h)


def sample_geometry(size: int, view: str, rng: np.random.Generator) -> Geometry:
    s = float(size)
    if view == "CC":
        cy = s * (0.5 + float(np.clip(rng.normal(0.0, 0.02), -0.04, 0.04)))
        b = min(s * rng.uniform(0.36, 0.45), cy - 0.06 * s, s - cy - 0.06 * s)  # never touches top or bottom
        return Geometry(size, view, a=s * rng.uniform(0.58, 0.80), b=b, cy=cy)
    if view != "MLO":
        raise ValueError(f"unknown view {view!r} (CC, MLO)")
    return Geometry(size, view, a=s * rng.uniform(0.56, 0.76), b=s * rng.uniform(0.46, 0.52),
                    cy=s * rng.uniform(0.52, 0.58), pec_w=s * rng.uniform(0.24, 0.36),
                    pec_h=s * rng.uniform(0.50, 0.68))


@lru_cache(maxsize=32)
def _interp_weights(size: int, grid: int) -> tuple[np.ndarray, np.ndarray]:
    """Left grid index and right weight of each pixel for linear interpolation from a coarse grid."""
    pos = (np.arange(size) + 0.5) / size * grid
    lo = np.minimum(np.floor(pos).astype(np.intp), grid - 1)
    return lo, (pos - lo).astype(np.float32)


def smooth_field(size: int, grid: int, rng: np.random.Generator) -> np.ndarray:
    """Zero-mean, unit-variance random field with features about ``size / grid`` pixels wide.

    Separable bilinear upsampling of a coarse grid is far cheaper than filtering full-resolution noise, and,
    since the grid is fixed, the anatomy looks the same at every image size. (Plain indexing, not a matrix
    product: BLAS threads stall badly on a busy machine.)
    """
    coarse = rng.standard_normal((grid + 1, grid + 1)).astype(np.float32)
    coarse = (coarse - coarse.mean()) / (coarse.std() + 1e-6)
    lo, fr = _interp_weights(size, grid)
    rows = coarse[lo] * (1.0 - fr)[:, None] + coarse[lo + 1] * fr[:, None]
    return rows[:, lo] * (1.0 - fr)[None, :] + rows[:, lo + 1] * fr[None, :]


@dataclass
class Anatomy:
    attenuation: np.ndarray  # float32 [0, 1], canonical frame
    breast: np.ndarray  # bool: breast tissue including the pectoral muscle
    pectoral: np.ndarray  # bool
    thickness: np.ndarray  # float32 [0, 1]: 1 under full compression, falling to 0 at the skin line


def _masks(g: Geometry) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:g.size, 0:g.size].astype(np.float32)
    r = np.sqrt((xx / g.a) ** 2 + ((yy - g.cy) / g.b) ** 2)
    thickness = np.clip((1.0 - r) / 0.22, 0.0, 1.0) ** 0.6
    breast = r < 1.0
    if g.view == "MLO":
        pectoral = xx / g.pec_w + yy / g.pec_h <= 1.0
        axilla = xx / (g.pec_w * 1.35) + yy / (g.pec_h * 1.15) <= 1.0  # tissue above the ellipse, in the axilla
        thickness = np.where(axilla, np.maximum(thickness, np.clip((1 - xx / (g.pec_w * 1.35) - yy / (g.pec_h * 1.15))
                                                                   / 0.15, 0.0, 1.0) ** 0.6), thickness)
        breast = breast | axilla
    else:
        pectoral = np.zeros((g.size, g.size), dtype=bool)
    return xx, yy, breast, pectoral, thickness.astype(np.float32)


def render_anatomy(g: Geometry, fg: float, rng: np.random.Generator) -> Anatomy:
    """Attenuation map of a lesion-free breast with fibroglandular fraction ``fg`` (0..1)."""
    xx, yy, breast, pectoral, thickness = _masks(g)
    s = g.size
    # glandular tissue clusters behind the nipple, away from skin and chest wall
    prior = np.exp(-(((xx - 0.35 * g.a) / (0.55 * g.a)) ** 2 + ((yy - g.cy) / (0.75 * g.b)) ** 2))
    field = 0.55 * smooth_field(s, 10, rng) + 0.35 * smooth_field(s, 28, rng) + 1.2 * prior
    tissue = breast & ~pectoral & (thickness > 0.05)
    if tissue.any() and fg > 0:
        thr = float(np.quantile(field[tissue], 1.0 - fg))
        gland = 1.0 / (1.0 + np.exp(-(field - thr) / 0.15))
    else:
        gland = np.zeros_like(field)
    fine = smooth_field(s, 64, rng)
    texture = (0.012 + 0.035 * fg) * fine * gland + 0.010 * fine * (1.0 - gland)  # Cooper's ligaments in fat
    att = (FAT + (GLAND - FAT) * gland + texture) * thickness
    if g.view == "MLO":
        muscle = (PECTORAL + 0.03 * smooth_field(s, 16, rng)) * thickness
        att = np.where(pectoral, muscle, att)
    att = np.where(breast, att, 0.0).astype(np.float32)
    return Anatomy(att, breast, pectoral, thickness)
