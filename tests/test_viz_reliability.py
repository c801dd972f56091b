"""The reliability figures drawn from the statistics stage's real output, as notebook 05 calls them.

Why real statistics, not a hand-made table: the forest plot once keyed its colours on verdict strings the
statistics no longer wrote ("above random") and drew one global margin while every topic has its own; a table
typed in a test repeats such assumptions, the output of ``analysis.significance_tests`` does not. The scored
frame is built so that the verdicts span the kinds a run produces: above, below, equivalent, inconclusive,
degenerate, descriptive (baselines, the untrained check) and a not-testable row.
"""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.patches import Rectangle

from mammovqa import analysis
from mammovqa.stats.plan import load_plan
from mammovqa.stats.random_guess import DESCRIPTIVE_SUFFIX, VERDICTS
from mammovqa.stats.simulate import simulate_scored
from mammovqa.stats.weighted import accuracy_table
from mammovqa.viz import save_figure
from mammovqa.viz import style as st
from mammovqa.viz.reliability import (
    DESCRIPTIVE_LABEL,
    VERDICT_KINDS,
    VERDICT_STYLES,
    absolute_vs_weighted,
    forest_vs_random,
    verdict_kind,
)

FOUR = (0.25,) * 4
#: (model, topic, simulate_scored arguments): each row aims at one verdict kind (asserted in the fixture)
SPECS = [
    ("tiny-vlm-mammo", "ACR", {"n_clusters": 60, "class_probs": FOUR, "class_accuracy": (0.9,) * 4}),  # above
    ("tiny-vlm-mammo", "Laterality", {"n_clusters": 60, "class_probs": (0.5, 0.5), "class_accuracy": (0.95, 0.95)}),
    ("dinov2-mammo", "ACR", {"n_clusters": 400, "class_probs": FOUR, "image_blind": (0.3, 0.3, 0.2, 0.2)}),  # equiv.
    ("dinov2-mammo", "Laterality", {"n_clusters": 12, "class_probs": (0.5, 0.5), "class_accuracy": (0.6, 0.6)}),
    ("llava-med", "ACR", {"n_clusters": 60, "class_probs": FOUR, "class_accuracy": (0.05,) * 4}),  # below
    ("llava-med", "Laterality", {"n_clusters": 40, "class_probs": (0.5, 0.5), "image_blind": (1, 0)}),  # degenerate
    ("baseline/prior", "ACR", {"n_clusters": 40, "class_probs": FOUR, "image_blind": (1, 0, 0, 0)}),
    ("baseline/random", "ACR", {"n_clusters": 300, "class_probs": FOUR, "image_blind": FOUR}),
    ("baseline/random", "Laterality", {"n_clusters": 15, "class_probs": (0.5, 0.5), "image_blind": (0.5, 0.5)}),
    ("tiny-vlm", "ACR", {"n_clusters": 3, "class_probs": FOUR, "class_accuracy": (0.3,) * 4}),  # not testable
    ("tiny-vlm", "Laterality", {"n_clusters": 40, "class_probs": (0.5, 0.5), "class_accuracy": (0.8, 0.8)}),
]


def _scored() -> pd.DataFrame:
    parts = [simulate_scored(model=m, topic=t, seed=i, **kw).assign(dataset="Phantom-A")
             for i, (m, t, kw) in enumerate(SPECS)]
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def plan():
    return load_plan().with_overrides(n_boot=400)


@pytest.fixture(scope="module")
def scored() -> pd.DataFrame:
    return _scored()


@pytest.fixture(scope="module")
def tests(scored, plan) -> pd.DataFrame:
    out = analysis.significance_tests(scored, plan, 0)
    kinds = {verdict_kind(v) for v in out["verdict"] if not str(v).startswith("not testable")}
    # the premise of every test below: the real statistics gave these kinds, and rows of both families
    assert {"above", "below", "equivalent", "inconclusive", "degenerate"} <= kinds, out["verdict"].tolist()
    assert out["verdict"].str.endswith(DESCRIPTIVE_SUFFIX).any() and out["verdict"].str.startswith("not testable").any()
    return out


