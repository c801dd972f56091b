"""Paired comparisons (McNemar, paired clustered bootstrap), item-set checks, and power (MDE)."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from mammovqa.errors import DataError
from mammovqa.stats.paired import (
    ItemSetMismatchError,
    align_items,
    compare_models,
    compare_paired,
    finetuned_vs_best_zero_shot,
    mcnemar_exact,
)
from mammovqa.stats.power import mde_for_items, minimum_detectable_effect
from mammovqa.stats.random_guess import simulate_null
from mammovqa.stats.simulate import simulate_scored
from mammovqa.stats.weighted import class_weights


def _pair(seed: int = 0, acc_b: float = 0.5, n_clusters: int = 300):
    a = simulate_scored(n_clusters=n_clusters, class_accuracy=(0.7, 0.7, 0.7), model="A", seed=seed)
    rng = np.random.default_rng(seed + 99)
    b = a.copy()
    b["model"] = "B"
    b["correct"] = (rng.random(len(b)) < acc_b).astype(int)
    return a, b


def test_mcnemar_counts_discordant_pairs():
    a = np.array([1, 1, 1, 0, 0, 1, 1, 0])
    b = np.array([0, 0, 1, 1, 0, 0, 1, 0])
    n_ab, n_ba, p = mcnemar_exact(a, b)
    assert (n_ab, n_ba) == (3, 1) and p == pytest.approx(binomtest(3, 4, 0.5).pvalue)
    assert mcnemar_exact(a, a)[2] == 1.0


def test_compare_models_finds_a_real_difference_and_not_a_null_one():
    a, b = _pair(acc_b=0.5)
    res = compare_models(a, b, n_boot=1000).iloc[0]
    assert res["model_a"] == "A" and res["model_b"] == "B" and res["n"] == len(a)
    assert res["p_mcnemar"] < 1e-4 and res["p_bootstrap"] < 0.01 and res["ci_low"] > 0.05
    assert res["ci_low"] <= res["weighted_diff"] <= res["ci_high"]
    same = compare_models(a, a.assign(model="A2"), n_boot=500).iloc[0]
    assert same["weighted_diff"] == 0 and same["ci_low"] == 0 == same["ci_high"] and same["p_mcnemar"] == 1


def test_paired_bootstrap_type_one_error():
    """Two exchangeable models (same accuracy, answers correlated through the image): p < 0.05 in ~5%."""
    reps, hits = 300, 0
    for r in range(reps):
        base = simulate_scored(n_clusters=120, class_accuracy=(0.6, 0.6, 0.6), cluster_effect=0.2, seed=20_000 + r)
        rng = np.random.default_rng(r)
        # both models share the image effect: answer correctly with prob 0.6 +/- 0.2 per image, independently
        prob = np.where(base["correct"].to_numpy() == 1, 0.8, 0.4)
        a = base.assign(correct=(rng.random(len(base)) < prob).astype(int), model="A")
        b = base.assign(correct=(rng.random(len(base)) < prob).astype(int), model="B")
        hits += compare_paired(align_items(a, b), n_boot=400, seed=r)["p_bootstrap"] < 0.05
    rate = hits / reps
    assert rate <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / reps) + 0.01, rate


def test_item_set_mismatch_lists_the_difference():
    a, b = _pair()
    with pytest.raises(ItemSetMismatchError) as exc:
        compare_models(a, b.iloc[5:])
    msg = str(exc.value)
    assert "5 only in A" in msg and "0 only in B" in msg and "T-0" in msg
    assert isinstance(exc.value, DataError) and exc.value.only_a[:2] == ["T-0", "T-1"]
    b2 = b.copy()
    b2.loc[0, "gold"] = "other"
    with pytest.raises(DataError, match="different gold"):
        align_items(a, b2)
    with pytest.raises(DataError, match="duplicate"):
        align_items(pd.concat([a, a]), b)


def test_finetuned_vs_best_zero_shot_picks_the_best_baseline_per_topic():
    parts = []
    for topic, accs in (("T1", (0.9, 0.5, 0.4)), ("T2", (0.6, 0.3, 0.55))):
        base = simulate_scored(n_clusters=150, class_accuracy=(accs[0],) * 3, model="ft", topic=topic, seed=1)
        rng = np.random.default_rng(hash(topic) % 1000)
        parts.append(base)
        for m, acc in zip(("zs1", "zs2"), accs[1:]):
            parts.append(base.assign(model=m, correct=(rng.random(len(base)) < acc).astype(int)))
    res = finetuned_vs_best_zero_shot(pd.concat(parts), "ft", ["zs1", "zs2"], n_boot=500).set_index("topic")
    assert res.loc["T1", "best_zero_shot"] == "zs1" and res.loc["T2", "best_zero_shot"] == "zs2"
    assert res.loc["T1", "weighted_diff"] > 0.3 and res.loc["T1", "p_bootstrap_holm"] < 0.01
    with pytest.raises(DataError, match="not present"):
        finetuned_vs_best_zero_shot(pd.concat(parts), "ft", ["nope"])


def test_mde_gives_the_stated_power():
    """At delta = MDE the one-sided 5% test (critical value from the exact null) rejects ~80% of the time."""
    df = simulate_scored(n_clusters=300, class_probs=(0.7, 0.2, 0.1), n_options=(2, 4), random_guesser=True, seed=2)
    gold, rp = df["gold"], df["random_p"].to_numpy()
    mde = mde_for_items(gold, rp)
    crit = np.quantile(simulate_null(gold, rp, n_sim=20000, seed=0), 0.95)
    rng = np.random.default_rng(1)
    w = class_weights(gold)
    reps = 4000
    alt = (rng.random((reps, len(df))) < np.clip(rp + mde, 0, 1)) @ w
    power = np.mean(alt > crit)
    assert power == pytest.approx(0.8, abs=3 * math.sqrt(0.16 / reps) + 0.02), (mde, power)


def test_minimum_detectable_effect_table():
    balanced = simulate_scored(n_clusters=300, class_probs=(1, 1, 1), topic="Bal", seed=1)
    skewed = simulate_scored(n_clusters=300, class_probs=(0.9, 0.08, 0.02), topic="Skew", seed=1)
    small = simulate_scored(n_clusters=30, class_probs=(1, 1, 1), topic="Small", seed=1)
    df = pd.concat([balanced, skewed, small, balanced.assign(model="other")])  # same items twice: de-duplicated
    res = minimum_detectable_effect(df, cluster="record_id").set_index("topic")
    assert res.loc["Bal", "n"] == len(balanced)
    assert res.loc["Skew", "mde"] > res.loc["Bal", "mde"]  # rare classes get large weights
    assert res.loc["Small", "mde"] > res.loc["Bal", "mde"]
    assert res.loc["Bal", "random_guess"] == pytest.approx(1 / 3)
    clustered = minimum_detectable_effect(df, icc=0.3, cluster="record_id").set_index("topic")
    assert clustered.loc["Bal", "design_effect"] == pytest.approx(1.6)
    assert clustered.loc["Bal", "mde"] > res.loc["Bal", "mde"]


def test_icc_anova_recovers_a_known_intra_cluster_correlation_and_feeds_the_power_table():
    """Measured: the power table assumed independent items. The ICC of answers within a patient, estimated
    by one-way ANOVA, inflates the detectable difference through the design effect."""
    from mammovqa.stats.power import icc_anova

    rng = np.random.default_rng(0)
    k, m = 2000, 4
    p = np.where(rng.random(k) < 0.5, 0.3, 0.7)  # cluster-level prob.: ICC = var(p) / (pbar(1-pbar)) = 0.16
    y = (rng.random((k, m)) < p[:, None]).astype(int).ravel()
    assert icc_anova(y, np.repeat(np.arange(k), m)) == pytest.approx(0.16, abs=0.03)
    assert icc_anova(rng.integers(0, 2, 4000), np.repeat(np.arange(1000), 4)) == pytest.approx(0.0, abs=0.03)
    df = simulate_scored(n_clusters=300, class_probs=(1, 1, 1), topic="Bal", seed=1)
    plain = minimum_detectable_effect(df).set_index("topic")
    clustered = minimum_detectable_effect(df, icc={"Bal": 0.2}).set_index("topic")
    assert clustered.loc["Bal", "items_per_cluster"] == pytest.approx(6.0)
    assert clustered.loc["Bal", "design_effect"] == pytest.approx(2.0)
    assert clustered.loc["Bal", "mde"] > plain.loc["Bal", "mde"]
