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


# what VLMEvalKit's extract_answer_from_item logs when its judge fails three times and it picks an option at
# random (vlmeval/dataset/utils/multiple_choice.py); the random option goes to its ``opt`` column
RANDOM_LOG = "Failed to predict, thus randomly generate one. "


def _vlmevalkit_rows(items: list[QAItem], outputs: dict[str, str], random_fill: frozenset[int] = frozenset(),
                     run: str = "phantom-smoke") -> list[dict]:
    rows = []
    for n, it in enumerate(it for it in items if it.id in outputs):
        row = {"index": n, "question": it.question, "answer": "A", "category": it.topic_label, "item_id": it.id,
               "benchmark": "mammovqa", "run": run, "prediction": outputs[it.id],
               "log": RANDOM_LOG if n in random_fill else "ok", "opt": "B" if n in random_fill else "A"}
        row.update({LETTERS[k]: o for k, o in enumerate(it.options)})
        rows.append(row)
    return rows


def _vlmevalkit_xlsx(items: list[QAItem], outputs: dict[str, str], path: Path,
                     random_fill: frozenset[int] = frozenset()) -> Path:
    pd.DataFrame(_vlmevalkit_rows(items, outputs, random_fill)).to_excel(path, index=False)
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
    assert w["random_fill"] == 0
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
    assert "bad_samples_t.jsonl, row 4: id Phantom-X/999#ACR is not an item of this run" in str(err)


def test_duplicate_id_is_an_error(root: Path, tmp_path: Path) -> None:
    def dup(ls: list) -> None:
        ls[5]["doc"]["id"] = ls[4]["doc"]["id"]
        ls[5]["doc"]["options"] = ls[4]["doc"]["options"]

    items = _items(root)
    err = _bad(tmp_path, root, dup)
    assert f"bad_samples_t.jsonl, row 6: id {items[4].id} answered twice (first at " in str(err)
    assert "bad_samples_t.jsonl:5)" in str(err)


def test_other_benchmark_and_mismatched_options_are_errors(root: Path, tmp_path: Path) -> None:
    items = _items(root)
    err = _bad(tmp_path, root, lambda ls: ls[0].__setitem__("doc", {"question": "What is in the image?", "id": 3}))
    assert "bad_samples_t.jsonl, row 1: id 3: not a MammoVQA sample" in str(err)
    err = _bad(tmp_path, root, lambda ls: ls[0]["doc"].__setitem__("benchmark", "mmmu"))
    assert f"bad_samples_t.jsonl, row 1: id {items[0].id}: not a MammoVQA sample" in str(err)
    err = _bad(tmp_path, root, lambda ls: ls[1]["doc"].__setitem__("options", ls[1]["doc"]["options"][::-1]))
    assert f"bad_samples_t.jsonl, row 2: id {items[1].id}: options " in str(err) and "differ from the item's" in str(err)
    err = _bad(tmp_path, root, lambda ls: ls[2]["doc"].__setitem__("run", "phantom-default"))
    assert f"bad_samples_t.jsonl, row 3: id {items[2].id}: sample of run 'phantom-default', not of 'phantom-smoke'" in str(err)
    err = _bad(tmp_path, root, lambda ls: ls.insert(3, "not a sample"))
    assert "bad_samples_t.jsonl, row 4: not a MammoVQA sample" in str(err)


def test_the_same_id_in_two_files_names_both(root: Path, tmp_path: Path) -> None:
    items = _items(root)
    a = _lmms_samples(items, {it.id: "A" for it in items[:4]}, tmp_path / "a_samples_t.jsonl")
    b = _lmms_samples(items, {it.id: "B" for it in items[3:6]}, tmp_path / "b_samples_t.jsonl")
    with pytest.raises(DataError) as exc:
        import_harness("lmms-eval", [a, b], "m", *RUN, root=root)
    assert f"b_samples_t.jsonl, row 1: id {items[3].id} answered twice (first at {a}:4)" in str(exc.value)


