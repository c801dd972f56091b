"""A degenerate fine-tuned model is named in its stage summary and in the abstract (issue 14 item 4).

Measured before the fix: on the smoke profile the fine-tuned model answered "" to every item, its stage reported
``errors: 0`` and the abstract read "reached 0.0%, -24.6 points above random guessing". This test takes a real
prediction file of such a model through the same functions the finetune stage and notebook 03 use
(:func:`mammovqa.eval.degenerate.degenerate_outputs`, :func:`mammovqa.pipeline.degenerate_models`,
:func:`mammovqa.analysis.degenerate_sentence`) and renders the manuscript's abstract with the result.
"""

from __future__ import annotations

from pathlib import Path

from mammovqa import paper
from mammovqa.analysis import degenerate_sentence
from mammovqa.eval.degenerate import degenerate_outputs
from mammovqa.paths import PAPER_DIR
from mammovqa.pipeline import degenerate_models
from mammovqa.predictions import PredictionWriter, read_predictions

MODEL = "tiny-vlm-mammo"


def _prediction_file(path: Path, outputs: list[str | None]) -> Path:
    with PredictionWriter(path, {"model_id": MODEL, "split": "test", "level": "image"}) as w:
        for i, out in enumerate(outputs):
            w.write(id=f"test-{i}", model=MODEL, prompt="q", options=["Left", "Right"], output=out, latency_s=0.0)
    return path


def _abstract() -> str:
    front = (PAPER_DIR / "index.qmd").read_text(encoding="utf-8").split("\n---", 1)[0]
    return front.split("abstract: |", 1)[1]


def _stage_summary(tmp_path: Path, outputs: list[str | None]) -> dict:
    """What the finetune stage writes to predict_summary.json for one (split, level) group."""
    preds = read_predictions(_prediction_file(tmp_path / "test_image.jsonl", outputs))
    return {"test_image": {"items": len(outputs), "errors": 0, "degenerate": degenerate_outputs(preds)}}


def test_an_all_empty_model_is_flagged_in_the_stage_summary_and_the_abstract(tmp_path: Path) -> None:
    summary = _stage_summary(tmp_path, [""] * 60 + ["null"] * 20 + [None] * 12)
    assert summary["test_image"]["degenerate"]["reason"] == "empty"
    assert set(degenerate_models({MODEL: summary})) == {MODEL}  # listed in the stage manifest
    note = degenerate_sentence(summary, MODEL)
    assert "{{< var finetune_degenerate_note >}}" in _abstract()
    rendered, _ = paper.substitute_variables(_abstract(), {"finetune_degenerate_note": note}, allow_missing=True)
    assert f"The answers of {MODEL} on the test split were degenerate (92 of 92 empty" in rendered
    assert "not a reading of the images" in rendered


def test_a_model_that_reads_the_images_is_not_flagged(tmp_path: Path) -> None:
    summary = _stage_summary(tmp_path, ["Left", "Right"] * 46)
    assert summary["test_image"]["degenerate"] is None and degenerate_models({MODEL: summary}) == {}
    note = degenerate_sentence(summary, MODEL)
    rendered, _ = paper.substitute_variables(_abstract(), {"finetune_degenerate_note": note}, allow_missing=True)
    assert note == "" and f"The answers of {MODEL}" not in rendered


def test_one_repeated_answer_is_flagged_too(tmp_path: Path) -> None:
    summary = _stage_summary(tmp_path, ["Left"] * 90 + ["Right"] * 2)
    flag = summary["test_image"]["degenerate"]
    assert flag["reason"] == "identical" and flag["top_output"] == "Left"
    assert "degenerate" in degenerate_sentence(summary, MODEL)


def test_notebook_03_table_names_each_degenerate_model_of_a_run(tmp_path: Path) -> None:
    """Notebook 03 lists, among the fine-tuned and closed-set models, those whose test answers are degenerate."""
    from mammovqa.analysis import degenerate_table
    from mammovqa.paths import RunPaths

    run = RunPaths("phantom", "smoke", 0, root=tmp_path)
    for model, outputs in (("tiny-vlm-mammo", [""] * 20), ("r50-mammo", ["Left", "Right"] * 10),
                           ("dinov2-mammo", ["A: Left"] * 19 + ["B: Right"])):
        path = run.predictions(model, "test", "image")
        path.parent.mkdir(parents=True, exist_ok=True)
        _prediction_file(path, outputs)
    table = degenerate_table(run, ["tiny-vlm-mammo", "r50-mammo", "dinov2-mammo", "vilt-mammo"])  # vilt: no file
    assert list(table["model"]) == ["tiny-vlm-mammo", "dinov2-mammo"]
    assert list(table["reason"]) == ["empty", "identical"] and list(table["repeated answer"]) == ["", "A: Left"]
    assert degenerate_table(run, ["r50-mammo"]).empty
