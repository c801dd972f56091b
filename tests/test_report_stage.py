"""The report-generation stage end to end on a tiny synthetic run: data -> train -> generate -> baselines ->
metrics, tables, figures, variables; resume; the METEOR-in-one-process shortcut; the LoRA grid; the CLI."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from PIL import Image

from mammovqa.budgets import ReportBudget
from mammovqa.data.records import Record
from mammovqa.errors import ConfigError
from mammovqa.io import write_jsonl_atomic
from mammovqa.models.tiny import build_tiny_vlm
from mammovqa.paths import RunPaths, resolve
from mammovqa.report.grammar import phantom_report
from mammovqa.report.stage import (
    FIGURE_METRICS,
    MODEL_SYSTEM,
    PUBLISHED_SYSTEM,
    birads_confusion,
    report_records,
    run_report_stage,
)
from mammovqa.report.train import REPORT_PROMPT, load_grid, read_generations

REPO = Path(__file__).resolve().parents[1]
REQUIRED_VARS = ("rouge_l", "meteor", "cider", "birads_acc", "majority_birads_acc", "meteor_impl", "retrieval_rouge_l",
                 "retrieval_birads_acc", "n_test_reports", "train_seconds")
TABLE_COLUMNS = ["system", "data_source", "metric", "key", "value", "ci_low", "ci_high", "n", "implementation", "note"]


def _records(root: Path, n_patients: int = 10) -> list[Record]:
    """Two breast images per patient (bright side = laterality) with grammar reports, plus a crop to be ignored."""
    root.mkdir(parents=True, exist_ok=True)
    out = []
    for p in range(n_patients):
        for k, side in enumerate(("Left", "Right")):
            arr = np.full((32, 32), 30, np.uint8)
            arr[:, :16] = 220 if side == "Left" else 30
            arr[:, 16:] = 30 if side == "Left" else 220
            path = root / f"p{p}_{k}.png"
            Image.fromarray(arr).save(path)
            birads = "Bi-Rads 1" if p % 3 else "Bi-Rads 4"
            rec = Record(record_id=f"Phantom-T/{p:03d}{k}", dataset="Phantom-T", kind="breast", images=[str(path)],
                         labels={"ACR": ["Level B"], "Bi-Rads": [birads]}, patient_id=f"Phantom-T-P{p:03d}",
                         laterality=side, view="CC" if k == 0 else "MLO")
            rec.report = phantom_report(rec, seed=0)
            out.append(rec)
    out.append(Record(record_id="Phantom-T-finding/0", dataset="Phantom-T-finding", kind="finding",
                      images=[str(root / "p0_0.png")], labels={}, patient_id="Phantom-T-P000", report="crop"))
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.set_num_threads(1)
    return build_tiny_vlm(tmp_path_factory.mktemp("tiny") / "tiny-vlm", seed=0, image_size=32, patch_size=8,
                          text_hidden=64, vision_hidden=32)


@pytest.fixture(scope="module")
def recipe_file(tmp_path_factory):
    raw = yaml.safe_load((REPO / "configs/train/report_tiny_cpu.yaml").read_text())
    raw.update(per_device_batch_size=8, effective_batch_size=8, logging_steps=1, eval_steps=2, save_steps=100)
    path = tmp_path_factory.mktemp("recipe") / "report_test.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


CAPS = ReportBudget(train_max=None, epochs=1, val_max=4, test_max=None, max_new_tokens=24, batch_size=8, n_boot=50)


@pytest.fixture(scope="module")
def stage(tmp_path_factory, tiny, recipe_file):
    root = tmp_path_factory.mktemp("repo")
    run = RunPaths("phantom", "smoke", 0, root=root)
    write_jsonl_atomic(run.records, [r.to_json() for r in _records(run.images)])
    result = run_report_stage(run, recipe_file, base_path=tiny, caps=CAPS, meteor="none")
    return run, result


def test_stage_writes_generations_for_the_test_split(stage):
    run, result = stage
    prov, rows = read_generations(resolve(result["generations"], run.root))
    assert prov["prompt"] == REPORT_PROMPT and prov["decoding"] == "greedy" and prov["max_new_tokens"] == 24
    assert len(rows) == result["counts"]["test"] > 0
    assert all(set(r) == {"id", "patient_id", "generated", "reference"} for r in rows)
    assert all(r["reference"].startswith("Breast Composition:") for r in rows)
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    # patient-grouped split: no test patient is a training patient
    ds = [json.loads(x) for x in (run.reports / "dataset.jsonl").read_text().splitlines()]
    train_p = {r["patient_id"] for r in ds if r["split"] == "train"}
    assert train_p and not train_p & {r["patient_id"] for r in rows}
    assert not any(r["id"].startswith("Phantom-T-finding") for r in ds)  # crops are not report data
    for name in ("baseline__mode-report", "baseline__nearest-neighbour", "baseline__majority-BI-RADS"):
        assert (run.reports / "generations" / f"{name}_test.jsonl").exists()


def test_metrics_table_has_every_system_with_cis(stage):
    run, _ = stage
    table = pd.read_csv(run.tables / "report_metrics.csv")
    assert list(table.columns) == TABLE_COLUMNS
    systems = set(table["system"])
    assert {MODEL_SYSTEM, "baseline: mode report", "baseline: nearest neighbour", "baseline: majority BI-RADS",
            PUBLISHED_SYSTEM} <= systems
    mine = table[table["system"] != PUBLISHED_SYSTEM]
    assert mine["value"].between(0, 10).all()
    bracketed = mine[mine["ci_low"].notna()]  # every interval is of the value itself (corpus, micro or mean)
    assert len(bracketed) >= len(mine) - 2
    assert ((bracketed["ci_low"] <= bracketed["value"] + 1e-9) & (bracketed["value"] <= bracketed["ci_high"] + 1e-9)).all()
    pub = table[table["system"] == PUBLISHED_SYSTEM].set_index("key")["value"]
    assert pub["rouge_l"] == pytest.approx(0.5691) and pub["birads_acc"] == pytest.approx(0.5582)
    # the mode baseline copies one training report: its BI-RADS accuracy is the share of that category
    comp = pd.read_csv(run.tables / "report_comparisons.csv")
    assert {"baseline", "metric", "statistic", "diff", "ci_low", "ci_high", "p", "clusters"} <= set(comp.columns)
    value = mine.set_index(["system", "key"])["value"]  # one definition per quantity across the two tables
    for r in comp.itertuples():
        if (MODEL_SYSTEM, r.metric) in value.index:
            assert r.model == pytest.approx(value[(MODEL_SYSTEM, r.metric)], abs=1e-12), r.metric
            assert r.baseline_value == pytest.approx(value[(r.baseline, r.metric)], abs=1e-12), r.metric
    assert (run.tables / "report_metrics.md").read_text().rstrip().endswith("*Synthetic phantom data, not real "
                                                                            "mammograms.*")


def test_variables_figures_and_per_pair(stage):
    run, result = stage
    var = json.loads((run.variables / "report.json").read_text())
    for key in REQUIRED_VARS:
        assert isinstance(var[f"report_{key}"], str), key
    assert var["report_n_test_reports"] == str(result["counts"]["test"])
    assert var["report_meteor_impl"] == "not computed"
    # figures are drawn by notebook 06 from the stage's files, never by the stage itself: draw them the same way
    from mammovqa.viz import reports as vr
    from mammovqa.viz import save_figure

    assert not list(run.figures.glob("report_*")) and not list(run.figures.glob("birads_*"))
    log = pd.read_csv(run.train / result["recipe"] / "log_history.csv")
    table = pd.read_csv(run.tables / "report_metrics.csv")
    pairs = pd.read_csv(run.reports / "per_pair.csv", dtype={"birads_ref": str, "birads_gen": str})
    for stem, fig in (("report_training_curve", vr.training_curve_figure(log)),
                      ("report_metrics", vr.metrics_table_figure(table, FIGURE_METRICS, PUBLISHED_SYSTEM)),
                      ("birads_confusion", vr.confusion_matrix_figure(
                          birads_confusion(pairs[pairs["system"] == MODEL_SYSTEM])))):
        save_figure(fig, run.figures / stem)
        assert (run.figures / f"{stem}.png").stat().st_size > 1000
    per = pd.read_csv(run.reports / "per_pair.csv")
    assert len(per) == 4 * result["counts"]["test"]
    log = pd.read_csv(run.train / "tiny-vlm-report" / "log_history.csv")
    assert log["loss"].notna().sum() >= 1


def test_second_call_skips_training_and_reuses_generations(stage, tiny, recipe_file):
    run, first = stage
    gen = resolve(first["generations"], run.root)
    before = gen.read_bytes()
    again = run_report_stage(run, recipe_file, base_path=tiny, caps=CAPS, meteor="none")
    assert again["train_skipped"] and not first["train_skipped"]
    assert again["steps"] == first["steps"] and again["variables"]["train_seconds"] == first["variables"]["train_seconds"]
    assert gen.read_bytes() == before
    assert again["variables"] == first["variables"]  # deterministic scores and bootstrap


def test_a_killed_training_is_not_taken_for_a_finished_one(stage, tiny, recipe_file, tmp_path):
    run, _ = stage
    copy = RunPaths("phantom", "smoke", 0, root=tmp_path)
    shutil.copytree(run.data, copy.data)
    shutil.copytree(run.train, copy.train)
    (copy.train / "tiny-vlm-report" / "final" / "train_complete.json").unlink()
    again = run_report_stage(copy, recipe_file, base_path=tiny, caps=CAPS, meteor="none", max_steps=1)
    assert not again["train_skipped"]


def test_lora_report_model_is_merged_for_generation(stage, tiny, recipe_file, tmp_path):
    from mammovqa.report.train import generation_model_dir

    run, _ = stage
    raw = yaml.safe_load(recipe_file.read_text())
    raw.update(method="lora", name="tiny-report-lora", lora={
        "r": 4, "alpha": 8, "dropout": 0.0,
        "target_modules": r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)$"})
    lora_file = tmp_path / "lora.yaml"
    lora_file.write_text(yaml.safe_dump(raw))
    copy = RunPaths("phantom", "smoke", 0, root=tmp_path)
    shutil.copytree(run.data, copy.data)
    res = run_report_stage(copy, lora_file, base_path=tiny, caps=CAPS, meteor="none", max_steps=1)
    final = resolve(res["model_dir"], copy.root)
    assert (final / "adapter_config.json").exists()
    merged = generation_model_dir(final, tiny)
    assert merged.name == "merged" and (merged / "config.json").exists()
    assert len(read_generations(resolve(res["generations"], copy.root))[1]) == res["counts"]["test"]


def test_stage_outputs_name_no_path_of_the_run_root_and_read_back(stage):
    """Issue 14 item 5: the stage summary, the generations' provenance and the training summary store paths relative
    to the run's root; what reads them back (the notebook, a resumed stage) resolves them there."""
    run, result = stage
    files = [run.reports / "stage_summary.json", resolve(result["generations"], run.root),
             run.train / "tiny-vlm-report" / "train_summary.json"]
    for f in files:
        assert str(run.root) not in f.read_text(encoding="utf-8"), f.name
    assert result["model_dir"] == "results/phantom-smoke/train/tiny-vlm-report/final"
    assert (resolve(result["model_dir"], run.root) / "config.json").is_file()
    assert result["generations"] == "results/phantom-smoke/reports/generations/tiny-vlm-report_test.jsonl"
    prov, _ = read_generations(resolve(result["generations"], run.root))
    assert prov["model_path"] == result["model_dir"]