def _vk_rows_mutated(items: list[QAItem], what: str) -> tuple[list[dict], int, str]:
    """VLMEvalKit rows with one fault; the spreadsheet row (header = row 1) and id the error must name."""
    rows = _vlmevalkit_rows(items, {it.id: "A" for it in items})
    if what == "unknown":
        rows[3]["item_id"] = "Phantom-X/999#ACR"
        return rows, 5, "Phantom-X/999#ACR is not an item of this run"
    if what == "duplicate":
        rows[6] = {**rows[4], "index": 6}
        return rows, 8, f"{items[4].id} answered twice (first at "
    if what == "benchmark":
        rows[2]["benchmark"] = "MMBench"
        return rows, 4, f"{items[2].id}: row of MMBench/phantom-smoke, not mammovqa/phantom-smoke"
    if what == "run":
        rows[5]["run"] = "phantom-default"
        return rows, 7, f"{items[5].id}: row of mammovqa/phantom-default"
    rows[1].update({"A": rows[1]["B"], "B": rows[1]["A"]})  # another option order is another question
    return rows, 3, f"{items[1].id}: options "


@pytest.mark.parametrize("what", ["unknown", "duplicate", "benchmark", "run", "options"])
@pytest.mark.parametrize("suffix", ["xlsx", "tsv"])
def test_vlmevalkit_bad_rows_name_file_row_and_id(root: Path, tmp_path: Path, what: str, suffix: str) -> None:
    rows, line, text = _vk_rows_mutated(_items(root), what)
    path = tmp_path / f"m_MammoVQA.{suffix}"
    df = pd.DataFrame(rows)
    df.to_excel(path, index=False) if suffix == "xlsx" else df.to_csv(path, sep="\t", index=False)
    with pytest.raises(DataError) as exc:
        import_harness("vlmevalkit", [path], "m", *RUN, root=root)
    assert f"m_MammoVQA.{suffix}, row {line}: id {text}" in str(exc.value)
    assert not RunPaths(*RUN, 0, root).predictions("m", "test", "image").exists()  # nothing half-written


def test_vlmevalkit_file_without_our_columns(root: Path, tmp_path: Path) -> None:
    path = tmp_path / "other_MMBench.tsv"
    pd.DataFrame([{"index": 0, "question": "q", "A": "x", "B": "y", "prediction": "A"}]).to_csv(path, sep="\t",
                                                                                                 index=False)
    with pytest.raises(DataError, match=r"other_MMBench.tsv, row 1: no column \['item_id'\]"):
        import_harness("vlmevalkit", [path], "m", *RUN, root=root)


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


def test_random_fill_scores_like_no_answer(root: Path, tmp_path: Path) -> None:
    """Rows VLMEvalKit filled in at random are marked and score exactly like the same file with those answers
    blank, under both matchers (the raw prediction of such a row is never credited, even when it is right)."""
    items = _items(root)
    outputs = {it.id: it.answer[0] for it in items}  # every raw prediction right: random fills must cost
    fills = frozenset({0, 3, 7})
    filled = _vlmevalkit_xlsx(items, outputs, tmp_path / "m_MammoVQA.xlsx", fills)
    blank_out = {it.id: ("" if n in fills else o) for n, (it, o) in enumerate(zip(items, outputs.values()))}
    blank = _vlmevalkit_xlsx(items, blank_out, tmp_path / "b_MammoVQA.xlsx")
    wf = import_harness("vlmevalkit", [filled], "filled", *RUN, root=root)["written"]["test_image"]
    wb = import_harness("vlmevalkit", [blank], "blank", *RUN, root=root)["written"]["test_image"]
    assert wf["random_fill"] == 3 and wb["random_fill"] == 0 and wf["missing"] == wb["missing"] == 0
    rows = read_predictions(wf["file"]).rows
    assert [it.id for it in items if rows[it.id].get("harness_random_fill")] == [items[n].id for n in sorted(fills)]
    assert rows[items[0].id]["output"] == outputs[items[0].id]  # the raw answer is kept, for the record
    for matcher in ("strict", "official"):
        a = score_items(items, read_predictions(wf["file"]), matcher, model="m", warn=False)
        b = score_items(items, read_predictions(wb["file"]), matcher, model="m", warn=False)
        pd.testing.assert_frame_equal(a, b)
        pd.testing.assert_frame_equal(metrics_table(a), metrics_table(b))
        ra, rb = a.attrs["report"], b.attrs["report"]
        assert ra["missing_ids"] == rb["missing_ids"] == [items[n].id for n in sorted(fills)]
        assert (ra["n_missing"], ra["n_random_fill"], ra["n_empty"]) == (3, 3, 0)
        assert (rb["n_missing"], rb["n_random_fill"], rb["n_empty"]) == (3, 0, 3)
        assert a["correct"].sum() == len(items) - 3


