"""Power by patient-level simulation (issue 19: "power by patient-level simulation").

Measured first: the power table's design effect ``1 + (m - 1) ICC`` uses the mean cluster size m; with unequal
clusters (most patients one item, a few many) the minimum detectable effect it reports is detected only about
half the time. The simulation keeps every item, class and patient of the benchmark and finds the effect the
clustered verdict detects with the target power.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mammovqa.stats.power import mde_by_simulation, mde_for_items, simulated_mde_table, simulated_power
from mammovqa.stats.simulate import simulate_scored


def _equal(n_clusters: int = 150, m: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    gold = rng.choice(["a", "b", "c", "d"], size=n_clusters * m, p=[0.4, 0.3, 0.2, 0.1])
    return gold, np.repeat(np.arange(n_clusters), m)


def test_without_clustering_simulation_agrees_with_the_analytic_formula():
    gold, cl = _equal()
    sim = mde_by_simulation(gold, cl, icc=0.0, n_sim=400)
    ana = mde_for_items(gold, np.full(len(gold), 0.25), alpha=0.025)  # two-sided 0.05 = one-sided 0.025
    assert sim == pytest.approx(ana, rel=0.12)


def test_with_equal_clusters_the_analytic_design_effect_is_right_and_the_simulation_finds_it():
    gold, cl = _equal()
    ana = mde_for_items(gold, np.full(len(gold), 0.25), alpha=0.025, deff=1 + 3 * 0.2)
    assert simulated_power(gold, cl, ana, icc=0.2, n_sim=2000) == pytest.approx(0.8, abs=0.05)
    assert mde_by_simulation(gold, cl, icc=0.2, n_sim=400) == pytest.approx(ana, rel=0.12)


def test_unequal_clusters_break_the_mean_size_design_effect_but_not_the_simulation():
    rng = np.random.default_rng(1)
    sizes = np.where(rng.random(120) < 0.8, 1, 16)
    cl = np.repeat(np.arange(120), sizes)
    gold = rng.choice(["a", "b"], size=len(cl))
    m = len(cl) / 120
    ana = mde_for_items(gold, np.full(len(gold), 0.5), alpha=0.025, deff=1 + (m - 1) * 0.2)
    assert simulated_power(gold, cl, ana, icc=0.2, n_sim=2000) < 0.65  # the analytic MDE is detected ~half the time
    sim = mde_by_simulation(gold, cl, icc=0.2, n_sim=400)
    assert sim > 1.25 * ana
    assert simulated_power(gold, cl, sim, icc=0.2, n_sim=2000, seed=9) == pytest.approx(0.8, abs=0.05)


def test_at_the_no_information_level_the_verdict_rarely_fires_and_results_are_seeded():
    gold, cl = _equal()
    assert simulated_power(gold, cl, 0.0, icc=0.2, n_sim=3000) <= 0.04  # one-sided 2.5% nominal
    assert mde_by_simulation(gold, cl, 0.1, n_sim=200, seed=3) == mde_by_simulation(gold, cl, 0.1, n_sim=200, seed=3)
    assert np.isnan(mde_by_simulation(np.array(["a"] * 10), np.arange(10)))  # one class
    assert np.isnan(mde_by_simulation(np.array(["a", "b"] * 5), np.zeros(10)))  # one cluster: not testable


def test_table_has_one_row_per_topic_with_clusters_and_reference():
    a = simulate_scored(n_clusters=60, items_per_cluster=2, class_probs=(0.5, 0.5), topic="A", seed=1)
    b = simulate_scored(n_clusters=60, items_per_cluster=3, class_probs=(0.4, 0.3, 0.3), topic="B", seed=2)
    t = simulated_mde_table(pd.concat([a, a.assign(model="other"), b]), n_sim=100).set_index("topic")
    assert list(t.index) == ["A", "B"]
    assert t.loc["A", "n_clusters"] == 30 and t.loc["A", "no_information"] == 0.5  # 2 images per patient
    assert t.loc["B", "no_information"] == pytest.approx(1 / 3)
    assert 0 < t.loc["A", "mde_simulated"] < 0.5 and 0 < t.loc["B", "mde_simulated"] < 2 / 3
