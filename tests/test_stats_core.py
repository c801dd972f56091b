"""Weighted accuracy, clustered bootstrap (percentile, BCa) and their validation by simulation.

Tolerances are binomial: with R replications of an event of nominal probability q, the observed rate has
sd sqrt(q(1-q)/R); the checks allow 3 sd (a false alarm about 1 run in 700 per check, and seeds are fixed).
"""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from mammovqa.errors import DataError
from mammovqa.stats.bootstrap import cluster_bootstrap, resample_sums
from mammovqa.stats.simulate import simulate_scored
from mammovqa.stats.weighted import (
    accuracy_table,
    class_weights,
    cluster_stats,
    label_balance,
    random_expectation,
    wacc_from_sums,
    weighted_accuracy,
)


def _tol(q: float, reps: int) -> float:
    return 3 * math.sqrt(q * (1 - q) / reps)


def test_weighted_accuracy_is_mean_per_class_accuracy():
    gold = np.array(["a"] * 6 + ["b"] * 3 + ["c"])
    correct = np.array([1, 1, 1, 1, 1, 0, 1, 0, 0, 0])
    assert weighted_accuracy(correct, gold) == pytest.approx((5 / 6 + 1 / 3 + 0) / 3)
    assert class_weights(gold).sum() == pytest.approx(1.0)
    rp = np.array([0.5] * 6 + [0.25] * 3 + [1 / 3])
    assert random_expectation(rp, gold) == pytest.approx((0.5 + 0.25 + 1 / 3) / 3)


def test_cluster_stats_sum_back_to_the_estimate_and_blank_clusters_stay_apart():
    df = simulate_scored(n_clusters=50, seed=1)
    st = cluster_stats(df, "record_id")
    assert st.total.sum() == len(df) and st.correct.sum() == df["correct"].sum()
    assert wacc_from_sums(st.matrix.sum(0)[None])[0] == pytest.approx(weighted_accuracy(df["correct"], df["gold"]))
    df["exam_id"] = ""  # image-level items have no exam: each must fall back to its own record, not one cluster
    assert cluster_stats(df, "exam_id").n_clusters == df["record_id"].nunique()


def test_accuracy_table_and_label_balance():
    df = pd.concat([simulate_scored(seed=2, topic="A"), simulate_scored(seed=3, topic="B", class_probs=(1, 1))])
    tab = accuracy_table(df)
    assert list(tab["topic"]) == ["A", "B"] and np.allclose(tab["random_guess"], 1 / 3)
    bal = label_balance(df).set_index("topic")
    assert bal.loc["B", "normalised_entropy"] > 0.99 > bal.loc["A", "normalised_entropy"]
    assert bal.loc["A", "majority_share"] == pytest.approx(0.6, abs=0.06)
    with pytest.raises(DataError, match="missing column"):
        accuracy_table(df.drop(columns=["gold"]))


@pytest.mark.parametrize("distinct", [False, True])
def test_resampling_is_exact_cluster_bootstrap_and_seeded(distinct):
    """Both code paths (multinomial over distinct rows, index draws) resample exactly J clusters and give
    the textbook bootstrap variance of a cluster total."""
    rng = np.random.default_rng(0)
    n_clusters = 400
    vals = rng.normal(size=n_clusters) if distinct else rng.integers(0, 3, n_clusters).astype(float)
    rows = np.column_stack([np.ones(n_clusters), vals])
    sums = resample_sums(rows, 4000, seed=5)
    assert np.all(sums[:, 0] == n_clusters)
    expected_var = n_clusters * vals.var()  # Var of a sum of J draws with replacement
    # sample variance of 4000 draws: relative sd sqrt(2/3999) ~ 2.2%
    assert sums[:, 1].var(ddof=1) == pytest.approx(expected_var, rel=0.08)
    assert sums[:, 1].mean() == pytest.approx(vals.sum(), abs=4 * math.sqrt(expected_var / 4000))
    np.testing.assert_array_equal(sums, resample_sums(rows, 4000, seed=5))
    assert not np.array_equal(sums, resample_sums(rows, 4000, seed=6))


def _coverage(method: str, cluster: str, reps: int, cluster_effect: float, seed0: int, items_per_cluster: int = 3,
              n_clusters: int = 150) -> float:
    acc = np.array([0.5, 0.7, 0.85])
    truth = acc.mean()
    hits = 0
    for r in range(reps):
        df = simulate_scored(n_clusters=n_clusters, items_per_cluster=items_per_cluster, class_probs=(0.6, 0.3, 0.1), class_accuracy=acc,
                             cluster_effect=cluster_effect, seed=seed0 + r)
        res = cluster_bootstrap(cluster_stats(df, cluster).matrix, wacc_from_sums, n_boot=600, seed=r, method=method)
        hits += res.ci_low <= truth <= res.ci_high
    return hits / reps


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_clustered_ci_coverage_is_nominal(method):
    reps = 400
    cov = _coverage(method, "record_id", reps, cluster_effect=0.12, seed0=1000)
    assert abs(cov - 0.95) <= _tol(0.95, reps) + 0.01, cov  # +1 point: small-sample bootstrap bias


def test_ignoring_clusters_undercovers_when_answers_are_correlated():
    """The reason for the cluster parameter: item-level resampling is too narrow under strong clustering."""
    reps = 300
    kw = dict(cluster_effect=0.15, seed0=5000, items_per_cluster=8, n_clusters=60)  # 0.85 + 0.15: no clipping
    naive = _coverage("percentile", "id", reps, **kw)
    clustered = _coverage("percentile", "record_id", reps, **kw)
    assert clustered >= 0.95 - _tol(0.95, reps) - 0.01
    assert naive < clustered - 0.03 and naive < 0.92, (naive, clustered)