@pytest.fixture(scope="module")
def wide_stage(tmp_path_factory, tiny, recipe_file):
    """A stage with enough test reports (>= 10) for one repeated report to count as degenerate; one training step."""
    root = tmp_path_factory.mktemp("wide")
    run = RunPaths("phantom", "smoke", 0, root=root)
    write_jsonl_atomic(run.records, [r.to_json() for r in _records(run.images, n_patients=40)])
    result = run_report_stage(run, recipe_file, base_path=tiny, caps=CAPS, meteor="none", max_steps=1)
    assert result["counts"]["test"] >= 10
    return run, result


def _rerun_with_generations(stage, tiny, recipe_file, root: Path, texts) -> dict:
    """The stage in a copy of the run (at another root) whose fine-tuned generations are replaced by ``texts(rows)``
    under the same provenance: training is skipped and the generations are reused, so the stage scores them."""
    run, result = stage
    copy = RunPaths("phantom", "smoke", 0, root=root)
    for name in ("data", "train", "reports"):
        shutil.copytree(getattr(run, name), getattr(copy, name))
    gen_file = resolve(result["generations"], copy.root)
    prov, rows = read_generations(gen_file)
    write_jsonl_atomic(gen_file, [{"provenance": prov},
                                  *({**r, "generated": t} for r, t in zip(rows, texts(rows), strict=True))])
    again = run_report_stage(copy, recipe_file, base_path=tiny, caps=CAPS, meteor="none")
    assert again["train_skipped"] and read_generations(gen_file)[1][0]["generated"] == texts(rows)[0]
    assert json.loads((copy.reports / "stage_summary.json").read_text())["degenerate"] == again["degenerate"]
    assert json.loads((copy.variables / "report.json").read_text())["report_degenerate_note"] == \
        again["variables"]["degenerate_note"]
    return again


