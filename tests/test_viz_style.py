"""The shared figure style: distinct model styles, "not run" vs 0, intervals, no text collisions, size caps.

Figures are built from small synthetic tables shaped like the smoke run (few items: most significance rows not
testable, one logged training point) and like the default run (ten models x fourteen topics), saved at the
real dpi, and measured: text bounding boxes (matplotlib ``get_window_extent``) and PNG sizes.
"""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.patches import Rectangle

from mammovqa.stats.random_guess import ABOVE, BELOW, DESCRIPTIVE_SUFFIX, EQUIVALENT
from mammovqa.stats.simulate import simulate_scored
from mammovqa.viz import save_figure
from mammovqa.viz import style as st
from mammovqa.viz.intervals import accuracy_intervals
from mammovqa.viz.reliability import absolute_vs_weighted, balance_vs_gap, breast_vs_finding, forest_vs_random
from mammovqa.viz.reports import metrics_bar_figure
from mammovqa.viz.results import (
    accuracy_by_topic,
    disagreement_bars,
    internal_vs_external,
    position_bias_plot,
    training_curves,
)

TOPICS = ["Laterality", "View", "ACR", "Bi-Rads", "Background tissue", "Subtlety", "Masking potential",
          "Pathology (breast)", "Pathology (finding)", "Abnormality (breast)", "Abnormality (finding)",
          "Asymmetry", "Calcification", "Mass shape"]
MODELS = {"tiny-vlm-mammo": "fine-tuned", "dinov2-mammo": "closed-set", "r50-mammo": "closed-set",
          "vilt-mammo": "closed-set", "vilt-mammo-expert": "closed-set", "llava-med": "zero-shot",
          "tiny-vlm": "architecture check", "baseline/prior": "baseline", "baseline/random": "baseline",
          "baseline/first-option": "baseline"}
SHAPES = {"smoke": (8, 11), "default": (10, 14)}


def _rows(n_models: int, n_topics: int) -> pd.DataFrame:
    rng = np.random.default_rng(n_models)
    rows = []
    for m in list(MODELS)[:n_models]:
        for t in TOPICS[:n_topics]:
            rows.append({"model": m, "category": MODELS[m], "topic": t, "split": "test", "level": "image",
                         "matcher": "strict", "n": 40, "weighted_accuracy": rng.uniform(0.1, 0.9),
                         "random_guess": 0.5 if t in ("Laterality", "View") else 0.25})
    df = pd.DataFrame(rows)
    df.loc[(df["model"] == "dinov2-mammo") & (df["topic"] == "ACR"), "weighted_accuracy"] = np.nan  # not run
    df.loc[(df["model"] == "r50-mammo") & (df["topic"] == "View"), "weighted_accuracy"] = 0.0  # a real 0
    return df


def _intervals(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.assign(ci_low=(rows["weighted_accuracy"] - 0.1).clip(0), ci_high=(rows["weighted_accuracy"] + 0.1)
                       .clip(upper=1))[["model", "topic", "ci_low", "ci_high"]]


def _check(fig: plt.Figure, tmp_path, name: str) -> None:
    """No overlapping texts, and the saved PNG (with the phantom note) within the size cap."""
    assert st.text_overlaps(fig) == [], name
    png, _ = save_figure(fig, tmp_path / name, note="Synthetic phantom data, not real mammograms.")
    w, h = st.saved_size_px(png)
    assert max(w, h) <= st.MAX_PX, (name, w, h)


def test_every_model_has_its_own_style_and_colours_are_colour_blind_safe():
    styles = st.model_styles(list(MODELS), MODELS)
    looks = {(s.colour, s.hatch) for s in styles.values()}
    assert len(looks) == len(MODELS) and len({s.marker for s in styles.values()}) == len(MODELS)
    assert {s.colour for s in styles.values()} <= set(st.CATEGORY_COLOURS.values())
    assert len({styles[m].colour for m in ("tiny-vlm-mammo", "dinov2-mammo", "llava-med", "tiny-vlm")}) == 4
    plain = st.model_styles([f"m{i}" for i in range(12)])  # no categories: a colour each, then hatches
    assert len({(s.colour, s.hatch) for s in plain.values()}) == 12


def test_text_overlap_check_can_fail():
    fig, ax = plt.subplots()
    ax.text(0.5, 0.5, "first label")
    ax.text(0.52, 0.5, "second label")
    assert st.text_overlaps(fig) == [("first label", "second label")]
    plt.close(fig)


@pytest.mark.parametrize("shape", SHAPES)
def test_accuracy_by_topic_intervals_not_run_and_zero(tmp_path, shape):
    rows = _rows(*SHAPES[shape])
    fig = accuracy_by_topic(rows, title="t", intervals=_intervals(rows), interval_label="95% CI, clustered by patient")
    ax = fig.axes[0]
    hatched = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_hatch() == st.NOT_RUN["hatch"]]
    assert len(hatched) == 1  # the one missing score is a hatched stub, not a 0 bar
    markers = [ln for ln in ax.lines if ln.get_marker() not in ("None", None, "")]
    zero_marked = any(np.any(np.asarray(ln.get_ydata(), dtype=float) == 0) for ln in markers)
    assert zero_marked  # the real 0 is visible as a marker on the axis
    n_finite = int(rows["weighted_accuracy"].notna().sum())
    whiskers = sum(len(c.get_segments()) for c in ax.collections if c.__class__.__name__ == "LineCollection"
                   and len(c.get_segments()) and c.get_segments()[0][0][0] == c.get_segments()[0][1][0])
    assert whiskers == n_finite
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert st.RANDOM_LABEL in legend and st.NOT_RUN_LABEL in legend and "95% CI, clustered by patient" in legend
    _check(fig, tmp_path, f"acc_{shape}")


