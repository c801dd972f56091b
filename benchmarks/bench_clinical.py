"""Benchmark: clinical facts of 10,000 reports in under 10 s on one core (``mammovqa.eval.clinical``).

Why: the extractor scores every generated report and every open-ended answer of every system; it must stay
cheap enough to run on whole test splits after each job. Texts are distinct (the extractor caches by text, so
repeated texts would measure the cache): phantom grammar reports of 10,000 random records, perturbed the way
``bench_report_metrics.py`` perturbs generations (sentences dropped, BI-RADS changed, truncated, emptied,
non-English added), and every fifth one wrapped in HTML or markdown. The cache is cleared before timing.
Also prints the extractor's per-fact accuracy on the hand-written phrasing corpus. The LAST line printed is a
JSON object with the timings and ``met`` (CPU seconds of this process, pinned to one core, against the budget).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import time
from pathlib import Path

from bench_report_metrics import perturb, synthetic_record
from mammovqa.eval.clinical import _extract_cached, clinical_error_rows, corpus_accuracy, extract_facts
from mammovqa.report.grammar import phantom_report

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "clinical_corpus.yaml"


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def wrap(text: str, i: int) -> str:
    """Every fifth text as HTML, every fifth + 1 as markdown: the markup the extractor must see through."""
    if i % 5 == 0:
        return "<p>" + text.replace("\n", "<br/>") + "</p>"
    if i % 5 == 1:
        return "**Report**\n\n" + "\n".join(f"- {line}" for line in text.splitlines())
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reports", type=int, default=10_000)
    ap.add_argument("--budget-s", type=float, default=10.0)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    rng = random.Random(0)
    records = [synthetic_record(i, rng) for i in range(args.reports)]
    texts = [wrap(perturb(phantom_report(r, seed=1), rng), i) for i, r in enumerate(records)]
    refs = [phantom_report(r, seed=0) for r in records]
    _extract_cached.cache_clear()
    extract_facts("warm-up: compiles the vocabulary")
    t0, c0 = time.perf_counter(), _cpu()
    facts = [extract_facts(t) for t in texts]
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    t1 = time.perf_counter()
    rows = clinical_error_rows(texts, refs)  # generations cached now; references are new texts
    errors_s = time.perf_counter() - t1
    stated = {k: sum(bool(f[k]) for f in facts) for k in ("laterality", "density", "birads", "abnormality")}
    corpus = corpus_accuracy(CORPUS)
    for miss in corpus["misses"]:
        print(f"corpus miss {miss['id']}: {miss['fact']} expected {miss['expected']!r}, got {miss['got']!r}")
    result = {"benchmark": "clinical", "reports": args.reports, "distinct_texts": len(set(texts)),
              "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
              "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "reports_per_s": round(args.reports / max(cpu, 1e-9)),
              "errors_s": round(errors_s, 2), "budget_s": args.budget_s, "met": bool(cpu < args.budget_s),
              "stated": stated, "errors": {k: sum(r[k] for r in rows) for k in
                                           ("missed_finding", "false_finding", "wrong_laterality", "wrong_density",
                                            "wrong_birads")},
              "corpus_n": corpus["n"], "corpus_accuracy": {k: round(v, 4) for k, v in corpus["accuracy"].items()}}
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
