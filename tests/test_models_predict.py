"""The predict loop: exact prompts, resume, shards, per-item errors, SIGKILL mid-run, imported predictions."""

import json
import signal
import subprocess
import sys
import time

import pytest
import torch
from PIL import Image

from mammovqa.io import read_jsonl
from mammovqa.models.imported import import_predictions
from mammovqa.models.predict import StalePredictions, parse_shard, predict, shard_of
from mammovqa.models.tiny import build_tiny_vlm
from mammovqa.predictions import read_predictions
from mammovqa.qa.items import QAItem, item_prompt, write_items

torch.set_num_threads(1)


def make_items(root, n, exam_every=0):
    root.mkdir(parents=True, exist_ok=True)
    items = []
    for i in range(n):
        imgs = []
        for j in range(3 if exam_every and i % exam_every == 0 else 1):
            p = root / f"img{i}_{j}.png"
            Image.new("L", (40 + i % 7, 64), 30 + (i * 13 + j) % 200).save(p)
            imgs.append(str(p))
        opts = ["Right", "Left"] if i % 2 else ["Left", "Right"]
        items.append(QAItem(id=f"q{i:04d}", topic="Laterality", kind="single", level="image", dataset="Phantom-breast",
                            part="breast", role="internal", split="test", record_id=f"r{i}", patient_id=f"p{i}",
                            images=imgs, question="Which breast is shown in this mammogram?", options=opts,
                            answer=["Left"], seed=i))
    return items


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_vlm(tmp_path_factory.mktemp("tiny") / "tiny-vlm", seed=0, text_hidden=64)


def test_predict_writes_exact_prompts_resumes_and_records_errors(tiny, tmp_path):
    items = make_items(tmp_path / "img", 12, exam_every=4)
    items[5].images = [str(tmp_path / "missing.png")]
    (tmp_path / "corrupt.png").write_bytes(b"not a png")
    items[7].images = [str(tmp_path / "corrupt.png")]
    out = tmp_path / "pred.jsonl"
    s = predict("tiny-vlm", items[:8], out, model_path=tiny, batch_size=4, max_new_tokens=4, progress=False)
    assert s["written"] == 8 and s["errors"] == 2
    preds = read_predictions(out)
    assert preds.provenance["model_id"] == "tiny-vlm" and preds.provenance["max_new_tokens"] == 4
    assert preds.provenance["data_sha256"]
    for it in items[:8]:
        row = preds.rows[it.id]
        assert row["prompt"] == item_prompt(it) and row["options"] == it.options and row["model"] == "tiny-vlm"
    assert "FileNotFoundError" in preds.rows["q0005"]["error"] and preds.rows["q0005"]["output"] is None
    assert preds.rows["q0007"]["error"].startswith("image:")
    assert isinstance(preds.rows["q0000"]["output"], str) and preds.rows["q0000"]["error"] is None
    # resume: the six done items are skipped; the two failures are retried (and fail again)
    s2 = predict("tiny-vlm", items[:8], out, model_path=tiny, batch_size=4, max_new_tokens=4, progress=False)
    assert s2["skipped_done"] == 6 and s2["written"] == 2
    # other items (here: more of them) are another source: continuing would mix item sets
    with pytest.raises(StalePredictions, match="data_sha256"):
        predict("tiny-vlm", items, out, model_path=tiny, batch_size=4, max_new_tokens=4, progress=False)
    # outputs do not depend on the batch size
    out1 = tmp_path / "b1.jsonl"
    predict("tiny-vlm", items[:8], out1, model_path=tiny, batch_size=1, max_new_tokens=4, progress=False)
    a, b = read_predictions(out).rows, read_predictions(out1).rows
    assert {k: v["output"] for k, v in a.items()} == {k: v["output"] for k, v in b.items()}


def test_shards_are_disjoint_and_cover(tiny, tmp_path):
    items = make_items(tmp_path / "img", 10)
    ids = []
    for i in range(3):
        out = tmp_path / f"s{i}.jsonl"
        predict("tiny-vlm", items, out, model_path=tiny, shard=(i, 3), batch_size=8, max_new_tokens=2,
                progress=False)
        ids += list(read_predictions(out).rows)
    assert sorted(ids) == sorted(it.id for it in items)
    assert shard_of("q0001", 3) == shard_of("q0001", 3) and parse_shard("2/3") == (2, 3)
    with pytest.raises(Exception, match="i/n"):
        parse_shard("3")