def _points(fig: plt.Figure) -> dict[tuple[str, str], plt.Line2D]:
    return {tuple(ln.get_gid().split("|")[1:]): ln for ax in fig.axes for ln in ax.lines
            if (ln.get_gid() or "").startswith("point|")}


def _bands(fig: plt.Figure) -> dict[tuple[str, str], Rectangle]:
    return {tuple(p.get_gid().split("|")[1:]): p for ax in fig.axes for p in ax.patches
            if (p.get_gid() or "").startswith("margin|")}


def test_every_verdict_string_of_the_statistics_has_a_kind_of_its_own():
    kinds = [verdict_kind(v) for v in VERDICTS]
    assert "other" not in kinds and len(set(kinds)) == len(VERDICTS)
    assert [verdict_kind(v + DESCRIPTIVE_SUFFIX) for v in VERDICTS] == kinds  # the suffix does not change the kind
    assert verdict_kind("degenerate (one answer to 97% of items)") == "degenerate"
    assert verdict_kind("above random, within margin") == "above_within"  # older tables' wording
    assert verdict_kind("something new") == "other"
    looks = [(k.colour, k.marker) for k in VERDICT_KINDS]
    assert len(set(looks)) == len(looks) and len({k.label for k in VERDICT_KINDS}) == len(looks)


def test_forest_styles_each_verdict_kind_and_labels_it(tests, plan, tmp_path):
    fig = forest_vs_random(tests.assign(random_guess=tests["no_information"]), plan=plan)  # as notebook 05 calls it
    points = _points(fig)
    drawn = tests[~tests["verdict"].str.startswith("not testable")]
    assert set(points) == set(zip(drawn["model"], drawn["topic"]))  # every testable row, no other
    look_of: dict[str, set] = {}
    for r in drawn.itertuples():
        ln = points[(r.model, r.topic)]
        kind = verdict_kind(r.verdict)
        look_of.setdefault(kind, set()).add((ln.get_color(), ln.get_marker()))
        assert (ln.get_color(), ln.get_marker()) == (VERDICT_STYLES[kind].colour, VERDICT_STYLES[kind].marker)
        hollow = ln.get_markerfacecolor() == "white"
        assert hollow == (r.family == "descriptive"), (r.model, r.topic)
    assert all(len(v) == 1 for v in look_of.values())  # one look per kind ...
    assert len({next(iter(v)) for v in look_of.values()}) == len(look_of)  # ... and no two kinds alike
    legend = fig.legends[0]
    entries = {t.get_text(): h for t, h in zip(legend.get_texts(), legend.legend_handles)}
    for kind, look in look_of.items():
        handle = entries[VERDICT_STYLES[kind].label]
        assert {(handle.get_color(), handle.get_marker())} == look
    margin = [t for t in entries if t.startswith("margin of each row")]
    assert len(margin) == 1  # and no entry for a kind that is not drawn:
    assert set(entries) == {VERDICT_STYLES[k].label for k in look_of} | {DESCRIPTIVE_LABEL, *margin}


def test_forest_draws_each_rows_own_margin_from_the_plan(tests, plan, tmp_path):
    fig = forest_vs_random(tests, plan=plan)
    bands, points = _bands(fig), _points(fig)
    banded = tests[~tests["verdict"].str.startswith(("not testable", "degenerate"))]
    assert set(bands) == set(zip(banded["model"], banded["topic"]))  # a degenerate row was never tested
    for r in banded.itertuples():
        band = bands[(r.model, r.topic)]
        assert band.get_width() / 2 == pytest.approx(100 * r.margin)
        assert band.get_x() == pytest.approx(-100 * r.margin)
        assert band.get_width() / 2 == pytest.approx(100 * plan.margin_for(r.no_information))
        centre = band.get_y() + band.get_height() / 2
        assert centre == pytest.approx(points[(r.model, r.topic)].get_ydata()[0])  # on that row's line
        x = points[(r.model, r.topic)].get_xdata()[0]
        assert x == pytest.approx(100 * (r.estimate - r.no_information))  # minus the no-information level
    assert len({round(b.get_width(), 6) for b in bands.values()}) >= 2  # margins differ by topic: not one band
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert f"+/- {100 * plan.margin_relative:g}% of its no-information level" in " ".join(labels)
    assert all("minus no-information level" in ax.get_xlabel() for ax in fig.axes if ax.get_xlabel())
    assert "random guess" not in fig.get_suptitle() and "no-information level" in fig.get_suptitle()
    assert "1 of 11 model x topic rows not testable" in fig.get_suptitle()
    assert st.text_overlaps(fig) == []
    png, _ = save_figure(fig, tmp_path / "forest", note="Synthetic phantom data, not real mammograms.")
    assert max(st.saved_size_px(png)) <= st.MAX_PX


