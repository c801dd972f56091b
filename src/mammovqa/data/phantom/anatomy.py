"""Breast anatomy of the phantom: outline, compression thickness, fibroglandular tissue and pectoral muscle.

Everything is drawn in a *canonical frame* with the chest wall on the left image edge (x = 0), which is how
a right breast is shown in this phantom; ``generate`` mirrors the finished image for a left breast. Keeping
one frame means the lesion and crop geometry is written once.

Causal links drawn here (label -> pixel property):

* View: an MLO image has a bright pectoral-muscle triangle in the chest-wall top corner and a taller breast
  reaching the top edge (axilla); a CC image has neither, so that corner is air (dark).
* Density (ACR A-D) -> the fibroglandular fraction ``fg`` of breast pixels that are bright glandular tissue,
  and the contrast of the fine texture inside it, both increasing with density. The fraction is exact by
  construction: the glandular mask thresholds a random field at its own (1 - fg) quantile.

Realism (version 2 of the phantom's pixels): the tissue fields are power-law (1/f**beta) noise, the
statistical model of mammographic anatomical noise, with ducts streaming toward the nipple, Cooper's-ligament
strands in the fat, a skin line, a nipple and a convex pectoral muscle with fibre texture. The fitted beta of
the finished images (after each site's blur) lies in the range of real CBIS-DDSM images
(``mammovqa.data.realism``; notebook 01 shows the comparison).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FAT = 0.30  # attenuation of fatty tissue (display scale before the site curve)
GLAND = 0.66  # attenuation of fibroglandular tissue
PECTORAL = 0.70  # attenuation of the pectoral muscle (brightest anatomy)
LOW_CUTOFF = 4.0  # power-law fields flatten below 4 cycles per image
PECTORAL_CURVE = 0.85  # < 1: the muscle edge bulges convexly into the breast, as on real MLO views


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
        return self.pec_w * (1.0 - y / self.pec_h) ** PECTORAL_CURVE


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


def power_law_field(size: int, beta: float, rng: np.random.Generator, stretch: float = 1.0) -> np.ndarray:
    """Zero-mean, unit-variance periodic random field whose power spectrum falls as ``1 / f**beta``.

    This is the statistical model of mammographic anatomical noise (beta about 3: Burgess et al. 2001, Heine et
    al. 2002). ``stretch`` > 1 elongates structures along x (used for ducts and muscle fibres). The field is
    periodic, so it can be sampled at any warped coordinates modulo ``size`` without seams.
    """
    white = rng.standard_normal((size, size)).astype(np.float32)
    fy = np.fft.fftfreq(size).astype(np.float32)[:, None]
    fx = np.fft.rfftfreq(size).astype(np.float32)[None, :] * np.float32(stretch)
    f = np.maximum(np.hypot(fx, fy), np.float32(LOW_CUTOFF / size))  # no image-wide gradients: the prior places tissue
    field = np.fft.irfft2(np.fft.rfft2(white) * f ** np.float32(-beta / 2.0), s=(size, size)).astype(np.float32)
    return (field - field.mean()) / (field.std() + 1e-6)


def _warp(field: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Sample a periodic field at (row ``v``, column ``u``) pixel coordinates (nearest neighbour, wrapped)."""
    n = field.shape[0]
    return field[np.mod(np.floor(v).astype(np.intp), n), np.mod(np.floor(u).astype(np.intp), n)]


@dataclass
class Anatomy:
    attenuation: np.ndarray  # float32 [0, 1], canonical frame
    breast: np.ndarray  # bool: breast tissue including the pectoral muscle
    pectoral: np.ndarray  # bool
    thickness: np.ndarray  # float32 [0, 1]: 1 under full compression, falling to 0 at the skin line


