"""Report metrics on hand-checkable cases, bad input, missing backends, and their clustered intervals
(``stats.report_intervals``)."""

import random

import numpy as np
import pytest
from rouge_score import rouge_scorer

from mammovqa.eval import report_metrics as rm
from mammovqa.eval.report_metrics import (
    MissingBackendError,
    clinical_scores,
    coco_tokenize,
    lcs_length,
    rouge_l,
    score_reports,
)
from mammovqa.stats.report_intervals import (
    cluster_bootstrap_ci,
    compare_with_baselines,
    paired_cluster_bootstrap,
    patient_resample,
)

REF = ("Breast Composition: ACR C: the breasts are heterogeneously dense.\nBIRADS: 4b\n"
       "Findings: There is an irregular mass in the upper outer quadrant of the left breast, measuring 14 mm. "
       "No suspicious calcifications.\nImpression: Moderate suspicion for malignancy. BI-RADS 4B.")


def test_identical_texts_score_one_without_meteor():
    s = score_reports([REF, REF], [REF, REF], meteor="none")
    for k in ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "rouge_l"):
        assert s.corpus[k] == pytest.approx(1.0, abs=1e-6), k
        assert np.allclose(s.per_pair[k], 1.0, atol=1e-6)
    assert s.corpus["birads_acc"] == 1.0 and s.corpus["density_acc"] == 1.0 and s.corpus["finding_f1"] == 1.0
    assert "meteor" not in s.corpus
    assert s.implementations["meteor"] == "not computed"


def test_hand_checked_bleu_and_rouge():
    # hypothesis "a b c d", reference "a b x d": 3/4 unigrams, LCS 3 -> ROUGE-L F = 0.75
    s = score_reports(["a b c d"], ["a b x d"], meteor="none")
    assert s.corpus["bleu_1"] == pytest.approx(0.75, abs=1e-6)
    assert s.corpus["rouge_l"] == pytest.approx(0.75)
    assert s.per_pair["bleu_2"].iloc[0] == pytest.approx(np.sqrt(0.75 * 1 / 3), abs=1e-6)


def test_rouge_matches_rouge_score_package():
    sc = rouge_scorer.RougeScorer(["rougeL"])
    rng = random.Random(0)
    words = "the mass is seen in UOQ of left breast, no calcifications BI-RADS 4b é 12mm".split()
    hyps = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 30))) for _ in range(200)]
    refs = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 30))) for _ in range(200)]
    ours = rouge_l(hyps, refs)
    theirs = [sc.score(r, h)["rougeL"].fmeasure for h, r in zip(hyps, refs)]
    assert np.allclose(ours, theirs, atol=1e-12)


def test_lcs_bit_parallel_against_dynamic_programming():
    rng = random.Random(1)
    for _ in range(200):
        a = [rng.choice("abcd") for _ in range(rng.randint(0, 15))]
        b = [rng.choice("abcd") for _ in range(rng.randint(0, 15))]
        table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
        for i in range(1, len(a) + 1):
            for j in range(1, len(b) + 1):
                table[i][j] = table[i - 1][j - 1] + 1 if a[i - 1] == b[j - 1] else max(table[i - 1][j], table[i][j - 1])
        assert lcs_length(a, b) == table[-1][-1]


def test_missing_birads_generation_is_wrong_and_reference_without_is_excluded():
    gens = ["Findings: a mass.", REF, REF]
    refs = [REF, REF, "Findings: a mass. No assessment given."]
    s = score_reports(gens, refs, meteor="none")
    assert list(s.per_pair["birads_correct"].iloc[:2]) == [0.0, 1.0]
    assert np.isnan(s.per_pair["birads_correct"].iloc[2])
    assert s.corpus["birads_acc"] == pytest.approx(0.5)
    assert s.counts["reference_without_birads"] == 1 and s.counts["generation_without_birads"] == 1
    row = s.table().set_index("key").loc["birads_acc"]
    assert row["n"] == 2 and "excluded" in row["note"]


def test_subcategory_exact_vs_collapsed():
    c = clinical_scores(["BI-RADS 4a"], ["BI-RADS 4c"])
    assert c["birads_correct"].iloc[0] == 0.0 and c["birads4_correct"].iloc[0] == 1.0


def test_finding_precision_recall():
    c = clinical_scores(["A mass and calcifications. No asymmetry."], ["A mass and an asymmetry."])
    row = c.iloc[0]
    assert (row.finding_tp, row.finding_fp, row.finding_fn) == (1, 1, 1)
    assert row.finding_f1 == pytest.approx(0.5)