def _tests_table(shape: str) -> pd.DataFrame:
    """Shaped like ``test_against_random``'s output: its verdict strings, per-topic no-information levels and
    margins, families (baselines and the untrained check descriptive)."""
    n_models, n_topics = SHAPES[shape]
    rng = np.random.default_rng(1)
    rows = []
    for m in list(MODELS)[:n_models]:
        family = "descriptive" if MODELS[m] in ("baseline", "architecture check") else "confirmatory"
        for t in [*TOPICS[:n_topics], "ACR (exam)"]:
            testable = shape == "default" or (t in ("Laterality", "View") and m.startswith("tiny"))
            est = rng.uniform(0.2, 0.9)
            ref = 0.5 if t in ("Laterality", "View") else 0.25
            verdict = str(rng.choice([ABOVE, "inconclusive", EQUIVALENT, BELOW, "degenerate (one answer to 99% of items)"]))
            if family == "descriptive" and not verdict.startswith("degenerate"):
                verdict += DESCRIPTIVE_SUFFIX
            rows.append({"model": m, "topic": t, "family": family, "n": 40 if testable else 8,
                         "estimate": est if testable else np.nan, "ci_low": est - 0.1, "ci_high": est + 0.1,
                         "no_information": ref, "random_guess": ref, "margin": max(0.01, 0.2 * ref),
                         "verdict": verdict if testable else "not testable: 8 items (< 20)"})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("shape", SHAPES)
def test_forest_draws_testable_rows_only_and_stays_small(tmp_path, shape):
    tests = _tests_table(shape)
    fig = forest_vs_random(tests)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert not any("not testable" in t for t in texts)
    n_drawn = int((~tests["verdict"].str.startswith("not testable")).sum())
    n_points = sum(len(c.get_segments()) for ax in fig.axes for c in ax.collections
                   if c.__class__.__name__ == "LineCollection")
    assert n_points == n_drawn
    n_bands = sum(1 for ax in fig.axes for p in ax.patches if (p.get_gid() or "").startswith("margin|"))
    assert n_bands == int((~tests["verdict"].str.startswith(("not testable", "degenerate"))).sum())
    skipped = len(tests) - n_drawn
    assert (f"{skipped} of {len(tests)} model x topic rows not testable" in fig._suptitle.get_text()) == (skipped > 0)
    _check(fig, tmp_path, f"forest_{shape}")