def _masks(g: Geometry) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:g.size, 0:g.size].astype(np.float32)
    r = np.sqrt((xx / g.a) ** 2 + ((yy - g.cy) / g.b) ** 2)
    # nipple: a small rounded bump on the skin where the breast axis meets it
    nr = 0.022 * g.size
    nipple = ((xx - g.a) / (1.3 * nr)) ** 2 + ((yy - g.cy) / nr) ** 2 < 1.0
    thickness = np.clip((1.0 - r) / 0.22, 0.0, 1.0) ** 0.6
    thickness = np.where(nipple & (r >= 0.97), np.float32(0.35), thickness)
    breast = (r < 1.0) | nipple
    if g.view == "MLO":
        pectoral = _pectoral_mask(g, xx, yy)
        axilla = xx / (g.pec_w * 1.35) + yy / (g.pec_h * 1.15) <= 1.0  # tissue above the ellipse, in the axilla
        thickness = np.where(axilla, np.maximum(thickness, np.clip((1 - xx / (g.pec_w * 1.35) - yy / (g.pec_h * 1.15))
                                                                   / 0.15, 0.0, 1.0) ** 0.6), thickness)
        breast = breast | axilla
    else:
        pectoral = np.zeros((g.size, g.size), dtype=bool)
    return xx, yy, breast, pectoral, thickness.astype(np.float32), r


def _pectoral_mask(g: Geometry, xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
    """Pectoral muscle: the region left of the (convex, curved) edge that ``Geometry.pectoral_edge_x`` gives."""
    t = np.clip(1.0 - yy / g.pec_h, 0.0, 1.0)
    return (yy < g.pec_h) & (xx <= g.pec_w * t ** PECTORAL_CURVE)


def render_anatomy(g: Geometry, fg: float, rng: np.random.Generator) -> Anatomy:
    """Attenuation map of a lesion-free breast with fibroglandular fraction ``fg`` (0..1).

    Structures, each from its own draw so the picture reads like a mammogram: fibroglandular tissue from a
    power-law field (beta about 3) warped so that it streams along ducts toward the nipple, thresholded at its
    own (1 - fg) quantile (the glandular fraction stays exact); Cooper's ligaments as thin curved strands in
    the fat; a skin line; a nipple; a curved pectoral muscle with fibre texture along its length (MLO).
    """
    xx, yy, breast, pectoral, thickness, r = _masks(g)
    s = g.size
    # ductal coordinates: distance from the nipple (along ducts) and angle around it (across ducts)
    dx, dy = g.a - xx, yy - g.cy
    radial = np.hypot(dx, dy)
    across = np.arctan2(dy, dx + 1e-3) * (0.45 * s)
    ducts = _warp(power_law_field(s, 3.2, rng, stretch=3.0), radial, across)
    texture = power_law_field(s, 3.2, rng)
    prior = np.exp(-(((xx - 0.40 * g.a) / (0.60 * g.a)) ** 2 + ((yy - g.cy) / (0.80 * g.b)) ** 2))
    field = 0.55 * ducts + 0.45 * texture + 1.3 * prior
    tissue = breast & ~pectoral & (thickness > 0.05)
    if tissue.any() and fg > 0:
        thr = float(np.quantile(field[tissue], 1.0 - fg))
        gland = 1.0 / (1.0 + np.exp(-(field - thr) / 0.30))
    else:
        gland = np.zeros_like(field)
    fine = power_law_field(s, 2.9, rng)
    ligaments = np.exp(-(power_law_field(s, 3.2, rng) / 0.06) ** 2) * (1.0 - gland) * np.clip((r - 0.45) / 0.3, 0, 1)
    skin = np.exp(-(((1.0 - r) / 0.012) ** 2)) * (r < 1.0)
    att = (FAT + (GLAND - FAT) * gland + (0.03 + 0.04 * fg) * fine * gland + 0.015 * fine * (1.0 - gland)
           + 0.10 * ligaments) * thickness + 0.10 * skin
    if g.view == "MLO":
        angle = np.arctan2(g.pec_h, g.pec_w)
        along = xx * np.cos(angle) - yy * np.sin(angle)
        cross = xx * np.sin(angle) + yy * np.cos(angle)
        fibres = _warp(power_law_field(s, 2.8, rng, stretch=6.0), cross, along)
        edge_fade = np.clip((g.pec_w * np.clip(1.0 - yy / g.pec_h, 0, 1) ** PECTORAL_CURVE - xx) / (0.04 * s), 0, 1)
        muscle = (PECTORAL - 0.10 * (1.0 - edge_fade) + 0.06 * fibres) * thickness
        att = np.where(pectoral, muscle, att)
    att = np.where(breast, np.clip(att, 0.0, 1.0), 0.0).astype(np.float32)
    return Anatomy(att, breast, pectoral, thickness)
