"""Stable per-key random streams.

Why: Python's ``hash`` is salted per process and a single global RNG makes results depend on iteration
order. Deriving each stream from (seed, key) with SHA-256 makes every draw reproducible and parallelisable.
"""

from __future__ import annotations

import hashlib

import numpy as np


def stable_int(*parts: object, bits: int = 64) -> int:
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(h[: bits // 8], "big")


def seed_sequence(seed: int, *key: object) -> np.random.SeedSequence:
    """The seed of one named draw: a SeedSequence of the SHA-256 of (seed, key), so it can also ``spawn``
    independent child streams (the phantom draws geometry, anatomy and site from one key)."""
    return np.random.SeedSequence(stable_int(seed, *key))


def rng_for(seed: int, *key: object) -> np.random.Generator:
    """The one per-key random stream of the package (``default_rng(SeedSequence(n))`` is ``default_rng(n)``, so
    every stream drawn before the phantom moved here is unchanged)."""
    return np.random.default_rng(seed_sequence(seed, *key))


def stable_fraction(*parts: object) -> float:
    """A number in [0, 1) fixed by its parts (used for sharding and tie-breaking)."""
    return stable_int(*parts) / 2.0**64