def test_bad_input_never_crashes():
    gens = ["", None, "Ünïcödé ré pört 乳腺 BI-RADS 2", "BIRADS: 4", "truncated mid-sen"]
    refs = [REF, REF, "BIRADS 2 — sein normal", "", REF]
    s = score_reports(gens, refs, meteor="none")
    assert s.counts["empty_generation"] == 2
    assert s.counts["non_ascii_generation"] == 1 and s.counts["non_ascii_reference"] == 1
    assert s.counts["unterminated_generation"] == 3
    assert s.per_pair.loc[0, "bleu_4"] == 0 and s.per_pair.loc[0, "rouge_l"] == 0
    assert s.per_pair.loc[2, "birads_correct"] == 1.0
    assert np.isfinite(s.per_pair[["bleu_1", "rouge_l", "cider"]].to_numpy()).all()
    assert coco_tokenize("BI-RADS 4b, 12mm.") == "bi rads 4b 12mm"
    with pytest.raises(ValueError, match="generations vs"):
        score_reports(["a"], [], meteor="none")


def test_meteor15_error_names_java_and_alternative(monkeypatch):
    monkeypatch.setattr(rm.shutil, "which", lambda name: None)
    with pytest.raises(MissingBackendError, match=r"Java 17.*openjdk-17-jre-headless.*--meteor nltk"):
        score_reports(["a"], ["a"], meteor="1.5")


def test_nltk_meteor_without_wordnet_names_the_apt_packages(monkeypatch):
    def missing():
        raise LookupError("wordnet")

    monkeypatch.setattr(rm, "_nltk_data_wordnet", missing)
    monkeypatch.setattr(rm, "WORDNET_DIRS", ())
    with pytest.raises(MissingBackendError, match="wordnet-base wordnet-sense-index"):
        score_reports(["a b"], ["a b"], meteor="nltk")


@pytest.mark.skipif(rm.shutil.which("java") is None, reason="METEOR 1.5 needs Java")
def test_meteor15_batched_matches_reference_behaviour():
    gens = [REF, "the breasts are dense", REF, ""]
    refs = [REF, "the breasts are heterogeneously dense", REF, "no mass"]
    corpus, per = rm.meteor15([coco_tokenize(g) for g in gens], [coco_tokenize(r) for r in refs])
    assert per[0] == pytest.approx(1.0, abs=0.01) and per[2] == per[0]  # duplicate pair scored once, reported twice
    assert 0 < per[1] < 1 and per[3] == 0
    assert 0 < corpus < 1
    assert "METEOR 1.5" in rm._implementations("1.5")["meteor"]


def test_cluster_bootstrap_deterministic_and_clustered():
    rng = np.random.default_rng(0)
    clusters = np.repeat([f"p{i}" for i in range(30)], 4)
    x = np.repeat(rng.normal(size=30), 4) + rng.normal(scale=0.01, size=120)  # patients drive the variance
    a = cluster_bootstrap_ci(x, clusters, n_boot=500, seed=1)
    assert a == cluster_bootstrap_ci(x, clusters, n_boot=500, seed=1)
    naive = cluster_bootstrap_ci(x, [str(i) for i in range(120)], n_boot=500, seed=1)
    assert (a["ci_high"] - a["ci_low"]) > 1.5 * (naive["ci_high"] - naive["ci_low"])
    assert a["ci_low"] < a["mean"] < a["ci_high"] and a["clusters"] == 30


def test_paired_bootstrap_detects_a_difference_and_drops_nans():
    clusters = [f"p{i // 2}" for i in range(200)]
    a = np.linspace(0.5, 0.9, 200)
    b = a - 0.1
    b[::7] = np.nan
    res = paired_cluster_bootstrap(a, b, clusters, n_boot=500, seed=0)
    assert res["diff"] == pytest.approx(0.1) and res["p"] < 0.01 and res["n"] == 200 - len(range(0, 200, 7))
    same = paired_cluster_bootstrap(a, a, clusters, n_boot=500, seed=0)
    assert same["diff"] == 0 and same["p"] == 1.0


