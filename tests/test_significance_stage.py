"""The significance stage's steps (notebook 05 calls these; the notebook itself only wires and writes).

Measured first: notebook 05 held ~30 lines of logic in one cell (plan overrides, tables, notes, the ICC map for
power, the variables) that no test reached, and the tables behind its figures had no ``category`` column, so a
reader (and the figure styles) could not tell trained models from baselines.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from mammovqa import analysis
from mammovqa.outputs import read_variables, write_variables
from mammovqa.paths import RunPaths
from mammovqa.stats.plan import load_plan, methods_text

sys.path.insert(0, str(Path(__file__).parent))
from test_headline_intervals import CS, FT, ZS, _study  # noqa: E402


@pytest.fixture(scope="module")
def stage():
    plan, overrides = analysis.significance_plan(None, n_boot=200)
    scored = analysis.with_families(analysis.with_exam_topics(_study(n_patients=30, exam_topic=True)), plan)
    tests = analysis.significance_tests(scored, plan, seed=0)
    return plan, overrides, scored, tests


def test_plan_overrides_are_applied_and_recorded():
    plan, changed = analysis.significance_plan(None)
    assert changed == {} and plan == load_plan()
    plan, changed = analysis.significance_plan(None, cluster="record_id", margin=0.03, n_boot=None)
    assert plan.cluster_column == "record_id" and plan.cluster == "record_id" and plan.margin_absolute == 0.03
    assert set(changed) == {"cluster", "cluster_column", "margin_absolute"}


def test_tables_behind_the_figures_carry_the_model_category(stage):
    _plan, _o, scored, tests = stage
    assert list(tests.columns[:3]) == ["model", "category", "topic"]
    assert dict(zip(tests["model"], tests["category"])) == {FT: "fine-tuned", ZS: "architecture check",
                                                           CS: "closed-set"}
    acc = analysis.with_category(pd.DataFrame({"model": [FT, CS], "x": [1, 2], "category": ["stale", "stale"]}))
    assert list(acc.columns) == ["model", "category", "x"] and list(acc["category"]) == ["fine-tuned", "closed-set"]
    assert list(analysis.with_category(pd.DataFrame({"topic": ["a"]})).columns) == ["topic"]


def test_written_tables_and_variables_describe_the_plan_used(stage, tmp_path):
    plan, overrides, _scored, tests = stage
    run = RunPaths("phantom", "smoke", 0, root=tmp_path)
    analysis.write_significance_tables(run, tests, plan, "Phantom.")
    full = pd.read_csv(run.tables / "significance_all.csv")
    assert len(full) == len(tests) and "category" in full.columns
    md = (run.tables / "significance.md").read_text()
    assert "200 resamples of `patient_key`" in md and "Holm over the confirmatory family" in md
    values = analysis.significance_variables(tests, plan, overrides)
    write_variables(run, "significance", values)
    got = read_variables(run)
    conf = tests[(tests["family"] == "confirmatory") & ~tests["verdict"].str.startswith("not testable")]
    assert got["significance_n_tests"] == str(len(conf))
    assert got["significance_n_clusters_max"] == "30" and got["significance_cluster_key"] == "patient_key"
    assert "over 200 resamples of patients" in got["significance_methods_text"]
    assert "(30 clusters per model and topic in this run)" in got["significance_methods_text"]


def test_methods_text_gives_the_range_of_clusters_when_it_varies():
    text = methods_text(load_plan(), (12, 40), 3, 1, 0)
    assert "(12 to 40 clusters per model and topic in this run)" in text


def test_power_uses_the_clusters_of_the_plan_and_the_fine_tuned_icc(stage):
    plan, _o, scored, _t = stage
    power, note = analysis.power_table(scored, plan, FT, seed=0)
    assert set(power["topic"]) == set(scored["topic"])
    lat = power.set_index("topic").loc["Laterality"]
    assert lat["n"] == 60 and lat["items_per_cluster"] == pytest.approx(2.0)  # items de-duplicated across models
    assert lat["icc"] > 0 and lat["design_effect"] > 1  # patients are easy or hard on every item: clustered
    assert "`patient_key`" in note and FT in note and "patient-level simulation" in note
    assert lat["n_clusters"] == 30 and lat["no_information"] == 0.5 and 0 < lat["mde_simulated"] < 0.5


def test_paired_table_compares_with_the_comparator_on_the_plans_clusters(stage):
    plan, _o, scored, _t = stage
    paired, note = analysis.paired_table(scored, plan, FT, seed=0)
    assert set(paired["best_zero_shot"]) == {ZS} and (paired["cluster_key"] == "patient_key").all()
    assert (paired["n_clusters"] == 30).all() and "untrained architecture check" in note
    empty, why = analysis.paired_table(scored[scored["model"] != ZS], plan, FT, seed=0)
    assert empty.empty and "No comparator" in why
