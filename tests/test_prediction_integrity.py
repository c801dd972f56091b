"""Nothing lost, nothing mixed, nothing silent: scoring, prediction files and imports under faults (issue 14).

Each test reproduces a failure measured on the code before the fix (wrong numbers or mixed sources with exit
code 0) and pins the corrected behaviour: a correct result or a clear error with exit code 2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mammovqa.cli import main
from mammovqa.errors import DataError, MammoVQAError
from mammovqa.eval.scoring import score_items
from mammovqa.io import provenance
from mammovqa.models.imported import import_predictions
from mammovqa.predictions import PredictionWriter, read_predictions
from mammovqa.qa.items import QAItem, item_prompt, write_items
from mammovqa.qa.official import export_official_json, import_official, read_official_json


def _item(i: int, split: str = "test", level: str = "image") -> QAItem:
    opts = ["Right", "Left"] if i % 2 else ["Left", "Right"]
    return QAItem(id=f"{split}-{i}", topic="Laterality", kind="single", level=level, dataset="D1-breast",
                  part="breast", role="external" if split == "external" else "internal", split=split,
                  record_id=f"r{i}", patient_id=f"p{i}", images=[f"img{i}.png"],
                  question="Which breast is shown in this mammogram?", options=opts, answer=["Left"], seed=i)


def _items_file(tmp_path: Path) -> tuple[Path, list[QAItem]]:
    items = [_item(i) for i in range(6)] + [_item(i, "external") for i in range(4)]
    path = tmp_path / "items.jsonl"
    write_items(path, items)
    return path, items


def _write_preds(path: Path, items: list[QAItem], output: str | None = "Left", model: str = "m/x",
                 prov: dict | None = None) -> Path:
    with PredictionWriter(path, prov if prov is not None else {"model_id": model}) as w:
        for it in items:
            w.write(id=it.id, model=model, prompt=item_prompt(it), options=it.options, output=output, latency_s=0.0)
    return path


def _score(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(["score", *argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


# ------------------------------------------------------------------ 1. scoring never guesses


def test_score_empty_or_provenance_only_file_is_an_error(tmp_path, capsys):
    items_path, _ = _items_file(tmp_path)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    prov_only = tmp_path / "prov.jsonl"
    prov_only.write_text(json.dumps({"provenance": {"model_id": "m/x"}}) + "\n")
    for f in (empty, prov_only):
        rc, out, err = _score(capsys, str(f), "--items", str(items_path))
        assert rc == 2 and "--split" in err and "--level" in err, (out, err)
    # with the split and level named, an empty file is a correct result: every item missing, scored wrong
    rc, out, _ = _score(capsys, str(empty), "--items", str(items_path), "--split", "test", "--level", "image")
    assert rc == 0 and "n_missing: 6" in out


def test_score_mixed_splits_per_split_missing_at_most_n(tmp_path, capsys):
    items_path, items = _items_file(tmp_path)
    mixed = _write_preds(tmp_path / "mixed.jsonl", [items[0], items[1], items[6]], prov={})
    rc, out, _ = _score(capsys, str(mixed), "--items", str(items_path))
    assert rc == 0
    blocks = [ln for ln in out.splitlines() if ln.startswith("# ")]
    assert len(blocks) == 2 and "split=external" in blocks[0] and "split=test" in blocks[1], out
    for ln in out.splitlines():
        cells = [c.strip() for c in ln.strip("|").split("|")]
        if len(cells) == 8 and cells[2].isdigit():
            assert int(cells[7]) <= int(cells[2]), ln
    assert "n_missing: 4" in out and "n_missing: 3" in out


def test_score_split_from_provenance(tmp_path, capsys):
    items_path, items = _items_file(tmp_path)
    f = _write_preds(tmp_path / "p.jsonl", items[:2], prov={"model_id": "m/x", "split": "test", "level": "image"})
    rc, out, _ = _score(capsys, str(f), "--items", str(items_path))
    assert rc == 0 and "split=test level=image" in out and "n_missing: 4" in out


def test_empty_whitespace_and_null_answers_are_missing():
    items = [_item(i) for i in range(5)]
    outs = ["", "   \n", "null", None, "Left"]
    rows = {it.id: {"id": it.id, "model": "m", "output": o, "error": None} for it, o in zip(items, outs)}
    df = score_items(items, rows, "official", warn=False)
    assert list(df.missing) == [True, True, True, True, False]
    assert list(df.correct) == [0, 0, 0, 0, 1]
    assert df.attrs["report"]["n_missing"] == 4 and df.attrs["report"]["n_empty"] == 4


def test_provenance_row_model_mismatch_is_an_error(tmp_path, capsys):
    items_path, items = _items_file(tmp_path)
    f = _write_preds(tmp_path / "p.jsonl", items[:6], model="other/model",
                     prov={"model_id": "claimed/model", "split": "test", "level": "image"})
    with pytest.raises(DataError, match="claimed/model.*other/model"):
        score_items(items[:6], read_predictions(f), "strict", warn=False)
    rc, _, err = _score(capsys, str(f), "--items", str(items_path))
    assert rc == 2 and "other/model" in err


# ------------------------------------------------------------------ 2. one writer, one source


def test_second_writer_is_refused_naming_the_holder(tmp_path):
    from mammovqa.io import FileLocked, file_lock

    out = tmp_path / "p.jsonl"
    code = ("import sys, time\nfrom mammovqa.io import file_lock\n"
            f"with file_lock({str(out)!r}, 'holder-test'):\n    print('locked', flush=True)\n    time.sleep(30)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(FileLocked, match=f"pid {proc.pid}.*holder-test"):
            PredictionWriter(out, {"model_id": "m"})
        with pytest.raises(FileLocked, match=f"pid {proc.pid}"):
            import_predictions("m", _jsonl(tmp_path, [_item(0)]), [_item(0)], out)
    finally:
        proc.kill()
        proc.wait()
    with file_lock(out), file_lock(out):  # free again, and re-entrant within one process
        pass
    _write_preds(out, [_item(0)])
    assert list(read_predictions(out).rows) == ["test-0"]


def _jsonl(tmp_path: Path, items: list[QAItem], output: str = "Left") -> Path:
    src = tmp_path / "own.jsonl"
    src.write_text("".join(json.dumps({"id": it.id, "output": output}) + "\n" for it in items))
    return src


def test_openai_resume_refuses_a_file_from_another_source(tmp_path):
    """An HF-written file must not be continued by a server answering with another model."""
    from mammovqa.models.predict import StalePredictions, check_resumable, expected_provenance

    items = [_item(i) for i in range(4)]
    out = tmp_path / "p.jsonl"
    hf = expected_provenance("m", items, backend="hf", served_model=None, fingerprint="abc")
    _write_preds(out, items[:2], model="m", prov=provenance(model_id="m", **hf))
    check_resumable(out, expected_provenance("m", items, backend="hf", served_model=None, fingerprint="abc"),
                    "error")  # same source: fine
    cases = {"backend": dict(backend="openai", served_model="other", fingerprint=None),
             "model_fingerprint": dict(backend="hf", served_model=None, fingerprint="xyz")}
    for key, kw in cases.items():
        with pytest.raises(StalePredictions, match=key):
            check_resumable(out, expected_provenance("m", items, **kw), "error")
    with pytest.raises(StalePredictions, match="data_sha256"):
        check_resumable(out, expected_provenance("m", items[:3], backend="hf", served_model=None,
                                                 fingerprint="abc"), "error")
    nometa = tmp_path / "nometa.jsonl"
    _write_preds(nometa, items[:1], model="m", prov={})
    with pytest.raises(StalePredictions, match="no provenance"):
        check_resumable(nometa, hf, "error")


def test_predict_openai_onto_hf_file_is_refused(tmp_path):
    from mammovqa.models.predict import StalePredictions, expected_provenance, predict

    items = [_item(i) for i in range(3)]
    out = tmp_path / "p.jsonl"
    hf = expected_provenance("m", items, backend="hf", served_model=None, fingerprint="abc")
    _write_preds(out, items[:1], model="m", prov=provenance(model_id="m", **hf))
    with pytest.raises(StalePredictions, match="backend"):
        predict("m", items, out, backend="openai", base_url="http://127.0.0.1:9/v1", served_model="other",
                progress=False)
    assert len(read_predictions(out).rows) == 1


def test_official_result_import_maps_by_id_only(tmp_path):
    test_items = [_item(i) for i in range(3)]
    ext_items = [_item(i, "external") for i in range(3)]
    ext_items[0].question = "Which side is this?"
    res = tmp_path / "res.json"
    res.write_text(json.dumps({"1": {"Question": ext_items[0].question, "Options": ext_items[0].options,
                                     "model_output": "Left"}}))
    with pytest.raises(DataError, match="official_key"):  # no positional fallback
        import_predictions("m", res, test_items, tmp_path / "o.jsonl")
    for n, it in enumerate(test_items, start=1):
        it.extra["official_key"] = str(n)
    with pytest.raises(DataError, match="res.json.*key 1.*test-0.*question"):  # the wrong split's file
        import_predictions("m", res, test_items, tmp_path / "o.jsonl")
    assert not (tmp_path / "o.jsonl").exists()


def test_import_that_matches_nothing_is_an_error(tmp_path):
    items = [_item(i) for i in range(3)]
    src = tmp_path / "own.jsonl"
    src.write_text(json.dumps({"provenance": {}}) + "\n")
    with pytest.raises(DataError, match="no prediction"):
        import_predictions("m", src, items, tmp_path / "o.jsonl")


def _official_entry(**kw) -> dict:
    e = {"Path": "/Benchmark/D/x.png", "Question topic": "View", "Question type": "single choice",
         "Question": "View?", "Options": ["MLO", "CC"], "Answer": "CC", "Dataset": "CBIS-DDSM-breast"}
    return e | kw


@pytest.mark.parametrize(("bad", "message"), [
    ({"Answer": "LMLO"}, "answer 'LMLO' is not among the options"),
    ({"Question topic": "Colour"}, "unknown topic 'Colour'"),
    ({"Options": ["CC"], "Answer": "CC"}, "1 option"),
])
def test_import_official_validates_every_entry(tmp_path, bad, message):
    src = tmp_path / "bench.json"
    src.write_text(json.dumps({"1": _official_entry(), "2": _official_entry(**bad)}, indent=1))
    with pytest.raises(DataError, match=f"bench.json, line 14: entry 2 \\(id official-image-test-2\\): {message}"):
        import_official(src, {"/Benchmark/": "/x/"}, check_exists=False)


def test_import_official_resolving_nothing_is_an_error(tmp_path, capsys):
    src = tmp_path / "bench.json"
    src.write_text(json.dumps({"1": _official_entry(), "2": _official_entry()}))
    with pytest.raises(DataError, match="0 of 2 entries.*--prefix"):
        import_official(src, {"/Wrong/": "/x/"}, check_exists=False)
    rc = main(["data", "import-official", str(src), "--prefix", "/Wrong/=/x/", "--out", str(tmp_path / "o.jsonl")])
    assert rc == 2 and "0 of 2" in capsys.readouterr().err and not (tmp_path / "o.jsonl").exists()


def test_official_round_trip_still_imports(tmp_path):
    items = [_item(i) for i in range(3)]
    path = export_official_json(items, tmp_path / "b.json")
    assert [it.id for it in read_official_json(path)] == [it.id for it in items]


# ------------------------------------------------------------------ 4. degenerate models


def test_degenerate_outputs_flags_empty_and_constant_answers():
    from mammovqa.eval.degenerate import degenerate_outputs

    items = [_item(i) for i in range(40)]

    def rows(outputs):
        return {it.id: {"id": it.id, "output": o, "error": None} for it, o in zip(items, outputs)}

    empty = degenerate_outputs(rows([""] * 39 + ["Left"]))
    assert empty is not None and empty["reason"] == "empty" and empty["empty_share"] == pytest.approx(39 / 40)
    same = degenerate_outputs(rows(["A: Left"] * 38 + ["B", "Right"]))
    assert same is not None and same["reason"] == "identical" and same["top_output"] == "A: Left"
    assert degenerate_outputs(rows(["Left", "Right"] * 20)) is None
    assert degenerate_outputs(rows(["Left"] * 5)) is None  # too few answers to judge a repeated answer
    assert degenerate_outputs(rows([""] * 4))["reason"] == "empty"  # no answer at all is always degenerate
    assert degenerate_outputs({}) is None


def test_stage_lock_refuses_a_second_run(tmp_path):
    """Two `make all` on one run: the second stage stops with a message naming the first."""
    from mammovqa.paths import RunPaths
    from mammovqa.pipeline import stage_lock_path

    env = {**os.environ, "MAMMOVQA_ROOT": str(tmp_path)}

    lock = stage_lock_path(RunPaths("phantom", "smoke", 0, root=tmp_path.resolve()), "zero-shot")
    code = ("import time\nfrom mammovqa.io import file_lock\n"
            f"with file_lock({str(lock)!r}, 'first make'):\n    print('locked', flush=True)\n    time.sleep(30)\n")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout.readline().strip() == "locked"
        proc = subprocess.run([sys.executable, "-m", "mammovqa.cli", "stage", "zero-shot", "--profile", "smoke"],
                              capture_output=True, text=True, timeout=120, env=env)
        assert proc.returncode == 2 and f"pid {holder.pid}" in proc.stderr and "Traceback" not in proc.stderr
    finally:
        holder.kill()
        holder.wait()


def test_errors_are_mammovqa_errors():
    from mammovqa.io import FileLocked

    assert issubclass(FileLocked, MammoVQAError)


def test_models_import_official_maps_through_the_benchmark_sidecar(tmp_path, capsys):
    items_path, items = _items_file(tmp_path)
    bench = export_official_json(items[:6], tmp_path / "MammoVQA-Image-Bench.json")
    res = tmp_path / "res.json"
    res.write_text(json.dumps({"2": {"model_output": "Left"}, "3": {"model_output": "B"}}))
    base = ["models", "import", "--model", "m", str(res), "--items", str(items_path), "--benchmark", str(bench),
            "--level", "image"]
    out = tmp_path / "o.jsonl"
    assert main([*base, "--split", "test", "--out", str(out)]) == 0
    assert {k: v["output"] for k, v in read_predictions(out).rows.items()} == {"test-1": "Left", "test-2": "B"}
    assert read_predictions(out).provenance["split"] == "test"
    capsys.readouterr()
    # the same result file imported into the external split: no positional guess, an error
    assert main([*base, "--split", "external", "--out", str(tmp_path / "x.jsonl")]) == 2
    assert "official_key" in capsys.readouterr().err and not (tmp_path / "x.jsonl").exists()


def test_api_key_is_sent_never_stored_and_null_content_is_no_answer(tmp_path, monkeypatch, capsys):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from PIL import Image

    seen: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server API
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append(self.headers.get("Authorization"))
            text = body["messages"][0]["content"][-1]["text"]
            content = None if "Right, B: Left" in text else "Left"
            data = json.dumps({"choices": [{"message": {"content": content}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *a):
            pass

    items = [_item(i) for i in range(4)]
    for it in items:
        Image.new("L", (16, 16), 90).save(tmp_path / it.images[0])
        it.images = [str(tmp_path / it.images[0])]
    write_items(tmp_path / "items.jsonl", items)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    out = tmp_path / "p.jsonl"
    try:
        assert main(["predict", "--model", "m", "--backend", "openai", "--base-url",
                     f"http://127.0.0.1:{srv.server_address[1]}/v1", "--items", str(tmp_path / "items.jsonl"),
                     "--out", str(out), "--quiet", "--retries", "0"]) == 0
    finally:
        srv.shutdown()
        srv.server_close()
    assert seen and set(seen) == {"Bearer sk-test-secret"}
    assert "sk-test-secret" not in out.read_text()
    preds = read_predictions(out)
    assert preds.provenance["served_model"] == "m" and preds.provenance["backend"] == "openai"
    assert [preds.rows[it.id]["output"] for it in items] == ["Left", None, "Left", None]
    df = score_items(items, preds, "strict", warn=False)
    assert list(df.missing) == [False, True, False, True]


def test_provenance_split_with_rows_of_another_split_is_an_error(tmp_path, capsys):
    items_path, items = _items_file(tmp_path)
    f = _write_preds(tmp_path / "p.jsonl", [items[0], items[6]],
                     prov={"model_id": "m/x", "split": "test", "level": "image"})
    rc, _, err = _score(capsys, str(f), "--items", str(items_path))
    assert rc == 2 and "mixes item sets" in err and "external-0" in err
    rc, out, _ = _score(capsys, str(f), "--items", str(items_path), "--split", "test")
    assert rc == 0 and "not scored (outside --split/--level): 1" in out and "n_missing: 5" in out


def test_an_import_never_replaces_a_file_another_writer_holds(tmp_path):
    """An import replaces its output atomically; under the file's lock it never swaps a file that a running
    ``predict`` is appending to (the audit found the import took no lock)."""
    import fcntl

    from mammovqa.export.harness_import import _write_predictions
    from mammovqa.io import FileLocked, lock_path_of

    out = tmp_path / "preds.jsonl"
    out.write_text('{"provenance": {"model_id": "m"}}\n')
    with open(lock_path_of(out), "w") as held:  # what a running predict holds
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(FileLocked, match="being written by"):
            _write_predictions(out, {"model_id": "other"}, [])
    assert out.read_text() == '{"provenance": {"model_id": "m"}}\n'
    _write_predictions(out, {"model_id": "other"}, [])
    assert '"other"' in out.read_text()
