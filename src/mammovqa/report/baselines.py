"""Weight-free report-generation baselines: the mode report, nearest-neighbour retrieval, majority BI-RADS.

Why: a generated report is only worth its metric if it beats what needs no model. Reports are formulaic, so
copying the most common training report already scores well on n-gram metrics, and always stating the
majority BI-RADS sets the floor of BI-RADS accuracy (docs/protocol.md §8: ~0.41 on DMID). Retrieval shows what an
image embedding alone buys. All three are deterministic: ties are broken by text or id order, never by chance.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..paths import resolve
from .parse import BIRADS_RANK, parse_birads, parse_density

Embedder = Callable[[str | Path | np.ndarray], np.ndarray]

_DENSITY_TEXT = {"A": "the breasts are almost entirely fatty", "B": "there are scattered areas of fibroglandular density",
                 "C": "the breasts are heterogeneously dense", "D": "the breasts are extremely dense"}


def mode_report(train_reports: Sequence[str]) -> str:
    """The exact most frequent training report; ties go to the lexicographically smallest text."""
    if not train_reports:
        raise ValueError("mode_report needs at least one training report")
    counts = Counter(train_reports)
    return min(counts, key=lambda t: (-counts[t], t))


def _majority(values: Sequence[str | None], order: Callable[[str], Any]) -> str | None:
    counts = Counter(v for v in values if v is not None)
    return min(counts, key=lambda v: (-counts[v], order(v))) if counts else None


def majority_birads_report(train_reports: Sequence[str]) -> str:
    """A fixed template stating the majority training BI-RADS and density (ties -> lower category/level)."""
    birads = _majority([parse_birads(t) for t in train_reports], BIRADS_RANK.__getitem__) or "1"
    density = _majority([parse_density(t) for t in train_reports], str)
    comp = f"ACR {density}: {_DENSITY_TEXT[density]}." if density else "Breast composition not assessed."
    return (f"Breast Composition: {comp}\nBIRADS: {birads}\n"
            f"Findings: No suspicious abnormality is described.\nImpression: BI-RADS {birads.upper()}.")


# ----------------------------------------------------------------------------------------------- retrieval


def _load_gray(image: str | Path | np.ndarray) -> np.ndarray:
    if isinstance(image, np.ndarray):
        arr = image.astype(np.float64)
        return arr.mean(axis=-1) if arr.ndim == 3 else arr
    from PIL import Image

    with Image.open(resolve(image)) as im:
        return np.asarray(im.convert("F"), dtype=np.float64)


def _downsample(arr: np.ndarray, side: int) -> np.ndarray:
    """Block-mean to ``side x side`` after cropping to a multiple: exact, library-free, deterministic."""
    h, w = arr.shape
    if h < side or w < side:
        reps = (int(np.ceil(side / h)), int(np.ceil(side / w)))
        arr = np.kron(arr, np.ones(reps))
        h, w = arr.shape
    bh, bw = h // side, w // side
    return arr[: bh * side, : bw * side].reshape(side, bh, side, bw).mean(axis=(1, 3))


def intensity_embedding(image: str | Path | np.ndarray, side: int = 16, bins: int = 32) -> np.ndarray:
    """A frozen, weight-free image descriptor: z-scored 16x16 block means plus a 32-bin intensity histogram.

    It stands in for a frozen pretrained encoder; pass any ``embed`` function (e.g. a DINOv2 CLS vector) to
    :class:`NearestNeighbourBaseline` to use one instead. L2-normalised, so a dot product is cosine similarity.
    """
    arr = _load_gray(image)
    lo, hi = float(arr.min()), float(arr.max())
    scaled = (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
    small = _downsample(scaled, side).ravel()
    small = (small - small.mean()) / (small.std() + 1e-8)
    hist = np.histogram(scaled, bins=bins, range=(0.0, 1.0))[0].astype(np.float64)
    hist = hist / max(hist.sum(), 1.0) * np.sqrt(bins)
    vec = np.concatenate([small / np.sqrt(small.size), hist])
    return vec / (np.linalg.norm(vec) + 1e-12)


class NearestNeighbourBaseline:
    """Returns the report of the most similar training image (cosine similarity of embeddings).

    A row with several images (an exam) is embedded as the mean of its image embeddings. Ties in similarity go
    to the training row with the smallest id, because the training rows are sorted by id before indexing.
    """

    def __init__(self, train_rows: Sequence[dict[str, Any]], embed: Embedder = intensity_embedding):
        rows = sorted(train_rows, key=lambda r: r["id"])
        if not rows:
            raise ValueError("NearestNeighbourBaseline needs at least one training row")
        self.embed = embed
        self.ids = [r["id"] for r in rows]
        self.reports = [r["report"] for r in rows]
        self.matrix = np.stack([self._row_vector(r) for r in rows])

    def _row_vector(self, row: dict[str, Any]) -> np.ndarray:
        vecs = [np.asarray(self.embed(img), dtype=np.float64) for img in row["images"]]
        v = np.mean(vecs, axis=0)
        return v / (np.linalg.norm(v) + 1e-12)

    def neighbours(self, rows: Sequence[dict[str, Any]]) -> list[str]:
        """Id of the nearest training row for each query row."""
        if not rows:
            return []
        q = np.stack([self._row_vector(r) for r in rows])
        sims = np.round(q @ self.matrix.T, 12)  # rounding makes float-noise ties resolve by id order
        return [self.ids[int(i)] for i in np.argmax(sims, axis=1)]

    def predict(self, rows: Sequence[dict[str, Any]]) -> list[str]:
        index = {rid: k for k, rid in enumerate(self.ids)}
        return [self.reports[index[n]] for n in self.neighbours(rows)]


def run_baselines(train_rows: Sequence[dict[str, Any]], test_rows: Sequence[dict[str, Any]],
                  embed: Embedder | None = intensity_embedding) -> dict[str, list[str]]:
    """Generations of every baseline for ``test_rows`` (in order); ``embed=None`` skips retrieval (no images)."""
    train_reports = [r["report"] for r in sorted(train_rows, key=lambda r: r["id"])]
    out = {"mode report": [mode_report(train_reports)] * len(test_rows),
           "majority BI-RADS": [majority_birads_report(train_reports)] * len(test_rows)}
    if embed is not None:
        out["nearest neighbour"] = NearestNeighbourBaseline(train_rows, embed).predict(test_rows)
    return out
