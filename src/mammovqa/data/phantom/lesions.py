"""Lesions of the phantom: what they are (sampled per breast) and how they look (drawn per image).

The sampling order is the causal chain of the labels:

    type -> pathology -> morphology -> BI-RADS (per lesion) -> image BI-RADS / Pathology / Abnormality

* type (mass, calcification, distortion, asymmetry) sets the drawn shape and the Abnormality label;
* pathology (Benign / Malignant) is drawn per type and *only* acts on the image through the morphology it
  makes likely (malignant masses are mostly irregular or spiculated, malignant calcifications mostly fine
  pleomorphic), so pathology is visible but not perfectly;
* BI-RADS is drawn from the morphology (circumscribed mass 2/3, spiculated 4c/5, ...), as a reader would;
* subtlety (Level 1..5) sets the lesion contrast, Level 1 being the faintest;
* size in millimetres sets the radius in pixels through the site's pixel spacing.

Drawing adds a non-negative attenuation increment to the anatomy map inside the breast only, so a rendering
without lesions differs from one with lesions exactly where a lesion was drawn.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .anatomy import Geometry

TYPES = ("mass", "calcification", "distortion", "asymmetry")
TYPE_P = (0.45, 0.30, 0.10, 0.15)
ABNORMALITY = {"mass": "Mass", "calcification": "Calcification", "distortion": "Architectural distortion",
               "asymmetry": "Asymmetry"}
MALIGNANT_P = {"mass": 0.45, "calcification": 0.40, "distortion": 0.65, "asymmetry": 0.15}
MORPHOLOGY = {  # (type, pathology) -> (morphologies, probabilities)
    ("mass", "Benign"): (("circumscribed", "irregular", "spiculated"), (0.80, 0.15, 0.05)),
    ("mass", "Malignant"): (("circumscribed", "irregular", "spiculated"), (0.10, 0.40, 0.50)),
    ("calcification", "Benign"): (("coarse", "fine pleomorphic"), (0.85, 0.15)),
    ("calcification", "Malignant"): (("coarse", "fine pleomorphic"), (0.15, 0.85)),
    ("distortion", "Benign"): (("distortion",), (1.0,)),
    ("distortion", "Malignant"): (("distortion",), (1.0,)),
    ("asymmetry", "Benign"): (("focal asymmetry",), (1.0,)),
    ("asymmetry", "Malignant"): (("focal asymmetry",), (1.0,)),
}
BIRADS_BY_MORPHOLOGY = {  # a reader's assessment given what is seen
    "circumscribed": (("2", "3", "4a"), (0.40, 0.52, 0.08)),
    "irregular": (("4a", "4b", "4c", "5"), (0.20, 0.40, 0.30, 0.10)),
    "spiculated": (("4b", "4c", "5"), (0.20, 0.35, 0.45)),
    "coarse": (("2", "3"), (0.85, 0.15)),
    "fine pleomorphic": (("4a", "4b", "4c", "5"), (0.30, 0.35, 0.25, 0.10)),
    "distortion": (("0", "4a", "4b", "4c"), (0.20, 0.35, 0.30, 0.15)),
    "focal asymmetry": (("0", "3", "4a"), (0.45, 0.40, 0.15)),
}
SIZE_MM = {"mass": (6.0, 26.0), "calcification": (5.0, 16.0), "distortion": (12.0, 26.0), "asymmetry": (14.0, 30.0)}
# how far a lesion reaches beyond its nominal radius (spicules, blob tails): crop boxes use this
EXTENT = {"circumscribed": 1.1, "irregular": 1.35, "spiculated": 1.7, "coarse": 1.05, "fine pleomorphic": 1.05,
          "distortion": 1.15, "focal asymmetry": 1.35}
# severity order used for "worst finding wins": an incomplete assessment (0) outranks benign categories
SEVERITY = ("1", "2", "3", "0", "4a", "4b", "4c", "5")


def worst_birads(values: list[str]) -> str:
    return max(values, key=SEVERITY.index) if values else "1"


def birads_option(value: str) -> str:
    """QA label of an internal BI-RADS value: sub-categories 4a/4b/4c collapse to Bi-Rads 4 (protocol)."""
    return f"Bi-Rads {value[0]}"


def contrast(subtlety: int, kind: str) -> float:
    """Attenuation increment of a lesion; monotone in subtlety so Level 1 is the faintest."""
    base = 0.05 + 0.04 * subtlety
    if kind == "calcification":
        return 2.0 * base  # calcium is far denser than soft tissue
    if kind == "asymmetry":
        return 0.7 * base
    return base


@dataclass
class Lesion:
    """One lesion of a breast; position in normalised breast coordinates so both views agree."""

    type: str
    pathology: str
    morphology: str
    birads: str
    subtlety: int
    size_mm: float
    u: float
    phi: float
    shape_seed: int
    # per image, after placement (canonical frame until ``generate`` mirrors a left breast)
    center: tuple[float, float] = (0.0, 0.0)
    radius_px: float = 0.0
    box: tuple[int, int, int, int] = (0, 0, 0, 0)
    extra: dict = field(default_factory=dict)

    @property
    def extent_px(self) -> float:
        return self.radius_px * EXTENT[self.morphology]

    def describe(self) -> dict:
        """Metadata for reports and tests (positions in the final image frame)."""
        return {"type": self.type, "morphology": self.morphology, "pathology": self.pathology,
                "birads": self.birads, "subtlety": self.subtlety, "size_mm": round(self.size_mm, 1),
                "center": [round(self.center[0], 1), round(self.center[1], 1)],
                "radius_px": round(self.radius_px, 2), "box": list(self.box)}


def _choice(rng: np.random.Generator, values: tuple, p: tuple) -> str:
    return values[int(rng.choice(len(values), p=np.asarray(p) / sum(p)))]


def sample_lesion(rng: np.random.Generator, kind: str | None = None) -> Lesion:
    kind = kind or _choice(rng, TYPES, TYPE_P)
    pathology = "Malignant" if rng.random() < MALIGNANT_P[kind] else "Benign"
    morphology = _choice(rng, *MORPHOLOGY[(kind, pathology)])
    birads = _choice(rng, *BIRADS_BY_MORPHOLOGY[morphology])
    lo, hi = SIZE_MM[kind]
    size = float(rng.uniform(lo, hi)) * (1.15 if pathology == "Malignant" and kind == "mass" else 1.0)
    return Lesion(kind, pathology, morphology, birads, int(rng.integers(1, 6)), size,
                  u=float(rng.uniform(0.22, 0.68)), phi=float(rng.uniform(-0.95, 0.95)),
                  shape_seed=int(rng.integers(0, 2**31 - 1)))


def sample_lesions(rng: np.random.Generator, prevalence: float, force: bool = False) -> list[Lesion]:
    """Lesions of one breast: none with probability 1 - prevalence, else 1 (75%), 2 (20%) or 3 (5%)."""
    if not force and rng.random() >= prevalence:
        return []
    n = 1 + int(rng.choice(3, p=(0.75, 0.20, 0.05)))
    lesions: list[Lesion] = []
    for _ in range(n):
        lesion = sample_lesion(rng)
        for _try in range(8):  # keep lesions apart in breast coordinates so their crops do not overlap
            if all(abs(lesion.phi - o.phi) * 0.5 + abs(lesion.u - o.u) > 0.35 for o in lesions):
                break
            lesion.u, lesion.phi = float(rng.uniform(0.22, 0.68)), float(rng.uniform(-0.95, 0.95))
        lesions.append(lesion)
    return lesions


# ------------------------------------------------------------------ placement


def crop_box(cx: float, cy: float, extent: float, size: int) -> tuple[int, int, int, int]:
    """Square crop around a lesion (``[x0, y0, x1, y1]``, x1/y1 exclusive), shifted to lie inside the image."""
    half = int(np.ceil(max(extent * 1.15 + 2.0, size / 32.0, 6.0)))
    side = min(2 * half, size)
    x0 = int(np.clip(round(cx) - half, 0, size - side))
    y0 = int(np.clip(round(cy) - half, 0, size - side))
    return x0, y0, x0 + side, y0 + side


def boxes_overlap(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place(lesions: list[Lesion], g: Geometry, spacing_mm: float) -> None:
    """Pixel centre, radius and crop box of each lesion in this view (canonical frame).

    A lesion that would sit on the pectoral muscle is moved out along its row; one whose box would overlap an
    earlier lesion's box is rotated step by step around the breast centre (deterministic, no randomness), so
    each lesion crop shows exactly one lesion.
    """
    for i, lesion in enumerate(lesions):
        lesion.radius_px = max(lesion.size_mm / 2.0 / spacing_mm, 2.5)
        phi = lesion.phi
        for step in range(24):
            x, y = g.point(lesion.u, phi)
            x = max(x, g.pectoral_edge_x(y) + lesion.extent_px + 2.0)
            box = crop_box(x, y, lesion.extent_px, g.size)
            if not any(boxes_overlap(box, o.box) for o in lesions[:i]):
                break
            phi = lesion.phi + (step // 2 + 1) * 0.22 * (1 if step % 2 == 0 else -1)
        else:
            lesion.extra["overlaps"] = True
        lesion.center, lesion.box = (x, y), box


# ------------------------------------------------------------------ drawing


def _patch(center: tuple[float, float], reach: float, size: int) -> tuple[slice, slice, np.ndarray, np.ndarray]:
    cx, cy = center
    r = int(np.ceil(reach)) + 2
    x0, x1 = max(int(cx) - r, 0), min(int(cx) + r + 1, size)
    y0, y1 = max(int(cy) - r, 0), min(int(cy) + r + 1, size)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    return slice(y0, y1), slice(x0, x1), xx - cx, yy - cy


def _spicules(dx: np.ndarray, dy: np.ndarray, n: int, length: float, width: float,
              rng: np.random.Generator) -> np.ndarray:
    angles = rng.uniform(0, 2 * np.pi, n) + np.linspace(0, 2 * np.pi, n, endpoint=False)
    lengths = length * rng.uniform(0.6, 1.0, n)
    out = np.zeros_like(dx)
    for ang, ln in zip(angles, lengths):
        c, s = np.cos(ang), np.sin(ang)
        along = c * dx + s * dy
        perp = -s * dx + c * dy
        line = np.exp(-(perp / width) ** 2) * np.clip(1.0 - along / ln, 0.0, 1.0) * (along > 0)
        out = np.maximum(out, line)
    return out


def lesion_profile(lesion: Lesion, dx: np.ndarray, dy: np.ndarray, spacing_mm: float) -> np.ndarray:
    """Unit-contrast shape of the lesion on a patch of offsets from its centre."""
    rng = np.random.default_rng(lesion.shape_seed)
    r = lesion.radius_px
    ang = np.arctan2(dy, dx)
    dist = np.sqrt(dx * dx + dy * dy)
    if lesion.type == "mass":
        if lesion.morphology == "circumscribed":
            ecc, rot = rng.uniform(0.7, 1.0), rng.uniform(0, np.pi)
            c, s = np.cos(rot), np.sin(rot)
            d = np.sqrt(((c * dx + s * dy) / r) ** 2 + ((-s * dx + c * dy) / (r * ecc)) ** 2)
            return np.clip((1.0 - d) / 0.12, 0.0, 1.0) * np.sqrt(np.clip(1.0 - 0.5 * d * d, 0.0, 1.0))
        k = np.arange(2, 7)
        amp, phase = rng.uniform(0.06, 0.16, k.size), rng.uniform(0, 2 * np.pi, k.size)
        radius = r * (1.0 + (amp[:, None, None] * np.cos(k[:, None, None] * ang + phase[:, None, None])).sum(0))
        radius = np.clip(radius, 0.7 * r, 1.3 * r)  # keep the lobulated border inside EXTENT
        body = np.clip((radius - dist) / (0.25 * r), 0.0, 1.0)
        if lesion.morphology == "spiculated":
            spic = _spicules(dx, dy, int(rng.integers(9, 15)), 1.65 * r, max(0.6, 0.07 * r), rng)
            body = np.maximum(body, 0.7 * spic)
        return body
    if lesion.type == "calcification":
        fine = lesion.morphology == "fine pleomorphic"
        n = int(rng.integers(10, 22) if fine else rng.integers(3, 8))
        sigma_mm = rng.uniform(0.25, 0.5, n) if fine else rng.uniform(0.7, 1.3, n)
        sig = np.maximum(sigma_mm / spacing_mm, 0.7)
        rho, theta = r * 0.85 * np.sqrt(rng.random(n)), rng.uniform(0, 2 * np.pi, n)
        out = np.zeros_like(dx)
        for px, py, sg in zip(rho * np.cos(theta), rho * np.sin(theta), sig):
            out = np.maximum(out, np.exp(-((dx - px) ** 2 + (dy - py) ** 2) / (2 * sg * sg)))
        return out
    if lesion.type == "distortion":
        spic = _spicules(dx, dy, int(rng.integers(10, 16)), r * 1.1, max(0.6, 0.06 * r), rng)
        return np.maximum(spic, 0.35 * np.exp(-(dist / (0.25 * r)) ** 2))
    # focal asymmetry: a broad, soft-edged density without a convex border
    ecc, rot = rng.uniform(0.5, 0.9), rng.uniform(0, np.pi)
    c, s = np.cos(rot), np.sin(rot)
    d2 = ((c * dx + s * dy) / r) ** 2 + ((-s * dx + c * dy) / (r * ecc)) ** 2
    return np.exp(-1.6 * d2) * (d2 < 1.8)


def draw(att: np.ndarray, thickness: np.ndarray, lesion: Lesion, spacing_mm: float) -> None:
    """Add one lesion to a canonical-frame attenuation map in place (inside the breast only)."""
    ys, xs, dx, dy = _patch(lesion.center, lesion.extent_px, att.shape[0])
    prof = lesion_profile(lesion, dx, dy, spacing_mm)
    att[ys, xs] += (contrast(lesion.subtlety, lesion.type) * prof * np.minimum(thickness[ys, xs] * 1.5, 1.0))
