"""Tests against random guess: null simulation, type-I error, TOST, verdicts, not-testable groups, corrections."""

import math

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from mammovqa.errors import DataError
from mammovqa.stats.bootstrap import cluster_bootstrap
from mammovqa.stats.random_guess import (
    null_cells,
    random_guess_pvalues,
    simulate_null,
    test_against_random,
    tost_pvalue,
)
from mammovqa.stats.simulate import simulate_scored
from mammovqa.stats.weighted import class_weights, cluster_stats, random_expectation, wacc_from_sums


def _tol(q: float, reps: int) -> float:
    return 3 * math.sqrt(q * (1 - q) / reps)


def test_null_simulation_has_the_exact_mean_and_variance():
    df = simulate_scored(n_clusters=300, class_probs=(0.7, 0.2, 0.1), n_options=(2, 3, 4), random_guesser=True, seed=0)
    n, p, w = null_cells(df["gold"], df["random_p"])
    assert n.sum() == len(df) and len(n) <= 9
    sims = simulate_null(df["gold"], df["random_p"], n_sim=20000, seed=1)
    wi, rp = class_weights(df["gold"]), df["random_p"].to_numpy()
    var0 = np.dot(wi ** 2, rp * (1 - rp))
    mean0 = random_expectation(df["random_p"], df["gold"])
    assert sims.mean() == pytest.approx(mean0, abs=4 * math.sqrt(var0 / 20000))
    assert sims.var() == pytest.approx(var0, rel=0.05)  # sd of a variance estimate: sqrt(2/20000) = 1%
    np.testing.assert_array_equal(sims, simulate_null(df["gold"], df["random_p"], n_sim=20000, seed=1))


@pytest.mark.parametrize("method", ["simulation", "normal"])
def test_type_one_error_of_superiority_is_nominal_for_random_guessers(method):
    reps, alpha = (1000 if method == "simulation" else 1500), 0.05  # observed: 0.044 / 0.046 at 1500
    rejections = 0
    for r in range(reps):
        df = simulate_scored(n_clusters=100, items_per_cluster=2, class_probs=(0.6, 0.3, 0.1), n_options=(2, 3, 4),
                             random_guesser=True, seed=r)
        p_sup, _ = random_guess_pvalues(df["correct"], df["gold"], df["random_p"], n_sim=2000, seed=r, method=method)
        rejections += p_sup < alpha
    rate = rejections / reps
    assert abs(rate - alpha) <= _tol(alpha, reps) + 0.005, rate


def test_superiority_has_power_against_a_real_improvement():
    df = simulate_scored(n_clusters=150, class_probs=(0.5, 0.5), class_accuracy=(0.5, 0.5), n_options=(3,), seed=3)
    p_sup, p_inf = random_guess_pvalues(df["correct"], df["gold"], df["random_p"], n_sim=10000, seed=0)
    assert p_sup < 0.001 and p_inf > 0.99


def test_tost_accepts_equivalence_for_a_random_guesser_on_a_large_sample():
    big = simulate_scored(n_clusters=2500, items_per_cluster=2, class_probs=(0.5, 0.3, 0.2), n_options=(3,),
                          random_guesser=True, seed=7, model="guesser", topic="Big")
    small = simulate_scored(n_clusters=20, items_per_cluster=2, class_probs=(0.5, 0.5), n_options=(3,),
                            random_guesser=True, seed=8, model="guesser", topic="Small")
    res = test_against_random(pd.concat([big, small]), n_boot=1000, seed=0).set_index("topic")
    assert res.loc["Big", "verdict"] == "equivalent to random"
    assert res.loc["Big", "p_tost"] < 0.05
    assert res.loc["Big", "tost_low"] > 1 / 3 - 0.05
    assert res.loc["Big", "tost_high"] < 1 / 3 + 0.05
    assert res.loc["Small", "verdict"] == "inconclusive"  # 40 items cannot pin accuracy within 5 points


def test_tost_error_rate_at_the_margin_is_at_most_alpha():
    """True accuracy exactly random + margin: equivalence must be (wrongly) claimed at most ~5% of the time."""
    reps, margin = 300, 0.05
    rng_acc = 1 / 3 + margin
    claims = 0
    for r in range(reps):
        df = simulate_scored(n_clusters=800, items_per_cluster=2, class_probs=(0.5, 0.5), n_options=(3,),
                             class_accuracy=(rng_acc, rng_acc), seed=10_000 + r)
        boot = cluster_bootstrap(cluster_stats(df, "record_id").matrix, wacc_from_sums, n_boot=400, seed=r).boot
        claims += tost_pvalue(boot, 1 / 3, margin) < 0.05
    assert claims / reps <= 0.05 + _tol(0.05, reps), claims / reps


def _family() -> pd.DataFrame:
    parts = [
        simulate_scored(n_clusters=200, class_accuracy=(0.8, 0.8, 0.8), model="good", topic="T1", seed=1),
        simulate_scored(n_clusters=200, random_guesser=True, model="guess", topic="T1", seed=2),
        simulate_scored(n_clusters=200, class_accuracy=(0.0, 0.0, 0.0), model="bad", topic="T1", seed=3),
        simulate_scored(n_clusters=200, class_probs=(1.0,), model="good", topic="OneClass", seed=4),
        simulate_scored(n_clusters=3, model="good", topic="Tiny", seed=5),
        simulate_scored(n_clusters=1, items_per_cluster=30, model="good", topic="OneImage", seed=6),
    ]
    return pd.concat(parts, ignore_index=True)


def test_verdicts_not_testable_groups_and_family_corrections():
    res = test_against_random(_family(), n_boot=500, seed=0, min_items=20)
    v = {(r.model, r.topic): r.verdict for r in res.itertuples()}
    assert v[("good", "T1")] == "above random"
    assert v[("bad", "T1")] == "below random"
    assert v[("guess", "T1")] in ("inconclusive", "equivalent to random")
    assert v[("good", "OneClass")].startswith("not testable: one gold class")
    assert v[("good", "Tiny")] == "not testable: 9 items (< 20)"
    assert v[("good", "OneImage")] == "not testable: one cluster"
    nt = res[res["verdict"].str.startswith("not testable")]
    assert nt[["estimate", "p_superiority", "p_holm"]].isna().all().all()
    t = res[res["p_superiority"].notna()]
    np.testing.assert_allclose(t["p_holm"], multipletests(t["p_superiority"], method="holm")[1])
    np.testing.assert_allclose(t["p_bh"], multipletests(t["p_superiority"], method="fdr_bh")[1])
    assert (t["p_holm"] >= t["p_superiority"]).all()
    assert (t["ci_low"] <= t["estimate"]).all() and (t["estimate"] <= t["ci_high"]).all()
    for col in ("model", "topic", "n", "n_clusters", "estimate", "ci_low", "ci_high", "random_guess",
                "p_superiority", "p_holm", "p_bh", "p_tost", "verdict"):
        assert col in res.columns
    # seeded: identical on a re-run
    pd.testing.assert_frame_equal(res, test_against_random(_family(), n_boot=500, seed=0, min_items=20))


def test_duplicate_items_in_a_group_are_an_error():
    df = simulate_scored(n_clusters=50, seed=1)
    with pytest.raises(DataError, match="duplicate item ids"):
        test_against_random(pd.concat([df, df]), n_boot=100)
