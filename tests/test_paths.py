"""Run paths: analysis variants never overwrite the run's own outputs; expensive outputs stay shared."""

from __future__ import annotations

import pytest

from mammovqa.paths import RunPaths


def test_variant_moves_analysis_outputs_only(monkeypatch: pytest.MonkeyPatch) -> None:
    base = RunPaths("phantom", "smoke", 0)
    monkeypatch.setenv("MAMMOVQA_VARIANT", "p_margin_0.03")
    var = RunPaths("phantom", "smoke", 0)
    for name in ("tables", "figures", "variables", "metrics", "stats"):
        assert getattr(var, name) == getattr(base, name) / "variants" / "p_margin_0.03", name
    for name in ("qa_items", "records", "train", "reports"):
        assert getattr(var, name) == getattr(base, name), name
    assert var.predictions("m", "test", "image") == base.predictions("m", "test", "image")


@pytest.mark.parametrize("bad", ["../x", "a/b", "-p", "x" * 70])
def test_unsafe_variant_names_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="variant name"):
        RunPaths(variant=bad)