def test_identical_generations_are_flagged_degenerate(wide_stage, tiny, recipe_file, tmp_path):
    """The smoke model writes one report for all its test images: the summary and the manuscript say so."""
    same = "Breast Composition: ACR B.\nBIRADS: 1.\nFindings: No mass."
    again = _rerun_with_generations(wide_stage, tiny, recipe_file, tmp_path, lambda rows: [same] * len(rows))
    n = again["counts"]["test"]
    flag = again["degenerate"]
    assert flag["reason"] == "identical" and flag["n"] == n and flag["top_share"] == 1.0
    assert again["variables"]["degenerate_note"] == (
        f"The fine-tuned report model's output was degenerate ({n:,} identical of its {n:,} test reports), so its "
        "report metrics measure a constant output, not a reading of the images.")


def test_empty_generations_are_flagged_and_varied_ones_are_not(wide_stage, tiny, recipe_file, tmp_path):
    empty = _rerun_with_generations(wide_stage, tiny, recipe_file, tmp_path / "empty", lambda rows: [""] * len(rows))
    assert empty["degenerate"]["reason"] == "empty" and "empty of its" in empty["variables"]["degenerate_note"]
    varied = _rerun_with_generations(wide_stage, tiny, recipe_file, tmp_path / "varied",
                                     lambda rows: [r["reference"] for r in rows])
    assert varied["degenerate"] is None and varied["variables"]["degenerate_note"] == ""


