"""Report metrics: the interval belongs to the number reported (corpus BLEU resampled by patient)."""

import numpy as np
import pytest

from mammovqa.eval.report_metrics import bleu, bleu_stats, coco_tokenize, corpus_bleu_from_sums, score_reports
from mammovqa.stats.report_intervals import cluster_bootstrap_ci, interval, patient_resample

GEN = ["no mass seen . birads 1", "mass in upper outer quadrant birads 4", "", "dense breasts birads 2",
       "normal study", "calcifications left breast birads 3"]
REF = ["no mass . birads 1", "spiculated mass upper outer quadrant . birads 5", "fatty breasts birads 1",
       "dense breasts . birads 2", "scattered fibroglandular tissue . birads 1", "calcifications in the left breast ."]


def test_corpus_bleu_from_sufficient_statistics_equals_pycocoevalcap():
    tg, tr = [coco_tokenize(x) for x in GEN * 3], [coco_tokenize(x) for x in REF * 3]
    np.testing.assert_allclose(corpus_bleu_from_sums(bleu_stats(tg, tr).sum(axis=0)), bleu(tg, tr)[0], rtol=1e-9)


def test_corpus_bleu_interval_contains_its_estimate():
    """Measured: fine-tuned METEOR 0.300 with CI [0.3006, 0.329], three more alike: the value was the corpus
    statistic, the CI that of the per-pair mean. Here the per-pair-mean CI excludes corpus BLEU-4, and the
    corpus bootstrap's interval contains it."""
    gens, refs = GEN * 40, REF * 40
    patients = [f"p{i // 2}" for i in range(len(refs))]
    sc = score_reports(gens, refs, patient_ids=patients, meteor="none", resample=patient_resample(patients, 1000, 0))
    value = sc.corpus["bleu_4"]
    old = cluster_bootstrap_ci(sc.per_pair["bleu_4"].to_numpy(float), patients, n_boot=1000, seed=0)
    assert not old["ci_low"] <= value <= old["ci_high"]
    new = interval(sc.corpus_boot["bleu_4"])
    assert new["ci_low"] <= value <= new["ci_high"]
    again = score_reports(gens, refs, patient_ids=patients, meteor="none",
                          resample=patient_resample(patients, 1000, 0))
    np.testing.assert_array_equal(again.corpus_boot["bleu_4"], sc.corpus_boot["bleu_4"])


def test_a_resample_of_other_pairs_is_refused():
    with pytest.raises(ValueError, match="codes 3 pairs, but 6 pairs are scored"):
        score_reports(GEN, REF, meteor="none", resample=patient_resample(["a", "b", "c"], 10, 0))
