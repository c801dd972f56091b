"""Headline means with patient-clustered intervals (issue 19, "every estimate with its interval").

Measured first: the abstract quoted the fine-tuned model's mean weighted accuracy, its gains over random and over
the comparator, and the external gains as bare point estimates, and the fine-tuning table's "mean" row averaged
the exam-level topics in, so it was not the number the text quoted. Here: the intervals come from one clustered
bootstrap that draws every patient once for all topics (and both models), the estimates are the metrics tables'
cells, and the rendered sentences carry the same numbers as the tables.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from mammovqa import analysis, paper
from mammovqa.paths import PAPER_DIR, RunPaths
from mammovqa.stats.bootstrap import cluster_bootstrap, cluster_bootstrap_many
from mammovqa.stats.means import Block, contrast_intervals, format_interval, mean_blocks
from mammovqa.stats.plan import load_plan
from mammovqa.stats.weighted import cluster_stats, wacc_from_sums

TOPICS = {"Laterality": 2, "ACR": 4, "Pathology (breast)": 3}
FT, ZS, CS = "tiny-vlm-mammo", "tiny-vlm", "r50-mammo"


def _study(n_patients: int = 40, seed: int = 0, effect: float = 0.25, acc: dict[str, float] | None = None,
           split: str = "test", datasets: tuple[str, ...] = ("Phantom-A",), exam_topic: bool = False) -> pd.DataFrame:
    """Scored items of three models on shared patients: each patient has a +/- ``effect`` on every item of every
    topic and every model (a hard or an easy woman), so topic accuracies and models are correlated through her."""
    rng = np.random.default_rng(seed)
    acc = acc or {FT: 0.7, ZS: 0.4, CS: 0.55}
    e = np.where(rng.random(n_patients) < 0.5, -effect, effect)
    rows = []
    for p in range(n_patients):
        ds = datasets[p % len(datasets)]
        for t, k in TOPICS.items():
            for i in range(2):
                gold = f"c{rng.integers(k)}"
                for m, a in acc.items():
                    ok = int(rng.random() < np.clip(a + e[p], 0, 1))
                    rows.append({"id": f"{split}-{p}-{t}-{i}", "model": m, "topic": t, "gold": gold,
                                 "pred": gold if ok else "other", "correct": ok, "random_p": 1.0 / k,
                                 "dataset": ds, "patient_id": f"p{p}", "record_id": f"r{p}-{i}",
                                 "split": split, "level": "image", "matcher": "strict", "missing": False})
        if exam_topic:
            for m, a in acc.items():
                ok = int(rng.random() < a)
                rows.append({"id": f"{split}-{p}-exam", "model": m, "topic": "ACR", "gold": "c0",
                             "pred": "c0" if ok else "x", "correct": ok, "random_p": 0.25, "dataset": ds,
                             "patient_id": f"p{p}", "record_id": f"e{p}", "split": split, "level": "exam",
                             "matcher": "strict", "missing": False})
    out = pd.DataFrame(rows)
    out["patient_key"] = "sim::" + out["patient_id"]
    return out


def test_many_statistics_share_one_draw_and_match_the_single_bootstrap():
    rng = np.random.default_rng(1)
    rows = np.hstack([rng.integers(0, 3, (50, 2)), rng.integers(3, 5, (50, 2))]).astype(float)
    one = cluster_bootstrap(rows, wacc_from_sums, n_boot=300, seed=7, require=np.array([2, 3]))
    many = cluster_bootstrap_many(rows, {"a": wacc_from_sums, "b": lambda s: 2 * wacc_from_sums(s)}, n_boot=300,
                                  seed=7, require=np.array([2, 3]))
    np.testing.assert_array_equal(one.boot, many["a"].boot)
    np.testing.assert_allclose(many["b"].boot, 2 * many["a"].boot)
    assert (one.ci_low, one.ci_high) == (many["a"].ci_low, many["a"].ci_high)


def test_estimates_are_the_metrics_table_cells():
    scored = _study(exam_topic=True)
    table = analysis.metrics(scored)
    ov = analysis.overall_rows(table)
    ov = ov[(ov["split"] == "test") & (ov["level"] == "image")].set_index("model")
    iv = analysis.finetune_intervals(scored, FT, ZS, plan=load_plan(), seed=0, baseline=CS).set_index("quantity")
    assert iv.loc["weighted_mean", "estimate"] == pytest.approx(ov.loc[FT, "weighted_accuracy"], abs=1e-12)
    assert iv.loc["absolute_mean", "estimate"] == pytest.approx(ov.loc[FT, "accuracy"], abs=1e-12)
    assert iv.loc["gain_over_random", "estimate"] == pytest.approx(
        ov.loc[FT, "weighted_accuracy"] - ov.loc[FT, "random_guess"], abs=1e-12)
    assert iv.loc["gain_over_zero_shot", "estimate"] == pytest.approx(
        ov.loc[FT, "weighted_accuracy"] - ov.loc[ZS, "weighted_accuracy"], abs=1e-12)
    assert iv.loc["best_baseline_weighted", "estimate"] == pytest.approx(ov.loc[CS, "weighted_accuracy"], abs=1e-12)
    assert (iv["n_clusters"] == 40).all() and (iv["cluster_key"] == "patient_key").all()
    assert (iv["ci_low"] <= iv["estimate"]).all() and (iv["estimate"] <= iv["ci_high"]).all()
    assert (iv["ci_high"] > iv["ci_low"]).all()


def test_fine_tuning_table_mean_row_is_the_quoted_mean_not_one_with_exam_topics():
    """Measured: the table's "mean" row averaged the exam-level topics in, the text did not."""
    scored = _study(exam_topic=True)
    table = analysis.metrics(scored)
    wide = analysis.wide_topic_table(table, "test", None, "strict", models=[FT, ZS]).set_index("topic")
    assert "ACR (exam)" in wide.index and "mean" not in wide.index
    ov = analysis.overall_rows(table)
    ov = ov[(ov["split"] == "test") & (ov["level"] == "image")].set_index("model")
    assert wide.loc[analysis.MEAN_ROW, FT] == pytest.approx(100 * ov.loc[FT, "weighted_accuracy"], abs=0.005)


