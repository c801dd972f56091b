"""The analysis plan: parsed from docs/analysis-plan.md, and the Methods text says what the parameters say."""

import re

import pytest

from mammovqa.errors import ConfigError
from mammovqa.stats.plan import default_plan_path, load_plan, methods_text


def test_committed_plan_parses_with_the_documented_values():
    plan = load_plan()
    assert default_plan_path().name == "analysis-plan.md"
    assert plan.cluster_column == "patient_key" and plan.interval == "percentile" and plan.correction == "holm"
    assert plan.margin_for(0.5) == pytest.approx(0.1) and plan.margin_for(1 / 1023) == pytest.approx(0.01)
    assert plan.family("fine-tuned") == "confirmatory" and plan.family("baseline") == "descriptive"
    with pytest.raises(ConfigError, match="in no family"):
        plan.family("something else")


def test_methods_text_is_generated_from_the_parameters_used():
    """Measured: the Methods said "bias-corrected and accelerated ... resample patients" and "a pre-specified
    margin of 5 points" with Benjamini-Hochberg, while every call used percentile intervals over record_id,
    an absolute margin and Holm. The text now follows the parameters, including overrides."""
    plan = load_plan()
    text = methods_text(plan, (12, 56), 40, 30, 3)
    assert f"{plan.n_boot} resamples of patients" in text and "percentile cluster bootstrap" in text
    assert "bias-corrected" not in text and "Benjamini" not in text
    assert "margins of 20% of the no-information level (at least 1 point)" in text
    assert "12 to 56 clusters" in text and "the 40 testable pairs" in text and "3 pairs" in text
    assert text.endswith("before the run.")
    other = plan.with_overrides(interval="bca", n_boot=500, cluster="record_id", cluster_column="record_id",
                                margin_absolute=0.03)
    text2 = methods_text(other, (5, 9), 1, 0, 0, other.overrides(plan))
    assert "bias-corrected and accelerated (BCa) cluster bootstrap interval over 500 resamples of images" in text2
    assert "a margin of 3 points" in text2
    assert re.search(r"this run overrode cluster, cluster column, interval, margin absolute, n boot\.$", text2)


def test_plan_errors_name_the_file_and_key(tmp_path):
    bad = tmp_path / "plan.md"
    bad.write_text("# plan\n\n```yaml\ncluster: patient\n```\n")
    with pytest.raises(ConfigError, match="plan.md: margin: missing"):
        load_plan(bad)
    src = default_plan_path().read_text().replace("interval: percentile", "interval: studentized")
    bad.write_text(src)
    with pytest.raises(ConfigError, match="interval"):
        load_plan(bad)


def test_significance_stage_functions_on_a_simulated_run():
    """What notebook 05 runs: patient key from dataset family + patient id, families from model categories,
    the printed table (CI and clusters beside every estimate) and the Results sentence from the counts."""
    import pandas as pd

    from mammovqa import analysis
    from mammovqa.stats.simulate import simulate_scored

    parts = []
    for i, (model, acc) in enumerate((("tiny-vlm-mammo", 0.9), ("r50-mammo", 0.45), ("baseline/prior", None))):
        for j, topic in enumerate(("ACR", "View")):
            kw = {"image_blind": (1, 0, 0)} if acc is None else {"class_accuracy": (acc,) * 3}
            df = simulate_scored(n_clusters=120, items_per_cluster=2, class_probs=(1, 1, 1), model=model,
                                 topic=topic, seed=10 * i + j, **kw).drop(columns=["patient_key"])
            parts.append(df.assign(dataset=["Phantom-CBIS-breast", "Phantom-CBIS-finding"][j]))
    scored = pd.concat(parts, ignore_index=True)
    plan = load_plan()
    tests = analysis.significance_tests(scored, plan, seed=0)
    assert set(tests["cluster_key"]) == {"patient_key"}
    assert (tests["n_clusters"] == 60).all()  # 240 items, 2 images per patient, 2 items per image
    assert set(tests.loc[tests["model"] == "baseline/prior", "family"]) == {"descriptive"}
    assert tests.loc[tests["model"] == "baseline/prior", "verdict"].str.startswith("degenerate").all()
    assert set(tests.loc[tests["model"] == "tiny-vlm-mammo", "verdict"]) == {"above no-information"}
    shown = analysis.significance_display(tests)
    assert len(shown) == 4 and shown["n (clusters)"].str.endswith("(60)").all()
    assert shown["weighted acc. [95% CI]"].str.match(r"^\d+\.\d \[\d+\.\d, \d+\.\d\]$").all()
    counts = analysis.significance_counts(tests)
    assert counts["n_confirmatory"] == 4 and counts["n_degenerate"] == 2 and counts["n_above"] >= 2
    text = analysis.significance_results_text(counts, plan.alpha)
    assert text.startswith("Of 4 confirmatory model-topic pairs, ") and f"{counts['n_above']} were above" in text