def test_birads_confusion_counts_missing_birads_as_none():
    per = pd.DataFrame({"birads_ref": ["1", "1", "4a", None, "2"], "birads_gen": ["1", None, "1", "1", "2"]})
    mat = birads_confusion(per)
    assert list(mat.index) == ["1", "2", "4a"] and list(mat.columns) == ["1", "2", "4a", "none"]
    assert mat.loc["1", "1"] == 1 and mat.loc["1", "none"] == 1 and mat.loc["4a", "1"] == 1
    assert mat.to_numpy().sum() == 4  # the reference without BI-RADS is excluded


def test_report_records_keeps_breast_images_with_reports():
    recs = _records(Path("/nonexistent"), 0)  # no images written for zero patients
    rec = Record("x/1", "DMID", "breast", ["a.png"], {}, "p1", report=None)
    assert report_records([rec], "real") == []
    assert report_records([rec], "phantom") == [rec]  # the grammar fills phantom reports
    assert report_records(recs, "phantom") == []


def test_meteor_in_one_process_equals_per_system_calls():
    from mammovqa.eval.report_metrics import MissingBackendError, coco_tokenize, meteor15
    from mammovqa.report.stage import meteor15_systems

    refs = ["BIRADS: 1. No mass is seen.", "Breast Composition: ACR B. A mass in the upper outer quadrant."]
    hyps = {"a": ["BIRADS: 1. No mass.", "ACR B. A mass is seen in the upper quadrant."],
            "b": ["BIRADS: 4. Calcifications.", "Breast Composition: ACR B. A mass in the upper outer quadrant."]}
    try:
        both = meteor15_systems(hyps, refs)
        # the second system's statistics sit at an offset in the shared process: the interesting case
        corpus, per = meteor15([coco_tokenize(x) for x in hyps["b"]], [coco_tokenize(r) for r in refs])
    except MissingBackendError as exc:
        pytest.skip(f"METEOR 1.5 unavailable: {exc}")
    assert both["b"][0] == pytest.approx(corpus) and np.allclose(both["b"][1], per)
    assert both["a"][0] != pytest.approx(corpus) and 0 < both["a"][0] < 1
    assert both["b"][1][1] > both["a"][1][1]


def test_lora_grid_and_recipe():
    grid = load_grid()
    assert [(g.lora["r"], g.lora["alpha"]) for g in grid][:4] == [(4, 8), (8, 16), (16, 32), (32, 64)]
    assert len({g.name for g in grid}) == len(grid) and all(g.base_model == "medgemma-4b" for g in grid)
    assert all(g.method == "lora" and g.freeze == ("vision_tower", "multi_modal_projector") for g in grid)


def test_bad_grid_names_file_and_entry(tmp_path):
    bad = tmp_path / "grid.yaml"
    bad.write_text("recipe: report_lora.yaml\ngrid:\n  - {r: 8}\n")
    with pytest.raises(ConfigError, match=r"grid\.yaml: grid\[0\]"):
        load_grid(bad)
    bad.write_text("recipe: report_tiny_cpu.yaml\ngrid:\n  - {r: 8, alpha: 16}\n")
    with pytest.raises(ConfigError, match="LoRA base recipe"):
        load_grid(bad)


def test_cli_score_prints_metrics(stage, capsys):
    from mammovqa.cli import main

    run, result = stage
    assert main(["report", "score", str(resolve(result["generations"], run.root)), "--meteor", "none", "--n-boot", "20", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pairs"] == result["counts"]["test"] and "rouge_l" in out["metrics"]
    assert main(["report", "grid"]) == 0
    assert "medgemma-4b-report-r4-a8" in capsys.readouterr().out