def test_each_headline_number_in_the_rendered_text_equals_its_table_cell(tmp_path):
    scored = _study(exam_topic=True)
    table = analysis.metrics(scored)
    wide = analysis.wide_topic_table(table, "test", None, "strict", models=[FT, ZS, CS]).set_index("topic")
    iv = analysis.finetune_intervals(scored, FT, ZS, plan=load_plan(), seed=3, baseline=CS)
    shown = analysis.intervals_display(iv, analysis.FINETUNE_LABELS).set_index("quantity")
    variables = {f"finetune_{k}": v for k, v in analysis.interval_variables(iv).items()}
    variables.update({"zeroshot_n_models_run": "0", "zeroshot_random_weighted": "25.0"})
    variables.update(paper.run_variables(RunPaths("phantom", "smoke", 0, root=tmp_path), variables))
    source = (PAPER_DIR / "index.qmd").read_text(encoding="utf-8")
    text, _ = paper.substitute_variables(source, variables, allow_missing=True)
    label = analysis.FINETUNE_LABELS
    for m in re.finditer(r"mean weighted accuracy of ([\d.]+)% \((\d+)% CI ([\d.]+(?:-| to )[\d.-]+)", text):
        value, level, ci = m.groups()
        assert value == f'{shown.loc[label["weighted_mean"], "estimate"]:.1f}'
        assert ci == shown.loc[label["weighted_mean"], f"{level}% CI"]
        assert float(value) == pytest.approx(wide.loc[analysis.MEAN_ROW, FT], abs=0.051)
    assert len(re.findall(r"mean weighted accuracy of [\d.]+% \(\d+% CI", text)) == 2  # abstract and Results
    m = re.search(r"absolute accuracy of ([\d.]+)% \(95% CI ([^)]+)\)", text)
    assert m and m.groups() == (f'{shown.loc[label["absolute_mean"], "estimate"]:.1f}',
                                shown.loc[label["absolute_mean"], "95% CI"])
    gain = shown.loc[label["gain_over_zero_shot"]]
    assert (f"{abs(gain['estimate']):.1f} points {'above' if gain['estimate'] > 0 else 'below'} the "
            f"untrained architecture check (no zero-shot model was available; 95% CI of the difference "
            f"{gain['95% CI']})") in text
    assert f"over {iv['n_clusters'].iloc[0]} patients" in text


