"""`mammovqa export lmms-eval`: the task folder loads (YAML and utils.py, and lmms-eval's own TaskManager when
it can be installed), its functions give the protocol prompt and the images, and process_results scores item for
item as `mammovqa score` does, aggregates included."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest
import yaml
from PIL import Image

from mammovqa.eval.metrics import metrics_table
from mammovqa.eval.scoring import score_items
from mammovqa.export.harness_import import import_harness
from mammovqa.export.lmms_eval import export_lmms_eval
from mammovqa.paths import RunPaths
from mammovqa.predictions import read_predictions
from mammovqa.qa.items import LETTERS, QAItem, item_prompt, read_items
from test_export_helpers import build_phantom_root

datasets = pytest.importorskip("datasets", reason="datasets is pinned in requirements.lock; run make venv")

STYLES = ("{letter}", "{text}", "The answer is {letter}: {text}", "a", "I cannot tell.", "{letter}, B", "")
# lmms-eval 0.7.2's task loading imports these besides what requirements.lock has (found by importing it)
LMMS_EVAL = ["lmms-eval==0.7.2", "loguru", "pytz", "evaluate", "sacrebleu", "portalocker", "colorama", "lxml"]


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!function", lambda loader, node: ("function", loader.construct_scalar(node)))


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("export_lmms")
    root = build_phantom_root(tmp)
    out = tmp / "tasks"
    summary = export_lmms_eval("phantom", "smoke", out, root=root)
    items = read_items(RunPaths("phantom", "smoke", 0, root).qa_items)
    return {"root": root, "out": out, "summary": summary, "items": items, "tmp": tmp}


def _outputs(items: list[QAItem]) -> dict[str, str]:
    out = {}
    for n, it in enumerate(items):
        k = (n * 5 + len(it.id)) % len(it.options)
        out[it.id] = STYLES[n % len(STYLES)].format(letter=LETTERS[k], text=it.options[k])
    return out


def _utils(out: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("mammovqa_task_utils", out / "utils.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _docs(out: Path, split: str, level: str, tmp: Path) -> list[dict]:
    task = yaml.load((out / f"mammovqa_{split}_{level}.yaml").read_text(), Loader=_Loader)
    files = task["dataset_kwargs"]["data_files"]
    return list(datasets.load_dataset("json", data_files=files, cache_dir=str(tmp / "c"))["test"])  # as lmms-eval


def test_yaml_layout_follows_lmms_eval_conventions(setup: dict) -> None:
    out = setup["out"]
    tpl = yaml.load((out / "_default_template_yaml").read_text(), Loader=_Loader)
    assert tpl["dataset_path"] == "json" and tpl["output_type"] == "generate_until" and tpl["test_split"] == "test"
    assert tpl["doc_to_visual"] == ("function", "utils.mammovqa_doc_to_visual")
    assert tpl["cluster_key"] == "patient_id"
    utils = _utils(out)
    for key in ("doc_to_visual", "doc_to_text", "doc_to_messages", "doc_to_target", "process_results"):
        assert callable(getattr(utils, tpl[key][1].split(".", 1)[1]))
    for m in tpl["metric_list"]:
        assert callable(getattr(utils, m["aggregation"][1].split(".", 1)[1]))
    group = yaml.load((out / "mammovqa.yaml").read_text(), Loader=_Loader)
    assert group["group"] == "mammovqa"
    assert group["task"] == [t for t in setup["summary"]["tasks"] if "_test_" in t or "_external_" in t]
    for name, n in setup["summary"]["tasks"].items():
        task = yaml.load((out / f"{name}.yaml").read_text(), Loader=_Loader)
        assert task["include"] == "_default_template_yaml" and task["task"] == name
        assert sum(1 for _ in open(task["dataset_kwargs"]["data_files"]["test"])) == n


def test_doc_functions_give_prompt_images_and_scores_like_mammovqa_score(setup: dict) -> None:
    utils, tmp = _utils(setup["out"]), setup["tmp"]
    for split, level in (("test", "image"), ("test", "exam"), ("external", "image")):
        items = [it for it in setup["items"] if it.split == split and it.level == level]
        docs = _docs(setup["out"], split, level, tmp)
        assert [d["id"] for d in docs] == [it.id for it in items]
        outputs = _outputs(items)
        records = {"strict": [], "official": []}
        for doc, it in zip(docs, items, strict=True):
            assert utils.mammovqa_doc_to_text(doc) == item_prompt(it)
            images = utils.mammovqa_doc_to_visual(doc)
            assert len(images) == len(it.images) and all(isinstance(im, Image.Image) for im in images)
            want = Image.open(setup["root"] / it.images[0]).convert("RGB")
            assert images[0].tobytes() == want.tobytes()
            msg = utils.mammovqa_doc_to_messages(doc)
            assert msg[0]["content"][-1]["text"] == item_prompt(it)
            res = utils.mammovqa_process_results(doc, [outputs[it.id]])
            records["strict"].append(res["mammovqa_weighted_accuracy"])
            records["official"].append(res["mammovqa_official_weighted_accuracy"])
        rows = {it.id: {"output": outputs[it.id]} for it in items}
        for matcher, recs in records.items():
            ours = score_items(items, rows, matcher, model="m", warn=False)
            assert [r["correct"] for r in recs] == ours["correct"].tolist()  # item for item
            assert [r["pred"] for r in recs] == ours["pred"].tolist()
            overall = metrics_table(ours).query("topic == 'all' and dataset == 'all'").iloc[0]
            assert utils.mammovqa_aggregate_weighted_accuracy(recs) == pytest.approx(overall["weighted_accuracy"])
            assert utils.mammovqa_aggregate_accuracy(recs) == pytest.approx(overall["accuracy"])


@pytest.fixture(scope="module")
def lmms_eval_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """lmms-eval installed --no-deps (its full dependencies swap in a CUDA torch) into a throwaway folder."""
    target = tmp_path_factory.mktemp("lmms_pkgs")
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), *LMMS_EVAL]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        pytest.skip("installing lmms-eval timed out (registry slow or unreachable)")
    if proc.returncode != 0:
        pytest.skip(f"lmms-eval could not be installed (registry unreachable?): {proc.stderr[-300:]}")
    return target


RUN_LMMS = r"""
import json, sys
from lmms_eval.tasks import TaskManager, get_task_dict
folder, outputs_file, samples = sys.argv[1:4]
outputs = json.load(open(outputs_file))
tm = TaskManager(include_path=folder, include_defaults=False)
groups = get_task_dict(["mammovqa"], tm)
result = {}
with open(samples, "w") as fh:
    for group, tasks in groups.items():
        for name, task in tasks.items():
            agg = task.aggregation()
            per_metric, correct = {}, []
            for n, doc in enumerate(task.test_docs()):
                visual = task.doc_to_visual(doc)
                res = task.process_results(doc, [outputs[doc["id"]]])
                correct.append([doc["id"], res["mammovqa_weighted_accuracy"]["correct"],
                                res["mammovqa_official_weighted_accuracy"]["correct"], len(visual),
                                task.doc_to_text(doc)])
                for k, v in res.items():
                    per_metric.setdefault(k, []).append(v)
                saved = {k: v for k, v in doc.items()}
                fh.write(json.dumps({"doc_id": n, "doc": saved, "target": task.doc_to_target(doc), "arguments": [],
                                     "resps": [[outputs[doc["id"]]]], "filtered_resps": [outputs[doc["id"]]],
                                     **res}) + "\n")
            result[name] = {"correct": correct, "agg": {k: agg[k](v) for k, v in per_metric.items()},
                            "cluster_key": task.config.cluster_key if hasattr(task.config, "cluster_key") else None}
