"""`mammovqa import-predictions`: harness outputs come back as our prediction files and score exactly like
our own predict path on the same answers; bad files are errors naming file, line and id."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mammovqa.errors import DataError
from mammovqa.eval.baselines import run_baseline
from mammovqa.eval.metrics import metrics_table
from mammovqa.eval.scoring import score_items
from mammovqa.export.harness_import import import_harness
from mammovqa.paths import RunPaths
from mammovqa.predictions import PredictionWriter, read_predictions
from mammovqa.qa.items import LETTERS, QAItem, item_prompt, read_items
from test_export_helpers import build_phantom_root

RUN = ("phantom", "smoke")
# outputs a model might give: letters, texts, the article "a", refusals, lettered forms, multi-answers
STYLES = ("{letter}", "{text}", "The answer is {letter}: {text}", "a", "I cannot tell.", "{letter}, B", "")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_phantom_root(tmp_path_factory.mktemp("export_import"))


def _items(root: Path) -> list[QAItem]:
    return [it for it in read_items(RunPaths(*RUN, 0, root).qa_items) if it.split == "test" and it.level == "image"]


def _our_predictions(items: list[QAItem], out: Path) -> Path:
    """Our predict path's file format (PredictionWriter) with varied free-text outputs; one item left out."""
    with PredictionWriter(out, {"model_id": "ours", "split": "test", "level": "image"}) as w:
        for n, it in enumerate(items[1:]):
            k = (n * 7 + len(it.id)) % len(it.options)
            text = STYLES[n % len(STYLES)].format(letter=LETTERS[k], text=it.options[k])
            w.write(id=it.id, model="ours", prompt=item_prompt(it), options=it.options, output=text, latency_s=0.1)
    return out


def _lmms_samples(items: list[QAItem], outputs: dict[str, str], path: Path, run: str = "phantom-smoke") -> Path:
    """Lines in lmms-eval's --log_samples layout (doc without images, filtered_resps, resps, metrics)."""
    with open(path, "w") as fh:
        for n, it in enumerate(it for it in items if it.id in outputs):
            doc = {"benchmark": "mammovqa", "run": run, "id": it.id, "question": it.question, "options": it.options,
                   "answer": it.answer, "patient_id": it.patient_id}
            fh.write(json.dumps({"doc_id": n, "doc": doc, "target": it.answer, "arguments": [],
                                 "resps": [[outputs[it.id]]], "filtered_resps": [outputs[it.id]],
                                 "doc_hash": "x", "mammovqa_weighted_accuracy": {}}) + "\n")
    return path


def _vlmevalkit_xlsx(items: list[QAItem], outputs: dict[str, str], path: Path) -> Path:
    rows = []
    for n, it in enumerate(it for it in items if it.id in outputs):
        row = {"index": n, "question": it.question, "answer": "A", "category": it.topic_label, "item_id": it.id,
               "benchmark": "mammovqa", "run": "phantom-smoke", "prediction": outputs[it.id],
               "log": "Failed to predict, thus randomly generate one. " if n == 2 else "ok"}
        row.update({LETTERS[k]: o for k, o in enumerate(it.options)})
        rows.append(row)
    pd.DataFrame(rows).to_excel(path, index=False)
    return path


def _same_scores(items: list[QAItem], ours: Path, imported: Path) -> None:
    for matcher in ("official", "strict"):
        a = score_items(items, read_predictions(ours), matcher, model="m", warn=False)
        b = score_items(items, read_predictions(imported), matcher, model="m", warn=False)
        pd.testing.assert_frame_equal(a, b)
        pd.testing.assert_frame_equal(metrics_table(a), metrics_table(b))
        assert a.attrs["report"]["missing_ids"] == b.attrs["report"]["missing_ids"]
        assert items[0].id in a.attrs["report"]["missing_ids"]


@pytest.mark.parametrize("fmt", ["lmms-eval", "vlmevalkit"])
def test_import_scores_like_our_predict_path(root: Path, tmp_path: Path, fmt: str) -> None:
    items = _items(root)
    ours = _our_predictions(items, tmp_path / "ours.jsonl")
    outputs = {i: r["output"] for i, r in read_predictions(ours).rows.items()}
    src = (_lmms_samples(items, outputs, tmp_path / "20260101_samples_mammovqa_test_image.jsonl") if fmt == "lmms-eval"
           else _vlmevalkit_xlsx(items, outputs, tmp_path / "m_MammoVQA.xlsx"))
    summary = import_harness(fmt, [src], "harness-model", *RUN, root=root)
    w = summary["written"]["test_image"]
    assert w["missing"] == 1 and w["missing_ids"] == [items[0].id]
    assert w["random_fill"] == (1 if fmt == "vlmevalkit" else 0)
    imported = Path(w["file"])
    assert imported == RunPaths(*RUN, 0, root).predictions("harness-model", "test", "image")
    prov = read_predictions(imported).provenance
    assert prov["harness"] == fmt and prov["split"] == "test" and prov["level"] == "image"
    assert len(prov["harness_files"][0]["sha256"]) == 64 and prov["harness_version"]
    _same_scores(items, ours, imported)