def test_random_fill_counted_by_mammovqa_score(root: Path, tmp_path: Path) -> None:
    import os

    items = _items(root)
    src = _vlmevalkit_xlsx(items, {it.id: it.answer[0] for it in items}, tmp_path / "s_MammoVQA.xlsx",
                           frozenset({1, 2}))
    w = import_harness("vlmevalkit", [src], "cli-fill", *RUN, root=root)["written"]["test_image"]
    env = dict(os.environ, MAMMOVQA_ROOT=str(root))
    for matcher in ("strict", "official"):
        out = subprocess.run([sys.executable, "-m", "mammovqa.cli", "score", w["file"], "--items",
                              str(RunPaths(*RUN, 0, root).qa_items), "--matcher", matcher], env=env,
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert "n_missing: 2" in out.stdout and "n_random_fill: 2" in out.stdout and "n_empty: 0" in out.stdout


def test_row_lines_are_the_bytes_dumps_writes(tmp_path: Path) -> None:
    """The pre-encoded prediction lines equal ``dumps`` of the row dict, for odd answers too."""
    from mammovqa.export.harness_import import HarnessAnswer, _row, _row_line
    from mammovqa.io import dumps

    it = QAItem(id='D/1#ACR "q"', topic="ACR", kind="single", level="image", dataset="D", part="breast",
                role="internal", split="test", record_id="1", patient_id="p", images=[],
                question='Which "density"?\tÉ\\', options=["Level A", "Level B", "Lévél ✓"], answer=["Level A"], seed=0)
    odd = [None, "", "A", 'He said "B"\n\\ok\t\x00\x1f\u2028', "😀 Level A", "null", " " * 3, "é" * 500]
    for k, out in enumerate(odd):
        for fill in (False, True):
            a = HarnessAnswer(it.id, out, tmp_path / "x y_ü.jsonl", k + 2, None, fill)
            for model in ("m", 'org/"odd" módel'):
                line = _row_line(it, a, model, dumps(model))
                assert line == dumps(_row(it, a, model)) + "\n"


def test_items_checksum_is_the_predict_path_hash(root: Path) -> None:
    """The import's provenance ``data_sha256`` equals what ``mammovqa predict`` records for the same items,
    including items with odd field values that take the generic encoder."""
    import copy

    from mammovqa.export.harness_import import _item_json, items_checksum
    from mammovqa.io import dumps
    from mammovqa.models.predict import items_checksum as predict_checksum

    items = read_items(RunPaths(*RUN, 0, root).qa_items)
    odd = []
    for n, change in enumerate([{"question": 'Q "é"\\\n\t😀'}, {"exam_id": "E1", "site": "S"}, {"extra": {"b": 1, "a": [None]}},
                                {"seed": True}, {"seed": 2**70}, {"images": ("a.png",)}, {"answer": []},
                                {"wording_index": 3}, {"options": ["x", "ÿ"]}, {"site": 5}]):
        it = copy.deepcopy(items[n])
        for k, v in change.items():
            setattr(it, k, v)
        odd.append(it)
    extra_attr = copy.deepcopy(items[0])
    extra_attr.note = "not a field"
    for it in [*items, *odd, extra_attr]:
        assert _item_json(it) == dumps({**vars(it), "schema": 1})
    assert items_checksum(items) == predict_checksum(items)
    assert items_checksum(odd[:3]) == predict_checksum(odd[:3])