def test_training_curves_every_point_or_a_too_few_note(tmp_path):
    one = pd.DataFrame({"step": [7], "epoch": [1.0], "loss": [np.nan], "eval_loss": [5.1]})
    fig = training_curves(one)
    assert "too few logged steps" in fig.axes[0].get_title()
    _check(fig, tmp_path, "curve_smoke")
    steps = np.arange(10, 410, 10)
    log = pd.DataFrame({"step": steps, "loss": 5 / np.sqrt(steps), "eval_loss": np.where(steps % 100 == 0, 1.0, np.nan)})
    fig = training_curves(log)
    ax = fig.axes[0]
    assert "too few" not in ax.get_title()
    assert len(ax.lines[0].get_xdata()) == len(steps) and len(ax.lines[1].get_xdata()) == 4
    _check(fig, tmp_path, "curve_default")


def test_report_metrics_separate_scales_and_no_value_label_collisions(tmp_path):
    systems = ["fine-tuned", "baseline: mode report", "baseline: majority BI-RADS", "baseline: nearest neighbour"]
    rows = []
    for s in systems:
        for m, v in {"ROUGE-L": 0.55, "METEOR": 0.28, "CIDEr": 1.3, "BI-RADS accuracy": 0.58}.items():
            v = 0.0 if s == "fine-tuned" else v  # the smoke run: an untrained model scores 0 everywhere
            rows.append({"system": s, "metric": m, "value": v, "ci_low": v * 0.8, "ci_high": v * 1.2,
                         "source": "phantom (synthetic)"})
    fig = metrics_bar_figure(pd.DataFrame(rows))
    unit, cider = fig.axes[0], fig.axes[1]
    assert [t.get_text() for t in cider.get_xticklabels()] == ["CIDEr"]
    assert unit.get_ylim()[1] == 1.0 and cider.get_ylim()[1] > 1.3
    assert not any(t.get_text().startswith("0.") for ax in fig.axes for t in ax.texts)
    _check(fig, tmp_path, "report_metrics")


def test_reliability_and_comparison_figures_have_no_collisions(tmp_path):
    parts = []
    for i, topic in enumerate(TOPICS[:8]):
        for j, model in enumerate(list(MODELS)[:6]):
            parts.append(simulate_scored(n_clusters=30, class_probs=(0.5, 0.3, 0.2), class_accuracy=(0.5,) * 3,
                                         model=model, topic=topic, seed=10 * i + j))
    scored = pd.concat(parts, ignore_index=True)
    from mammovqa.stats.weighted import accuracy_table, label_balance

    acc = accuracy_table(scored)
    _check(absolute_vs_weighted(acc), tmp_path, "abs")
    bal = label_balance(scored[scored["model"] == "tiny-vlm-mammo"]).assign(normalised_entropy=0.9)  # all alike
    _check(balance_vs_gap(bal, acc), tmp_path, "balance")
    _check(breast_vs_finding(acc), tmp_path, "breast_finding")
    rows = _rows(6, 6)
    both = pd.concat([rows, rows.assign(split="external", weighted_accuracy=rows["weighted_accuracy"] * 0.9)])
    both = both.dropna()
    ci = both.assign(ci_low=both["weighted_accuracy"] - 0.05, ci_high=both["weighted_accuracy"] + 0.05)
    fig = internal_vs_external(both, intervals=ci, interval_label="95% CI, clustered by patient")
    assert len(fig.axes[0].lines) > len(both)  # two whiskers per point (one row per split), besides the points
    _check(fig, tmp_path, "ext")
    dis = rows.assign(differ=0.1)[["model", "category", "topic", "differ"]]
    _check(disagreement_bars(dis), tmp_path, "dis")
    bias = pd.DataFrame([{"model": m, "category": c, "n_options": 4, "n_items": 10, "letter": letter,
                          "normalised": 1.0, "gold_normalised": 1.0} for m, c in MODELS.items() for letter in "ABCD"])
    _check(position_bias_plot(bias), tmp_path, "bias")


def _scored_for_intervals() -> tuple[pd.DataFrame, pd.DataFrame]:
    scored = pd.concat([simulate_scored(n_clusters=40, class_probs=(0.5, 0.5), class_accuracy=(0.7, 0.6), model=m,
                                        topic="View", seed=i) for i, m in enumerate(["a", "b"])], ignore_index=True)
    scored["patient_id"] = scored["record_id"] if "record_id" in scored else scored.iloc[:, 0]
    from mammovqa.stats.weighted import accuracy_table

    rows = accuracy_table(scored)[["model", "topic", "n", "weighted_accuracy"]]
    return scored, rows


