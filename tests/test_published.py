"""The published headline numbers: loaded once (mammovqa.published), quoted by the paper, compared with by stages."""

import numpy as np
import pytest

from mammovqa import published
from mammovqa.paths import PAPER_DIR

YAML = PAPER_DIR / "published.yaml"


def test_published_vs_reproduced_lists_every_claim_and_refuses_unknown_keys():
    df = published.published_vs_reproduced(YAML, {"llava_mammo_weighted_mean": 45.0}, "real-default")
    assert len(df) == len(published.load_published(YAML)) >= 20
    row = df.loc["llava_mammo_weighted_mean"]
    assert row["published"] == pytest.approx(50.32) and row["difference"] == pytest.approx(45.0 - 50.32)
    assert np.isnan(df.loc["amrg_rouge_l", "reproduced"])  # not reproduced: shown, not dropped
    assert "key" not in df.columns  # unbreakable identifiers overprinted the printed table
    with pytest.raises(published.PublishedError, match="no_such_key"):
        published.published_vs_reproduced(YAML, {"no_such_key": 1.0}, "x")
    assert published.published_variables(YAML)["published_llava_mammo_pathology_finding"] == "70.60"


def test_phantom_values_make_a_pipeline_check_without_a_difference():
    df = published.published_vs_reproduced(YAML, {"amrg_rouge_l": 0.56},
                                           "this run: tiny-vlm-mammo; Synthetic phantom data, not real mammograms.")
    assert "difference" not in df.columns and "this run (synthetic)" in df.columns


def test_a_quantity_with_an_unknown_source_is_named(tmp_path):
    bad = tmp_path / "published.yaml"
    bad.write_text("sources:\n  paper: MammoVQA 2025\nquantities:\n  x:\n    value: 1\n    source: nowhere\n")
    with pytest.raises(published.PublishedError, match="'x' names unknown source 'nowhere'"):
        published.load_published(bad)