def test_forest_margin_legend_follows_the_plan_and_refuses_a_plan_that_did_not_make_the_table(scored, plan):
    wide = plan.with_overrides(margin_relative=0.3)
    tests = analysis.significance_tests(scored, wide, 0)
    labels = " ".join(t.get_text() for t in forest_vs_random(tests, plan=wide).legends[0].get_texts())
    assert "+/- 30% of its no-information level" in labels and "20%" not in labels
    with pytest.raises(ValueError, match="not the plan's"):
        forest_vs_random(tests, plan=plan)
    labels = " ".join(t.get_text() for t in forest_vs_random(tests).legends[0].get_texts())  # no plan given
    assert "as tested" in labels and "20%" not in labels  # the default plan does not fit: the range instead


def test_forest_custom_reference_label(tests, plan):
    fig = forest_vs_random(tests, plan=plan, reference_label="prior level")
    assert "prior level" in fig.get_suptitle() and "minus prior level" in fig.axes[0].get_xlabel()


def _vertical_segments(ax) -> list[np.ndarray]:
    return [seg for c in ax.collections for seg in c.get_segments()
            if len(seg) == 2 and np.isclose(seg[0][0], seg[1][0])]


def test_absolute_vs_weighted_draws_the_statistics_intervals(scored, tests, tmp_path):
    acc = accuracy_table(scored)
    fig = absolute_vs_weighted(acc, intervals=tests)  # the statistics stage's table, matched on model and topic
    ax = fig.axes[0]
    segs = _vertical_segments(ax)
    merged = acc.merge(tests[["model", "topic", "ci_low", "ci_high"]], on=["model", "topic"])
    with_ci = merged.dropna(subset=["ci_low", "ci_high"])
    assert len(segs) == len(with_ci) > 0 and len(with_ci) < len(acc)  # the not-testable row has no bar
    got = sorted((round(s[0][0], 6), round(min(s[0][1], s[1][1]), 6), round(max(s[0][1], s[1][1]), 6)) for s in segs)
    want = sorted((round(100 * r.accuracy, 6), round(100 * r.ci_low, 6), round(100 * r.ci_high, 6))
                  for r in with_ci.itertuples())
    assert np.allclose(got, want)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(t.startswith("bars: 95% CI, clustered by patient") and "1 of 11 points have none" in t for t in labels)
    assert st.text_overlaps(fig) == []
    png, _ = save_figure(fig, tmp_path / "abs", note="Synthetic phantom data, not real mammograms.")
    assert max(st.saved_size_px(png)) <= st.MAX_PX
    # the same intervals carried as columns of the frame give the same bars
    same = _vertical_segments(absolute_vs_weighted(merged).axes[0])
    assert len(same) == len(segs)


def test_absolute_vs_weighted_without_intervals_says_so_and_drops_a_stale_one(scored, tests):
    acc = accuracy_table(scored)
    fig = absolute_vs_weighted(acc)
    assert _vertical_segments(fig.axes[0]) == []
    assert "no intervals given: no error bars" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    stale = tests.copy()
    stale.loc[stale["model"] == "tiny-vlm-mammo", "estimate"] += 0.02  # another run's numbers for one model
    n_fresh = int(stale.loc[stale["model"] != "tiny-vlm-mammo", "ci_low"].notna().sum())
    assert len(_vertical_segments(absolute_vs_weighted(acc, intervals=stale).axes[0])) == n_fresh
