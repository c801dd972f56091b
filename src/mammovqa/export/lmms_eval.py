"""``mammovqa export lmms-eval``: a task folder for ``lmms-eval --include_path DIR --tasks mammovqa``.

Layout, following lmms-eval's local-JSON tasks (``dataset_path: json`` + ``dataset_kwargs.data_files``, as in
its ``hd_epic`` task; a ``_default_template_yaml`` included by each task, as in ``slake``)::

    DIR/_default_template_yaml           shared settings: json loader, doc_to_* and process_results, metrics
    DIR/mammovqa.yaml                    group ``mammovqa``: the benchmark tasks (test and external splits)
    DIR/mammovqa_<split>_<level>.yaml    one task per split x level (train and val tasks too, by name)
    DIR/docs/<split>_<level>.jsonl       one document per item (id, prompt, options, answer, image paths, ...)
    DIR/utils.py                         doc_to_visual / doc_to_text / process_results / aggregations
    DIR/README.md                        how to run it and how to bring the answers back

Why documents carry ``benchmark``, ``run`` and ``id``: lmms-eval logs each document (without images) next to
the model's answer with ``--log_samples``; ``mammovqa import-predictions --format lmms-eval`` maps every
answer back to its item through them and refuses samples of another benchmark or run.
Image paths are absolute paths into the run's prepared images (the folder is for this machine; for a dataset
whose terms forbid redistribution, do not share the built images with the folder).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from ..errors import DataError
from ..io import dumps, write_text_atomic
from ..paths import ROOT, RunPaths
from ..qa.items import QAItem, item_prompt
from .common import image_file, run_items, split_level_groups

BENCHMARK_SPLITS = ("test", "external")
UTILS_SOURCE = Path(__file__).with_name("lmms_eval_utils.py")


def task_name(split: str, level: str) -> str:
    return f"mammovqa_{split}_{level}"


def item_doc(item: QAItem, run: RunPaths) -> dict[str, Any]:
    """One lmms-eval document; every field but the image paths is logged by ``--log_samples``."""
    return {
        "benchmark": "mammovqa", "run": run.name, "id": item.id, "question": item.question,
        "options": list(item.options), "answer": list(item.answer), "topic": item.topic,
        "topic_label": item.topic_label, "level": item.level, "kind": item.kind, "split": item.split,
        "dataset": item.dataset, "patient_id": item.patient_id, "exam_id": item.exam_id,
        "prompt": item_prompt(item),
        "image_paths": [str(image_file(p, run.root).resolve()) for p in item.images],
    }


class _Function(str):
    """A ``!function utils.name`` scalar (lmms-eval's YAML tag for a Python callable)."""


def _function_representer(dumper: yaml.SafeDumper, value: _Function) -> yaml.Node:
    return dumper.represent_scalar("!function", str(value))


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Function, _function_representer)


def _yaml(obj: dict[str, Any]) -> str:
    """YAML with ``!function utils.x`` written plain, the way lmms-eval's own task files spell it."""
    text = yaml.dump(obj, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)
    return re.sub(r"!function '([\w.]+)'", r"!function \1", text)


def template(max_new_tokens: int) -> dict[str, Any]:
    """``_default_template_yaml``: what every MammoVQA task shares."""
    fn = _Function
    metrics = [("mammovqa_weighted_accuracy", "weighted_accuracy"), ("mammovqa_accuracy", "accuracy"),
               ("mammovqa_official_weighted_accuracy", "weighted_accuracy"), ("mammovqa_official_accuracy", "accuracy")]
    return {
        "dataset_path": "json",
        "test_split": "test",
        "output_type": "generate_until",
        "doc_to_visual": fn("utils.mammovqa_doc_to_visual"),
        "doc_to_text": fn("utils.mammovqa_doc_to_text"),
        "doc_to_messages": fn("utils.mammovqa_doc_to_messages"),
        "doc_to_target": fn("utils.mammovqa_doc_to_target"),
        "process_results": fn("utils.mammovqa_process_results"),
        "generation_kwargs": {"max_new_tokens": max_new_tokens, "temperature": 0, "do_sample": False},
        "metric_list": [{"metric": m, "aggregation": fn(f"utils.mammovqa_aggregate_{agg}"), "higher_is_better": True}
                        for m, agg in metrics],
        "lmms_eval_specific_kwargs": {"default": {"pre_prompt": "", "post_prompt": ""}},
        "cluster_key": "patient_id",
        "metadata": {"version": 1.0, "benchmark": "MammoVQA"},
    }