print(json.dumps(result))
"""


def test_lmms_eval_task_manager_loads_and_scores(setup: dict, lmms_eval_path: Path, tmp_path: Path) -> None:
    items = setup["items"]
    outputs = _outputs(items)
    (tmp_path / "outputs.json").write_text(json.dumps(outputs))
    samples = tmp_path / "20260101_samples_mammovqa.jsonl"
    env = dict(os.environ, PYTHONPATH=str(lmms_eval_path), HF_DATASETS_CACHE=str(tmp_path / "hfc"))
    proc = subprocess.run([sys.executable, "-c", RUN_LMMS, str(setup["out"]), str(tmp_path / "outputs.json"),
                           str(samples)], env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(result) == {"mammovqa_test_image", "mammovqa_test_exam", "mammovqa_external_image"}
    for name, got in result.items():
        split, level = name.split("_")[1:]
        group = [it for it in items if it.split == split and it.level == level]
        assert [c[0] for c in got["correct"]] == [it.id for it in group]
        assert [c[4] for c in got["correct"]] == [item_prompt(it) for it in group]
        assert [c[3] for c in got["correct"]] == [len(it.images) for it in group]
        rows = {it.id: {"output": outputs[it.id]} for it in group}
        for col, matcher, metric in ((1, "strict", "mammovqa_weighted_accuracy"),
                                     (2, "official", "mammovqa_official_weighted_accuracy")):
            ours = score_items(group, rows, matcher, model="m", warn=False)
            assert [c[col] for c in got["correct"]] == ours["correct"].tolist()
            overall = metrics_table(ours).query("topic == 'all' and dataset == 'all'").iloc[0]
            assert got["agg"][metric] == pytest.approx(overall["weighted_accuracy"])
    # the logged samples come back through import-predictions with the same scores
    summary = import_harness("lmms-eval", [samples], "via-lmms", "phantom", "smoke", root=setup["root"])
    for key, w in summary["written"].items():
        split, level = key.split("_")
        group = [it for it in items if it.split == split and it.level == level]
        a = score_items(group, read_predictions(w["file"]), "strict", model="m", warn=False)
        b = score_items(group, {it.id: {"output": outputs[it.id]} for it in group}, "strict", model="m", warn=False)
        pd.testing.assert_frame_equal(a, b)
