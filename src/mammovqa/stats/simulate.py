"""Simulated scored tables with known truth, for validating the statistics and for the benchmark.

Why a library module: the tests check coverage and error rates against a known estimand, and the benchmark
needs realistic sizes; both must build the data the same, seeded way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def simulate_scored(n_clusters: int = 200, items_per_cluster: int | float = 3, class_probs: Sequence[float] = (0.6, 0.3, 0.1),
                    class_accuracy: Sequence[float] | None = None, n_options: Sequence[int] = (3,),
                    cluster_effect: float = 0.0, random_guesser: bool = False, model: str = "m", topic: str = "T",
                    seed: int = 0, fixed_size: bool = True, patient_effect: float = 0.0,
                    images_per_patient: int = 2, image_blind: Sequence[float] | None = None) -> pd.DataFrame:
    """One model x topic of scored items.

    Each cluster (image) holds ``items_per_cluster`` items (Poisson with that mean, at least 1, when
    ``fixed_size`` is false); classes are drawn from ``class_probs``; an item of class k is correct with
    probability ``class_accuracy[k] + e_j`` where the cluster effect ``e_j`` is +/- ``cluster_effect`` with
    equal odds (so the marginal accuracy stays ``class_accuracy[k]`` and the true weighted accuracy is their
    mean). ``patient_effect`` adds a second +/- effect shared by the ``images_per_patient`` consecutive
    clusters of one patient (correlated images of one woman). ``random_guesser`` instead makes each item correct
    with its own ``random_p`` = 1/K (K drawn from ``n_options``). ``image_blind`` (a distribution over the
    classes) makes the model answer class k with that probability whatever the item: an image-blind predictor,
    whose expected weighted accuracy is at most 1/C.

    ``pred`` is the gold class when correct and another class (at random) when wrong, so answer distributions
    look like a real model's; ``patient_key`` is the patient id (one family).
    """
    rng = np.random.default_rng(seed)
    if fixed_size:
        sizes = np.full(n_clusters, int(items_per_cluster))
    else:
        sizes = np.maximum(1, rng.poisson(items_per_cluster, n_clusters))
    cl = np.repeat(np.arange(n_clusters), sizes)
    n = cl.size
    k = len(class_probs)
    gold = rng.choice(k, size=n, p=np.asarray(class_probs) / np.sum(class_probs))
    opts = rng.choice(np.asarray(n_options), size=n)
    random_p = 1.0 / opts
    patient = cl // max(1, images_per_patient)
    names = np.array([f"class{j}" for j in range(k)])
    if image_blind is not None:
        q = np.asarray(image_blind, dtype=float)
        answer = rng.choice(k, size=n, p=q / q.sum())
        correct = (answer == gold).astype(int)
        pred = names[answer]
    else:
        if random_guesser:
            prob = random_p
        else:
            acc = np.asarray(class_accuracy if class_accuracy is not None else np.linspace(0.4, 0.8, k))
            effect = np.where(rng.random(n_clusters) < 0.5, -cluster_effect, cluster_effect)[cl]
            n_pat = int(patient.max()) + 1 if n else 0
            effect = effect + np.where(rng.random(n_pat) < 0.5, -patient_effect, patient_effect)[patient]
            prob = np.clip(acc[gold] + effect, 0, 1)
        correct = (rng.random(n) < prob).astype(int)
        other = (gold + rng.integers(1, max(k, 2), size=n)) % max(k, 2)
        pred = np.where(correct == 1, names[gold], np.array([f"class{j}" for j in range(max(k, 2))])[other])
    return pd.DataFrame({
        "id": [f"{topic}-{i}" for i in range(n)], "model": model, "topic": topic,
        "record_id": [f"r{c}" for c in cl], "patient_id": [f"p{c}" for c in patient],
        "patient_key": [f"sim::p{c}" for c in patient],
        "gold": names[gold], "n_options": opts, "random_p": random_p,
        "correct": correct, "pred": pred, "missing": False,
    })
