"""Benchmark of the harness routes: export time and size per format on a phantom run, and import + score time
for a full-benchmark-sized (565K) lmms-eval samples file on one core (timed in a fresh process, as a user
runs it).

The export part uses a built run (``--root``, default: a scratch root where the run is built with
``mammovqa data build`` if absent). The import part writes 565K synthetic items (the benchmark's image/exam and
topic mix, real option counts) as a run of their own, an lmms-eval ``--log_samples`` file answering them, and
times ``mammovqa import-predictions --score`` (the import, then strict scoring of each written file from the
rows just written and its printed table, as :func:`mammovqa.export.cli.cmd_import` runs them). The last line printed is a JSON
object with the numbers; ``ratio_to_baseline`` divides the import + score CPU seconds by those of a reference
workload measured in the same run (see :func:`baseline_cpu_s`), so runs on a loaded machine compare fairly.

    .venv/bin/python benchmarks/bench_export.py [--profile default] [--n 565000] [--root DIR] [--import-only]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from mammovqa.export.cli import print_import_scores  # noqa: E402
from mammovqa.export.harness_import import import_answers  # noqa: E402
from mammovqa.export.hf import export_hf  # noqa: E402
from mammovqa.export.lmms_eval import export_lmms_eval  # noqa: E402
from mammovqa.export.vlmevalkit import export_vlmevalkit  # noqa: E402
from mammovqa.io import dumps, gc_paused  # noqa: E402
from mammovqa.paths import MANIFEST_DIR, RunPaths  # noqa: E402
from mammovqa.qa.items import LETTERS, QAItem, read_items, write_items  # noqa: E402
from test_matching import TOPIC_OPTIONS  # noqa: E402

IMAGE_MIX = {"Laterality": 0.22, "View": 0.20, "ACR": 0.14, "Bi-Rads": 0.16, "Background tissue": 0.005,
             "Subtlety": 0.02, "Masking potential": 0.025, "Pathology": 0.10, "Abnormality": 0.13}
EXAM_SHARE = 144_169 / 565_092
TARGET_S = 30.0
SAMPLES = "20260101_samples_mammovqa.jsonl"  # the lmms-eval --log_samples file of the import workload
STYLES = ("{l}", "{t}", "The answer is {l}: {t}", "I think it is {t}.", "I cannot determine", "{l}, {m}")


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def ensure_run(root: Path, profile: str) -> None:
    if RunPaths("phantom", profile, 0, root).qa_items.exists():
        return
    (root / "data_manifest").mkdir(parents=True, exist_ok=True)
    for entry in MANIFEST_DIR.iterdir():
        link = root / "data_manifest" / entry.name
        if entry.name != "local.yaml" and not link.exists():
            link.symlink_to(entry)
    subprocess.run([sys.executable, "-m", "mammovqa.cli", "data", "build", "--source", "phantom", "--profile",
                    profile, "--workers", "1"], env=dict(os.environ, MAMMOVQA_ROOT=str(root)), check=True)


def bench_exports(root: Path, profile: str, out: Path) -> dict:
    res = {}
    for name, fn, dest in (("hf", export_hf, out / "hf"), ("lmms-eval", export_lmms_eval, out / "lmms"),
                           ("vlmevalkit", export_vlmevalkit, out / "vk" / "MammoVQA.tsv")):
        t = time.perf_counter()
        fn("phantom", profile, dest, root=root)
        res[name] = {"s": round(time.perf_counter() - t, 2), "mb": round(folder_size(dest) / 2**20, 2)}
    res["items"] = len(read_items(RunPaths("phantom", profile, 0, root).qa_items))
    return res


def synthetic_items(n: int, seed: int) -> list[QAItem]:
    rng = random.Random(seed)
    topics, weights = list(IMAGE_MIX), list(IMAGE_MIX.values())
    items = []
    for i in range(n):
        exam = rng.random() < EXAM_SHARE
        topic = rng.choice(["ACR", "Bi-Rads"]) if exam else rng.choices(topics, weights)[0]
        opts = TOPIC_OPTIONS[topic][:]
        rng.shuffle(opts)
        multiple = topic == "Abnormality"
        answer = sorted(rng.sample(opts, rng.choice([1, 1, 2]))) if multiple else [rng.choice(opts)]
        split = "external" if rng.random() < 0.1 else "test"
        level = "exam" if exam else "image"
        items.append(QAItem(id=f"B{i:06d}#{topic}", topic=topic, kind="multiple" if multiple else "single",
                            level=level, dataset="Phantom-CBIS-breast", part="exam" if exam else "breast",
                            role="external" if split == "external" else "internal",
                            split="test" if exam else split, record_id=f"B{i:06d}", patient_id=f"P{i // 4:06d}",
                            images=[], question=f"Question about {topic}?", options=opts, answer=answer, seed=i))
    return items


def write_samples(items: list[QAItem], run_name: str, path: Path, seed: int) -> None:
    rng = random.Random(seed + 1)
    with open(path, "w", encoding="utf-8") as fh:
        for n, it in enumerate(items):
            k, m = rng.randrange(len(it.options)), rng.randrange(len(it.options))
            out = rng.choice(STYLES).format(l=LETTERS[k], t=it.options[k], m=LETTERS[m])
            doc = {"benchmark": "mammovqa", "run": run_name, "id": it.id, "options": it.options,
                   "answer": it.answer, "patient_id": it.patient_id, "topic_label": it.topic_label}
            fh.write(dumps({"doc_id": n, "doc": doc, "target": "|".join(it.answer), "arguments": [],
                            "resps": [[out]], "filtered_resps": [out]}) + "\n")


def baseline_cpu_s(paths: list[Path]) -> float:
    """CPU seconds of a fixed reference workload on the same files: ``json.loads`` of every line and
    ``json.dumps`` (sorted keys) of every object, the least any import + score must do with them.

    Why: this machine is shared, and one process's CPU seconds stretch with the load on the other cores; the
    ratio of the import + score time to this baseline, measured in the same run, compares runs fairly.
    """
    c0 = time.process_time()
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                json.dumps(json.loads(line), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return time.process_time() - c0


def bench_import(root: Path, n: int, seed: int) -> dict:
    """Write the workload here, then time its import + score in a fresh process (:func:`measure_import`).

    Why a fresh process: a user's ``mammovqa import-predictions`` starts with an empty heap; timed in the process
    that has just built and freed 565K synthetic items, the same work took about a third longer.
    """
    run = RunPaths("phantom", "bench-import", 0, root)
    items = synthetic_items(n, seed)
    write_items(run.qa_items, items)
    write_samples(items, run.name, root / SAMPLES, seed)
    del items
    gc.collect()
    proc = subprocess.run([sys.executable, __file__, "--measure-import", str(root), "--n", str(n)],
                          capture_output=True, text=True)
    if proc.returncode not in (0, 1):  # 1: measured, target missed
        raise RuntimeError(f"the timed import failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return json.loads(proc.stdout.splitlines()[-1])


def measure_import(root: Path, n: int) -> dict:
    """CPU and wall seconds of the import + score of the workload under ``root``, in this process."""
    run, samples = RunPaths("phantom", "bench-import", 0, root), root / SAMPLES
    base = baseline_cpu_s([run.qa_items, samples])
    t0, c0 = time.perf_counter(), time.process_time()
    # what `mammovqa import-predictions --format lmms-eval FILE --model M --score` runs (export.cli.cmd_import):
    # the import, then each written file scored from the rows just written, its table printed, under one pause
    # of the cycle collector; the end of that pause (a collection of what is left) is counted too
    with gc_paused():
        imported = import_answers("lmms-eval", [samples], "bench-model", "phantom", "bench-import", root=root,
                                  harness_version="0.7.2")
        t1, c1 = time.perf_counter(), time.process_time()
        with contextlib.redirect_stdout(io.StringIO()):
            n_scored = sum(len(scores) for scores in print_import_scores(imported, "strict").values())
        del imported
    t2, c2 = time.perf_counter(), time.process_time()
    # CPU seconds of this one process are the one-core cost; wall seconds also count other load on the machine
    return {"n": n, "scored": n_scored, "import_s": round(t1 - t0, 2), "score_s": round(t2 - t1, 2),
            "import_plus_score_s": round(t2 - t0, 2), "import_cpu_s": round(c1 - c0, 2),
            "score_cpu_s": round(c2 - c1, 2), "import_plus_score_cpu_s": round(c2 - c0, 2),
            "samples_mb": round(samples.stat().st_size / 2**20, 1), "target_s": TARGET_S,
            "meets_target": (c2 - c0) < TARGET_S, "baseline_cpu_s": round(base, 2),
            "ratio_to_baseline": round((c2 - c0) / base, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="default")
    ap.add_argument("--n", type=int, default=565_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--root", type=Path, help="root holding (or to hold) the phantom run; default: a scratch root")
    ap.add_argument("--import-only", action="store_true", help="skip the export part (no built run needed)")
    ap.add_argument("--measure-import", type=Path, metavar="ROOT", help=argparse.SUPPRESS)  # the timed child
    args = ap.parse_args()
    if args.measure_import:
        result = measure_import(args.measure_import, args.n)
        print(json.dumps(result, sort_keys=True))
        return {"import_score": result}
    with tempfile.TemporaryDirectory(prefix="bench_export_") as tmp:
        exports: dict = {}
        if not args.import_only:
            root = args.root or Path(tmp) / "root"
            ensure_run(root, args.profile)
            exports = bench_exports(root, args.profile, Path(tmp) / "out")
        imports = bench_import(Path(tmp) / "import_root", args.n, args.seed)
    # the benchmark's peak: the larger of this process (workload generation, exports) and the timed import
    own = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    result = {"profile": args.profile, "export": exports, "import_score": imports,
              "peak_rss_mb": max(own, imports["peak_rss_mb"])}
    print(json.dumps(result, sort_keys=True))
    return result


if __name__ == "__main__":
    sys.exit(0 if main()["import_score"]["meets_target"] else 1)
