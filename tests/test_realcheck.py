"""The real-data check: 8 CBIS-DDSM DICOMs -> prepared PNGs -> items -> baselines and a tiny VLM -> table."""

from pathlib import Path

import pytest
import torch
from PIL import Image

from mammovqa.io import read_jsonl
from mammovqa.models.tiny import build_tiny_vlm
from mammovqa.paths import RunPaths, resolve
from mammovqa.predictions import read_predictions
from mammovqa.qa.items import item_prompt, read_items
from mammovqa.realcheck import (
    DATASET,
    SPLIT,
    TABLE_COLUMNS,
    build_real_check,
    check_dir,
    predict_real_check,
    real_check_table,
)

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> RunPaths:
    run = RunPaths(profile="smoke", root=tmp_path_factory.mktemp("rc"))
    build_real_check(run)
    return run


def test_check_prepares_8_images_2_exams_and_items(run: RunPaths) -> None:
    rows = read_jsonl(check_dir(run) / "records.jsonl")
    breasts = [r for r in rows if r["kind"] == "breast"]
    exams = [r for r in rows if r["kind"] == "exam"]
    assert len(breasts) == 8 and len(exams) == 2
    for r in breasts:
        assert Image.open(resolve(r["images"][0])).size == (128, 128)  # smoke profile image size
    items = read_items(check_dir(run) / "items.jsonl")
    assert {it.split for it in items} == {SPLIT} and {it.dataset for it in items} == {DATASET}
    assert {it.role for it in items} == {"external"}
    by_topic = {t: [it for it in items if it.topic == t] for t in ("Laterality", "View", "Pathology")}
    assert len(by_topic["Laterality"]) == len(by_topic["View"]) == 8 and len(by_topic["Pathology"]) == 2
    assert len(items) == 18
    gold = {it.record_id.split("/")[-1]: it.answer[0] for it in by_topic["View"]}
    assert all(name.endswith(view) for name, view in gold.items())  # view from the DICOM header = the id's
    assert sorted(it.answer[0] for it in by_topic["Pathology"]) == ["Benign", "Malignant"]
    for it in by_topic["Pathology"]:
        assert it.level == "exam" and len(it.images) == 4 and "exam" in it.question and it.extra["note"]
        assert it.question in item_prompt(it) and sorted(it.options) == ["Benign", "Malignant", "Normal"]
    assert not run.figures.exists()  # the stage draws no figure: notebook 04 draws the masking figure


def test_baselines_and_vlm_predict_and_table(run: RunPaths, tmp_path: Path) -> None:
    tiny = build_tiny_vlm(tmp_path / "tiny-vlm", seed=0, text_hidden=64)
    out = predict_real_check(run, {"tiny-vlm": tiny, "no-such-model": tmp_path / "absent"}, max_new_tokens=4)
    assert set(out) == {"baseline/random", "baseline/prior", "baseline/first-option", "tiny-vlm", "no-such-model"}
    assert "error" in out["no-such-model"]
    assert out["tiny-vlm"]["image"]["written"] == 16 and out["tiny-vlm"]["exam"]["written"] == 2
    preds = read_predictions(run.predictions("baseline/first-option", SPLIT, "image"))
    assert len(preds.rows) == 16
    table = real_check_table(run)
    assert tuple(table.columns) == TABLE_COLUMNS
    assert len(table) == 4 * 18 and set(table["model"]) == {"baseline/random", "baseline/prior",
                                                               "baseline/first-option", "tiny-vlm"}
    first = table[table["model"] == "baseline/first-option"]
    assert (first["answer"].str.startswith("A: ")).all()  # raw output as written
    assert (first["correct"] == (first["gold"] == first["answer"].str[3:])).all()  # strict matcher, option A
    assert set(table.loc[table["level"] == "exam", "topic"]) == {"Pathology (breast)"}
    assert table.loc[table["level"] == "image", "image_id"].str.match(r"Mass-Test_P_\d{5}_(LEFT|RIGHT)_(CC|MLO)").all()
    again = predict_real_check(run, {}, baselines=["random"])  # resumable: nothing new is written
    assert list(again) == ["baseline/random"]
    assert len(read_predictions(run.predictions("baseline/random", SPLIT, "image")).rows) == 16