def test_intervals_come_from_the_statistics_table_when_it_matches(tmp_path):
    scored, rows = _scored_for_intervals()
    ci, label = accuracy_intervals(rows, scored, cluster="patient_id", stats_table=tmp_path / "significance.csv",
                                   n_boot=300)
    assert (ci["ci_source"] == "computed here").all() and "computed for this figure" in label
    assert ((ci["ci_low"] <= rows["weighted_accuracy"]) & (rows["weighted_accuracy"] <= ci["ci_high"])).all()
    table = rows.assign(estimate=rows["weighted_accuracy"].round(4), ci_low=0.11, ci_high=0.99, verdict="inconclusive",
                        cluster_key="record_id")  # as notebook 05 writes it: 4 decimals, its resampling key
    table.to_csv(tmp_path / "significance.csv", index=False)
    ci, _ = accuracy_intervals(rows, scored, cluster="patient_id", stats_table=tmp_path / "significance.csv",
                               n_boot=300)
    assert (ci["ci_source"] == "computed here").all()  # clustered differently: not used
    table["cluster_key"] = "patient_id"
    table.loc[1, "estimate"] += 0.01  # a stale row (other predictions): not used for that bar
    table.to_csv(tmp_path / "significance.csv", index=False)
    ci, label = accuracy_intervals(rows, scored, cluster="patient_id", stats_table=tmp_path / "significance.csv",
                                   n_boot=300)
    assert list(ci["ci_source"]) == ["statistics stage", "computed here"] and ci.loc[0, "ci_low"] == 0.11
    assert "1 from the statistics-stage table, 1 computed here" in label


def test_dataset_figures_have_no_collisions(tmp_path):
    from mammovqa.viz.dataset import plot_composition, plot_label_distribution

    rng = np.random.default_rng(3)
    dist = pd.DataFrame([{"topic": t, "split": sp, "answer": f"Level {a}", "share": rng.uniform()}
                         for t in TOPICS[:12] for sp in ("train", "val", "test", "external") for a in "ABCD"
                         if not (sp == "external" and t == TOPICS[0])])
    fig = plot_label_distribution(dist)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["train", "val", "test", "external"]
    _check(fig, tmp_path, "labels")
    comp = pd.DataFrame([{"role": "internal" if i < 8 else "external", "dataset": f"Phantom-{i}", "records": 10,
                          "patients": 5, "qa_pairs": 100, **{t: 10 for t in TOPICS}} for i in range(11)])
    _check(plot_composition(comp), tmp_path, "composition")


def test_note_stays_below_a_figure_legend_in_the_saved_file(tmp_path):
    """The saved PNG, not the canvas: a tight save once slid an "outside lower center" legend onto the note."""
    fig, ax = plt.subplots(figsize=(5, 3), layout="constrained")
    ax.plot([0, 1], [0, 1], color="#0072B2")
    handles = [plt.Line2D([], [], color="#0072B2", label=f"entry {i}") for i in range(5)]
    handles.append(plt.Line2D([], [], color="#0072B2", label="a last entry long enough to reach the note's column"))
    fig.legend(handles=handles, loc="outside lower center", ncol=2)
    png, _ = save_figure(fig, tmp_path / "legend_note", note="Synthetic phantom data, not real mammograms.")
    from PIL import Image

    with Image.open(png) as im:
        px = np.asarray(im.convert("RGB")).astype(int)
    r, g, b = px[..., 0], px[..., 1], px[..., 2]
    dark_rows = np.flatnonzero(((r < 90) & (g < 90) & (b < 90)).any(axis=1))  # black text (legend, ticks)
    red_rows = np.flatnonzero(((r > 120) & (g < 100) & (b < 100) & (r - g > 60)).any(axis=1))  # the note
    assert len(dark_rows) and len(red_rows)
    assert dark_rows.max() < red_rows.min()


def test_confusion_tick_labels_are_wrapped_not_cut():
    """Measured: labels cut at 14 characters made "Calcification|Mass" and "Calcification|Asymmetry" one class."""
    from mammovqa.viz.results import tick_label

    a, b = tick_label("Calcification|Mass"), tick_label("Calcification|Asymmetry")
    assert a != b and "Mass" in a and "Asymmetry" in b.replace("\n", " ")
    assert all(len(line) <= 16 for line in tick_label("Architectural distortion|Calcification|Mass").splitlines())