def test_external_gains_are_the_dataset_means_of_the_external_table():
    scored = _study(split="external", datasets=("Ext-A", "Ext-B", "Ext-C"), seed=4)
    table = analysis.metrics(scored)
    ds = table[(table["split"] == "external") & (table["topic"] == "all") & (table["dataset"] != "all")]
    w = ds.pivot_table(index="dataset", columns="model", values="weighted_accuracy").mean()
    a = ds.pivot_table(index="dataset", columns="model", values="accuracy").mean()
    iv = analysis.external_intervals(scored, FT, ZS, plan=load_plan(), seed=0).set_index("quantity")
    assert iv.loc["weighted_gain", "estimate"] == pytest.approx(w[FT] - w[ZS], abs=1e-12)
    assert iv.loc["absolute_gain", "estimate"] == pytest.approx(a[FT] - a[ZS], abs=1e-12)
    assert iv.loc["weighted_gain", "n_groups"] == 3 * len(TOPICS)
    v = analysis.interval_variables(iv.reset_index())
    text = paper.external_text({f"external_{k}": x for k, x in v.items()} | {"zeroshot_n_models_run": "2"})
    assert f"(95% CI of the difference {v['weighted_gain_ci']})" in text and v["weighted_gain"].lstrip("-") in text
    assert analysis.external_intervals(scored, FT, None).empty


def test_a_model_minus_itself_has_a_zero_width_interval_because_the_draw_is_shared():
    scored = _study()
    ft = scored[scored["model"] == FT]
    blocks = mean_blocks(ft, "a", ("topic",)) + mean_blocks(ft.copy(), "b", ("topic",))
    out = contrast_intervals(blocks, {"d": {"a": 1.0, "b": -1.0}, "a": {"a": 1.0}}, n_boot=200, seed=0)
    d = out.set_index("quantity").loc["d"]
    assert d["estimate"] == 0 and d["ci_low"] == 0 and d["ci_high"] == 0
    assert out.set_index("quantity").loc["a", "ci_high"] > out.set_index("quantity").loc["a", "ci_low"]


def test_block_weights_give_the_nested_mean_and_unknown_terms_fail():
    df = pd.DataFrame({"dataset": ["A"] * 4 + ["B"] * 2, "topic": ["x", "x", "y", "y", "x", "x"],
                       "gold": list("ababab"), "correct": [1, 0, 1, 1, 0, 0], "patient_key": list("pqrstu")})
    blocks = mean_blocks(df, "t", ("dataset", "topic"))
    assert sorted(b.weight for b in blocks) == [0.25, 0.25, 0.5]
    assert isinstance(blocks[0], Block)
    est = contrast_intervals(blocks, {"m": {"t": 1.0}}, n_boot=100).loc[0, "estimate"]
    assert est == pytest.approx(0.5 * (0.5 * 0.5 + 0.5 * 1.0) + 0.5 * 0.0)
    with pytest.raises(ValueError, match="without blocks"):
        contrast_intervals(blocks, {"m": {"nope": 1.0}})
    assert format_interval({"ci_low": -0.042, "ci_high": 0.03}) == "-4.2 to 3.0"
    assert format_interval({"ci_low": 0.381, "ci_high": 0.435}) == "38.1-43.5"