def export_lmms_eval(source: str, profile: str, out: str | Path, seed: int = 0, root: Path = ROOT,
                     max_new_tokens: int = 16) -> dict[str, Any]:
    """Write the task folder; returns the tasks with their item counts and the group."""
    run, items = run_items(source, profile, seed, root)
    groups = split_level_groups(items)
    if not groups:
        raise DataError(run.qa_items, None, "the run has no QA items to export")
    out = Path(out).resolve()
    (out / "docs").mkdir(parents=True, exist_ok=True)
    for old in [*out.glob("mammovqa_*.yaml"), *(out / "docs").glob("*.jsonl")]:
        old.unlink()  # a re-export replaces the tasks, never mixes two runs
    header = (f"# MammoVQA task for lmms-eval, exported by `mammovqa export lmms-eval` from run {run.name}.\n"
              "# utils.py imports the mammovqa package (pip install -e <mammovqa repository>).\n")
    write_text_atomic(out / "_default_template_yaml", header + _yaml(template(max_new_tokens)))
    tasks: dict[str, int] = {}
    for (split, level), group in groups.items():
        name = task_name(split, level)
        docs = out / "docs" / f"{split}_{level}.jsonl"
        write_text_atomic(docs, "".join(dumps(item_doc(it, run)) + "\n" for it in group))
        task = {"include": "_default_template_yaml", "task": name,
                "dataset_kwargs": {"data_files": {"test": str(docs)}},
                "metadata": {"version": 1.0, "run": run.name, "split": split, "level": level}}
        write_text_atomic(out / f"{name}.yaml", header + _yaml(task))
        tasks[name] = len(group)
    bench = [task_name(s, lv) for (s, lv) in groups if s in BENCHMARK_SPLITS]
    write_text_atomic(out / "mammovqa.yaml", header + _yaml({"group": "mammovqa", "task": bench,
                                                              "metadata": {"version": 1.0}}))
    write_text_atomic(out / "utils.py", UTILS_SOURCE.read_text(encoding="utf-8"))
    write_text_atomic(out / "README.md", _readme(run, tasks, bench, out))
    return {"run": run.name, "folder": str(out), "tasks": tasks, "group": {"mammovqa": bench}}


def _readme(run: RunPaths, tasks: dict[str, int], bench: list[str], out: Path) -> str:
    rows = "\n".join(f"| `{t}` | {n} | {'yes' if t in bench else 'no'} |" for t, n in tasks.items())
    return f"""# MammoVQA for lmms-eval ({run.name})

Exported by `mammovqa export lmms-eval --source {run.source} --profile {run.profile} --seed {run.seed}`.
The same items, option orders and prompts as `mammovqa predict`; answers are matched with MammoVQA's
`strict` matcher (headline) and its `official` one, aggregated as weighted accuracy.

`utils.py` imports the `mammovqa` package: install it (`pip install -e <mammovqa repository>`) in the
environment that runs lmms-eval.

```bash
lmms-eval --model qwen2_5_vl --model_args pretrained=Qwen/Qwen2.5-VL-7B-Instruct \\
    --include_path {out} --tasks mammovqa --batch_size 1 --log_samples --output_path logs/
mammovqa import-predictions --format lmms-eval logs/*/*_samples_mammovqa_*.jsonl --model qwen2.5-vl-7b \\
    --source {run.source} --profile {run.profile} --seed {run.seed}
```

The import writes our prediction files, so `mammovqa score`, the notebooks and `mammovqa stats` (clustered
intervals on `patient_id`, tests against random guessing) treat the model like any other.

| task | items | in group `mammovqa` |
|---|---|---|
{rows}
"""