def test_baseline_answers_round_trip(root: Path, tmp_path: Path) -> None:
    """A weight-free baseline written by our own predict path, replayed through an lmms-eval samples file."""
    items = _items(root)
    ours = run_baseline("random", items, tmp_path / "random.jsonl", seed=3)
    outputs = {i: r["output"] for i, r in read_predictions(ours).rows.items() if i != items[0].id}
    src = _lmms_samples(items, outputs, tmp_path / "x_samples_t.jsonl")
    w = import_harness("lmms-eval", [src], "random-via-lmms", *RUN, root=root)["written"]["test_image"]
    ours_minus_one = tmp_path / "ours_minus_one.jsonl"
    with PredictionWriter(ours_minus_one, {}) as out:
        for it in items[1:]:
            out.write(id=it.id, model="x", prompt=item_prompt(it), options=it.options, output=outputs[it.id],
                      latency_s=0.0)
    _same_scores(items, ours_minus_one, Path(w["file"]))


def _bad(tmp_path: Path, root: Path, mutate) -> DataError:  # noqa: ANN001
    items = _items(root)
    outputs = {it.id: "A" for it in items}
    path = _lmms_samples(items, outputs, tmp_path / "bad_samples_t.jsonl")
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    mutate(lines)
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    with pytest.raises(DataError) as exc:
        import_harness("lmms-eval", [path], "m", *RUN, root=root)
    return exc.value


def test_unknown_id_names_file_line_and_id(root: Path, tmp_path: Path) -> None:
    err = _bad(tmp_path, root, lambda ls: ls[3]["doc"].__setitem__("id", "Phantom-X/999#ACR"))
    assert "bad_samples_t.jsonl" in str(err) and "4" in str(err) and "Phantom-X/999#ACR" in str(err)


def test_duplicate_id_is_an_error(root: Path, tmp_path: Path) -> None:
    def dup(ls: list) -> None:
        ls[5]["doc"]["id"] = ls[4]["doc"]["id"]
        ls[5]["doc"]["options"] = ls[4]["doc"]["options"]

    err = _bad(tmp_path, root, dup)
    assert "answered twice" in str(err) and ":5" in str(err)


def test_other_benchmark_and_mismatched_options_are_errors(root: Path, tmp_path: Path) -> None:
    err = _bad(tmp_path, root, lambda ls: ls[0].__setitem__("doc", {"question": "What is in the image?", "id": 3}))
    assert "not a MammoVQA sample" in str(err)
    err = _bad(tmp_path, root, lambda ls: ls[1]["doc"].__setitem__("options", ls[1]["doc"]["options"][::-1]))
    assert "differ from the item's" in str(err) and ls_id(err)
    err = _bad(tmp_path, root, lambda ls: ls[2]["doc"].__setitem__("run", "phantom-default"))
    assert "not of 'phantom-smoke'" in str(err)


def ls_id(err: DataError) -> bool:
    return "#" in str(err)  # the item id (dataset/record#topic) is named


def test_cli_import_then_score(root: Path, tmp_path: Path) -> None:
    import os

    items = _items(root)
    src = _lmms_samples(items, {it.id: it.options[0] for it in items}, tmp_path / "d_samples_t.jsonl")
    env = dict(os.environ, MAMMOVQA_ROOT=str(root))
    cli = [sys.executable, "-m", "mammovqa.cli"]
    proc = subprocess.run([*cli, "import-predictions", "--format", "lmms-eval", str(src), "--model", "first",
                           "--source", "phantom", "--profile", "smoke"], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    pred = RunPaths(*RUN, 0, root).predictions("first", "test", "image")
    score = subprocess.run([*cli, "score", str(pred), "--items", str(RunPaths(*RUN, 0, root).qa_items),
                            "--matcher", "strict"], env=env, capture_output=True, text=True)
    assert score.returncode == 0, score.stderr
    assert "n_missing: 0" in score.stdout
    bad = subprocess.run([*cli, "import-predictions", "--format", "lmms-eval", str(tmp_path / "nope.jsonl"),
                          "--model", "m", "--profile", "smoke"], env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "mammovqa: error:" in bad.stderr
