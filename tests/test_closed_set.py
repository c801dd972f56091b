"""Closed-set baselines: frozen backbones, one head per topic, exact option texts in the prediction format."""

import numpy as np
import pytest
import torch
from PIL import Image

from mammovqa.paths import RunPaths
from mammovqa.predictions import read_predictions
from mammovqa.qa.items import QAItem, write_items
from mammovqa.train.closed_set import MODELS, run_closed_set


def _item(i, split, path, topic, answer, options):
    return QAItem(id=f"r{i}#{topic}", topic=topic, kind="multiple" if topic == "Abnormality" else "single",
                  level="image", dataset="Phantom-CBIS-breast", part="breast", role="internal", split=split,
                  record_id=f"r{i}", patient_id=f"p{i}", images=[str(path)], question=f"{topic}?",
                  options=options, answer=answer, seed=0)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("cs")
    rng = np.random.default_rng(0)
    items = []
    for i in range(160):
        left = i % 2 == 0
        a = (rng.random((64, 64)) * 40).astype(np.uint8)
        a[:, :32 if left else 64] += 0
        a[:, :32] += 150 if left else 0
        a[:, 32:] += 0 if left else 150
        p = root / f"{i}.png"
        Image.fromarray(a).save(p)
        split = "train" if i < 120 else "test"
        items.append(_item(i, split, p, "Laterality", ["Left" if left else "Right"], ["Right", "Left"]))
        items.append(_item(i, split, p, "Abnormality", ["Mass"] if left else ["Normal"],
                           ["Normal", "Mass", "Calcification"] + ["Asymmetry", "Architectural distortion",
                            "Miscellaneous", "Nipple retraction", "Suspicious lymph node", "Skin thickening",
                            "Skin retraction"]))
    rp = RunPaths("phantom", "smoke", 0, root=root)
    write_items(rp.qa_items, items)
    return rp


def test_all_baselines_write_exact_option_texts(run):
    summary = run_closed_set(run, MODELS, seed=0, epochs=2, eval_splits=("test",))
    for name in MODELS:
        preds = read_predictions(run.predictions(name, "test", "image"))
        assert len(preds.rows) == 80
        assert preds.provenance["pretrained_backbone"] is False
        assert "random-init" in summary["models"][name]["backbone"]
        for row in preds.rows.values():
            assert all(part in row["options"] for part in row["output"].split(", "))


def test_vilt_learns_laterality_from_patch_tokens(run):
    run_closed_set(run, ("vilt-mammo",), seed=0, epochs=10, eval_splits=("test",))
    preds = read_predictions(run.predictions("vilt-mammo", "test", "image"))
    lat = [r for i, r in preds.rows.items() if i.endswith("#Laterality")]
    correct = [r["output"] == ("Left" if int(r["id"][1:].split("#")[0]) % 2 == 0 else "Right") for r in lat]
    assert np.mean(correct) > 0.85


def test_stage_summary_names_degenerate_models(run):
    """The closed-set stage, like the zero-shot and fine-tune stages, says which models answered (almost) one
    text to every test item: their rows in every table measure a constant answer."""
    import json

    from mammovqa.eval.degenerate import degenerate_outputs
    from mammovqa.pipeline import closed_set

    summary = closed_set(run)
    assert json.loads((run.train / "closed_set" / "summary.json").read_text()) == summary
    for name in MODELS:
        expected = degenerate_outputs(read_predictions(run.predictions(name, "test", "image")))
        assert summary["models"][name]["degenerate"] == expected
        assert (name in summary["degenerate"]) == (expected is not None)