def _patient_coverage(cluster: str, reps: int) -> float:
    acc = np.array([0.5, 0.7])
    hits = 0
    for r in range(reps):
        df = simulate_scored(n_clusters=160, items_per_cluster=3, class_probs=(0.5, 0.5), class_accuracy=acc,
                             patient_effect=0.14, images_per_patient=4, seed=70_000 + r)
        st = cluster_stats(df, cluster)
        res = cluster_bootstrap(st.matrix, wacc_from_sums, n_boot=400, seed=r, require=st.total_columns)
        hits += res.ci_low <= acc.mean() <= res.ci_high
    return hits / reps


def test_patient_clustered_interval_covers_with_correlated_images_of_a_patient():
    """Measured: notebook 05 clustered on record_id (n_clusters == n); images of one woman share her
    difficulty, so image-level resampling is too narrow. Patient-level resampling keeps nominal coverage."""
    reps = 300
    patient = _patient_coverage("patient_key", reps)
    image = _patient_coverage("record_id", reps)
    assert patient >= 0.95 - _tol(0.95, reps) - 0.01, patient
    assert image < patient - 0.03, (image, patient)


def test_bootstrap_keeps_every_class_present():
    """A class held by one cluster of 40 is absent from ~37% of plain resamples; conditioning keeps it, so the
    weighted accuracy of every resample averages over the same classes as the estimate."""
    rows = np.zeros((40, 4))
    rows[:, 0], rows[:, 2] = 1, 1  # class A in every cluster, always right
    rows[0, 3] = 1  # class B in one cluster, always wrong
    plain = cluster_bootstrap(rows, wacc_from_sums, n_boot=2000, seed=0)
    kept = cluster_bootstrap(rows, wacc_from_sums, n_boot=2000, seed=0, require=np.array([2, 3]))
    assert plain.ci_high == 1.0  # resamples that lost class B: a different estimand
    assert kept.ci_low == kept.ci_high == kept.estimate == 0.5
    assert (resample_sums(rows, 500, 1, require=np.array([2, 3]))[:, 3] > 0).all()


def test_bca_matches_scipy_and_percentile_where_it_should():
    # Independent items (each its own cluster), one class: the statistic is a mean, as in scipy's bootstrap.
    rng = np.random.default_rng(3)
    x = (rng.random(80) < 0.9).astype(float)
    rows = np.column_stack([x, np.ones_like(x)])
    ours = cluster_bootstrap(rows, wacc_from_sums, n_boot=20000, seed=1, method="bca")
    ref = sps.bootstrap((x,), np.mean, n_resamples=20000, method="BCa", rng=np.random.default_rng(2)).confidence_interval
    assert ours.ci_low == pytest.approx(ref.low, abs=0.015) and ours.ci_high == pytest.approx(ref.high, abs=0.015)
    pct = cluster_bootstrap(rows, wacc_from_sums, n_boot=20000, seed=1, method="percentile")
    # skewed near 1: BCa moves the interval down relative to the percentile one
    assert ours.ci_low <= pct.ci_low and ours.ci_high <= pct.ci_high
    assert ours.ci_low < ours.estimate < ours.ci_high
    # large, balanced sample: the two agree closely
    df = simulate_scored(n_clusters=3000, class_probs=(1, 1), class_accuracy=(0.5, 0.5), seed=4)
    m = cluster_stats(df, "record_id").matrix
    a = cluster_bootstrap(m, wacc_from_sums, n_boot=4000, seed=0, method="bca")
    b = cluster_bootstrap(m, wacc_from_sums, n_boot=4000, seed=0, method="percentile")
    assert a.ci_low == pytest.approx(b.ci_low, abs=0.003) and a.ci_high == pytest.approx(b.ci_high, abs=0.003)
    with pytest.raises(ValueError):
        cluster_bootstrap(m, wacc_from_sums, method="student")


def test_cluster_multiplicities_draw_whole_clusters_independent_of_unit_order():
    from mammovqa.stats.bootstrap import cluster_multiplicities

    clusters = ["b", "a", "b", "c", "a", "b"]
    inv, w = cluster_multiplicities(clusters, 200, 3)
    assert list(inv) == [1, 0, 1, 2, 0, 1] and w.shape == (200, 3) and (w.sum(axis=1) == 3).all()
    _, w_shuffled = cluster_multiplicities(["c", "b", "a", "a", "b", "b"], 200, 3)
    assert (w == w_shuffled).all()  # same clusters, same seed: same resamples whatever the order of the units
    inv0, w0 = cluster_multiplicities([], 5, 0)
    assert inv0.size == 0 and w0.shape == (5, 0)


def test_pooled_mean_replicates_equal_the_mean_over_the_resampled_units():
    """Each replicate is the plain mean over every unit of every drawn cluster (NaNs left out first),
    computed here the long way: expand each resample into its units."""
    from mammovqa.stats.bootstrap import cluster_multiplicities, pooled_mean_replicates

    rng = np.random.default_rng(5)
    clusters = np.array([f"p{i}" for i in rng.integers(0, 12, size=60)])
    values = rng.normal(size=60)
    values[::9] = np.nan
    reps = pooled_mean_replicates(values, clusters, 50, 7)
    keep = ~np.isnan(values)
    inv, w = cluster_multiplicities(clusters[keep], 50, 7)
    for b in range(50):
        units = np.concatenate([np.flatnonzero(inv == c) for c in range(w.shape[1]) for _ in range(w[b, c])])
        assert reps[b] == pytest.approx(values[keep][units].mean(), rel=1e-12)
    assert np.isnan(pooled_mean_replicates(np.full(4, np.nan), ["a"] * 4, 3, 0)).all()