def _simulated_mean_interval(seed: int, n_patients: int, effect: float, joint: bool) -> tuple[float, float]:
    """One study; the 95% interval of the mean over topics, either jointly resampled (one draw of patients for
    all topics) or, for contrast, with each topic resampled independently (what per-topic intervals imply)."""
    scored = _study(n_patients=n_patients, seed=seed, effect=effect, acc={FT: 0.6})
    if joint:
        r = contrast_intervals(mean_blocks(scored, "m", ("topic",)), {"m": {"m": 1.0}}, n_boot=400, seed=seed)
        return float(r.loc[0, "ci_low"]), float(r.loc[0, "ci_high"])
    boots = []
    for i, (_t, g) in enumerate(scored.groupby("topic")):
        cs = cluster_stats(g, "patient_key")
        boots.append(cluster_bootstrap(cs.matrix, wacc_from_sums, n_boot=400, seed=seed * 10 + i,
                                       require=cs.total_columns).boot)
    m = np.mean(boots, axis=0)
    return float(np.quantile(m, 0.025)), float(np.quantile(m, 0.975))


def test_joint_patient_resampling_covers_the_mean_over_topics_when_topics_share_patients():
    """Simulation: each woman is easy or hard on every topic (effect 0.3), so topic accuracies are correlated.
    The true mean weighted accuracy is 0.6. Joint resampling keeps ~95% coverage; resampling topics
    independently ignores the correlation and under-covers."""
    reps = 120
    joint = [_simulated_mean_interval(s, 30, 0.3, True) for s in range(reps)]
    indep = [_simulated_mean_interval(s, 30, 0.3, False) for s in range(reps)]
    cover_joint = np.mean([lo <= 0.6 <= hi for lo, hi in joint])
    cover_indep = np.mean([lo <= 0.6 <= hi for lo, hi in indep])
    assert cover_joint >= 0.88, cover_joint
    assert cover_indep < cover_joint
    assert np.mean([hi - lo for lo, hi in joint]) > 1.3 * np.mean([hi - lo for lo, hi in indep])


def test_margins_table_claims_above_only_where_the_interval_is_above():
    """Measured: notebook 03 called a topic "above random" when the point estimate exceeded the uniform guess."""
    scored = _study(exam_topic=True)
    rows = analysis.topic_rows(analysis.metrics(scored), "test", "image", "strict")
    ft = rows[rows["model"] == FT]
    low = {"ACR": 0.26, "Laterality": 0.55, "Pathology (breast)": 0.30}
    ci = pd.DataFrame({"model": FT, "topic": ft["topic"], "ci_low": ft["topic"].map(low), "ci_high": 0.9})
    m = analysis.finetune_margins(rows, ci, scored, FT).set_index("topic").loc[list(low)]
    assert list(m["no-information (%)"]) == [25.0, 50.0, pytest.approx(33.3)]
    assert list(m["interval above no-information"]) == [True, True, False]
    assert list(m["interval above uniform guess"]) == [True, True, False]
    assert m.loc["ACR", "95% CI"] == "26.0-90.0"


def test_paper_build_checks_every_headline_variable_against_its_table_cell(tmp_path):
    from mammovqa.outputs import write_table, write_variables

    scored = _study(exam_topic=True)
    table = analysis.metrics(scored)
    run = RunPaths("phantom", "smoke", 0, root=tmp_path)
    iv = analysis.finetune_intervals(scored, FT, ZS, plan=load_plan(), seed=0, baseline=CS)
    write_table(analysis.intervals_display(iv, analysis.FINETUNE_LABELS), run.tables / "finetune_intervals",
                float_digits=1)
    write_table(analysis.wide_topic_table(table, "test", None, "strict", models=[FT, ZS]),
                run.tables / "finetune_metrics")
    values = {"model": FT, **analysis.interval_variables(iv)}
    write_variables(run, "finetune", values)
    assert paper.headline_mismatches(run) == []
    write_variables(run, "finetune", {**values, "weighted_mean": "12.3", "gain_over_random_ci": "1.0-2.0"})
    problems = paper.headline_mismatches(run)
    assert len(problems) == 3, problems  # interval table twice (estimate, CI), metrics mean row once
    assert any("finetune_metrics" in p and MEAN_ROW_TEXT in p for p in problems)


MEAN_ROW_TEXT = "mean (image-level topics)"