def test_sigkill_mid_run_loses_and_duplicates_nothing(tiny, tmp_path):
    items = make_items(tmp_path / "img", 120)
    items_path = tmp_path / "items.jsonl"
    write_items(items_path, items)
    out = tmp_path / "pred.jsonl"
    code = ("import torch; torch.set_num_threads(1)\n"
            "from mammovqa.models.predict import predict\nfrom mammovqa.qa.items import read_items\n"
            f"predict('tiny-vlm', read_items({str(items_path)!r}), {str(out)!r}, model_path={str(tiny)!r}, "
            "batch_size=1, max_new_tokens=8, progress=False)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        if out.exists() and out.read_bytes().count(b"\n") >= 10:
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_first = out.read_bytes().count(b"\n") - 1
    assert 0 < n_first < len(items), "killed mid-run"
    s = predict("tiny-vlm", items, out, model_path=tiny, batch_size=8, max_new_tokens=8, progress=False)
    assert s["skipped_done"] >= n_first - 1
    preds = read_predictions(out)
    assert preds.check_against(it.id for it in items) == {"missing": [], "unknown": [], "duplicates": []}
    ids = [r["id"] for r in read_jsonl(out) if "id" in r]
    assert len(ids) == len(set(ids)) == len(items)


def test_import_jsonl_csv_and_official(tmp_path):
    items = make_items(tmp_path / "img", 4)
    for n, it in enumerate(items, start=1):
        it.extra["official_key"] = str(n)
    src = tmp_path / "own.jsonl"
    src.write_text("".join(json.dumps({"id": it.id, "output": "B"}) + "\n" for it in items[:3]))
    out = tmp_path / "p.jsonl"
    assert import_predictions("radfm-14b", src, items, out) == {"written": 3, "missing": 1}
    rows = read_predictions(out).rows
    assert rows["q0000"]["prompt"] == item_prompt(items[0]) and rows["q0000"]["output"] == "B"
    assert read_predictions(out).provenance["imported_format"] == "jsonl"
    csvf = tmp_path / "own.csv"
    csvf.write_text("id,output\nq0001,Left\nq0002,\"A: Left, B\"\n")
    import_predictions("radfm-14b", csvf, items, out)
    assert read_predictions(out).rows["q0002"]["output"] == "A: Left, B" and len(read_predictions(out).rows) == 2
    off = tmp_path / "res.json"
    off.write_text(json.dumps({"2": {"Question": items[1].question, "model_output": "Right"},
                               "4": {"model_output": "Left"}}))
    import_predictions("meddr-40b", off, items, out)
    assert {k: v["output"] for k, v in read_predictions(out).rows.items()} == {"q0001": "Right", "q0003": "Left"}
    src.write_text(json.dumps({"id": "nope", "output": "A"}) + "\n")
    with pytest.raises(Exception, match="nope"):
        import_predictions("radfm-14b", src, items, out)


def test_cli_predict_and_list(tiny, tmp_path, capsys):
    from mammovqa.cli import main

    items = make_items(tmp_path / "img", 3)
    write_items(tmp_path / "items.jsonl", items)
    out = tmp_path / "cli.jsonl"
    assert main(["predict", "--model", "tiny-vlm", "--model-path", str(tiny), "--items", str(tmp_path / "items.jsonl"),
                 "--out", str(out), "--max-new-tokens", "3", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["written"] == 3
    assert main(["predict", "--model", "radfm-14b", "--items", str(tmp_path / "items.jsonl"), "--out",
                 str(tmp_path / "x.jsonl")]) == 2  # not native: a clear error, no traceback
    assert "not native" in capsys.readouterr().err
    assert main(["models", "list", "--json"]) == 0
    listed = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert len(listed) >= 15 and listed["minigpt4-7b"]["available"] is False


def test_resume_refuses_a_file_written_by_other_weights(tmp_path):
    """After a re-training, continuing the old file would mix two checkpoints' answers."""
    from mammovqa.models.predict import model_fingerprint
    from mammovqa.models.tiny import build_tiny_vlm

    a = build_tiny_vlm(tmp_path / "a", seed=0, image_size=32, text_hidden=64, vision_hidden=32)
    b = build_tiny_vlm(tmp_path / "b", seed=1, image_size=32, text_hidden=64, vision_hidden=32)
    assert model_fingerprint(a) != model_fingerprint(b) and model_fingerprint(a) == model_fingerprint(a)
    items = make_items(tmp_path, 4)
    out = tmp_path / "preds.jsonl"
    predict("m", items, out, model_path=a, progress=False, max_new_tokens=2)
    with pytest.raises(StalePredictions, match="other weights"):
        predict("m", items, out, model_path=b, progress=False, max_new_tokens=2)
    summary = predict("m", items, out, model_path=b, progress=False, max_new_tokens=2, on_model_change="restart")
    assert summary["written"] == 4 and summary["skipped_done"] == 0
    assert read_predictions(out).provenance["model_fingerprint"] == model_fingerprint(b)


def test_a_failing_item_costs_its_own_answer_not_the_batch():
    """generate_isolated: when a batch fails, every item is retried alone and only the bad one is an error."""
    from mammovqa.models.predict import generate_isolated

    class Picky:  # answers in upper case; a request it cannot take fails the whole batch, as a real model does
        def generate(self, requests):
            if any(r == "bad" for r in requests):
                raise ValueError("cannot read image")
            return [r.upper() for r in requests]

    assert generate_isolated(Picky(), ["a", "b"]) == (["A", "B"], [None, None])
    outputs, errors = generate_isolated(Picky(), ["a", "bad", "c"])
    assert outputs == ["A", None, "C"] and errors[0] is None and errors[2] is None
    assert errors[1] == "generate: ValueError: cannot read image"