def test_compare_with_baselines_table():
    refs = [REF] * 6
    model = score_reports([REF] * 6, refs, ids=list("abcdef"), patient_ids=list("aabbcc"), meteor="none")
    base = score_reports(["BIRADS: 1"] * 6, refs, ids=list("abcdef"), patient_ids=list("aabbcc"), meteor="none")
    table = compare_with_baselines(model, {"majority": base}, metrics=("rouge_l", "birads_acc"), n_boot=200)
    assert list(table["metric"]) == ["rouge_l", "birads_acc"]
    assert (table["diff"] > 0).all() and set(table["clusters"]) == {3}


def test_comparison_values_are_the_metrics_table_values():
    """Measured: report_comparisons.csv gave the fine-tuned finding F1 as a mean of per-pair F1 while
    report_metrics.csv gave the micro F1 (and corpus BLEU/METEOR vs sentence means): two numbers for one
    quantity. Every compared value now equals the table's value, and each interval brackets its difference."""
    gens = ["mass in the left breast. BI-RADS 4", "no mass. BI-RADS 1", "calcification right. BI-RADS 3",
            "normal. BI-RADS 1", "mass and calcification left. BI-RADS 5", "BI-RADS 2"] * 8
    refs = ["mass in the left breast. BI-RADS 5", "no mass. BI-RADS 1", "architectural distortion. BI-RADS 4",
            "normal. BI-RADS 1", "mass left. BI-RADS 5", "calcification. BI-RADS 2"] * 8
    ids = [str(i) for i in range(len(refs))]
    pats = [f"p{i // 3}" for i in range(len(refs))]
    model = score_reports(gens, refs, ids, pats, meteor="none", resample=patient_resample(pats, 300, 1))
    base = score_reports(["normal. BI-RADS 1"] * len(refs), refs, ids, pats, meteor="none",
                         resample=patient_resample(pats, 300, 1))
    table = compare_with_baselines(model, {"normal": base}, n_boot=300, seed=1).set_index("metric")
    assert {"finding_f1", "bleu_4", "rouge_l", "birads_acc"} <= set(table.index)
    for key, row in table.iterrows():
        assert row["model"] == model.corpus[key] and row["baseline_value"] == base.corpus[key], key
        assert row["diff"] == pytest.approx(model.corpus[key] - base.corpus[key]), key
        assert row["ci_low"] <= row["diff"] + 1e-9 <= row["ci_high"] + 2e-9, key
    pair_mean_f1 = float(model.per_pair["finding_f1"].mean())
    assert abs(pair_mean_f1 - model.corpus["finding_f1"]) > 0.05  # the two definitions really differ here
    assert table.loc["finding_f1", "statistic"].startswith("micro F1")


def test_report_figures(tmp_path):
    import pandas as pd

    from mammovqa.eval.report_metrics import birads_confusion
    from mammovqa.viz import save_figure
    from mammovqa.viz.reports import PUBLISHED_AMRG, birads_confusion_figure, metrics_bar_figure

    ref, gen = ["1", "1", "2", "4a", None], ["1", None, "2", "4b", "3"]
    mat = birads_confusion(ref, gen)
    assert list(mat.index) == ["1", "2", "4a", "4b"]  # the union of seen categories: a square matrix
    assert list(mat.columns) == ["1", "2", "4a", "4b", "none"]
    assert mat.loc["1", "none"] == 1 and mat.loc["4a", "4b"] == 1 and int(mat.to_numpy().sum()) == 4
    png, pdf = save_figure(birads_confusion_figure(ref, gen), tmp_path / "confusion", note="phantom")
    assert png.stat().st_size > 0 and pdf.exists()
    results = pd.DataFrame([
        {"system": "model", "metric": "ROUGE-L", "value": 0.6, "source": "phantom", "ci_low": 0.55, "ci_high": 0.65},
        {"system": "mode report", "metric": "ROUGE-L", "value": 0.4, "source": "phantom", "ci_low": 0.3,
         "ci_high": 0.5},
        {"system": "model", "metric": "BI-RADS accuracy", "value": 0.7, "source": "phantom", "ci_low": 0.6,
         "ci_high": 0.8},
    ])
    fig = metrics_bar_figure(results)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["model (phantom)", "mode report (phantom)", "AMRG paper (real DMID, published)"]
    heights = [round(p.get_height(), 4) for p in fig.axes[0].patches]
    assert PUBLISHED_AMRG["ROUGE-L"] in heights and PUBLISHED_AMRG["BI-RADS accuracy"] in heights
    save_figure(fig, tmp_path / "bars")
