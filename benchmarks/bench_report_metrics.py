"""Benchmark: every report metric on 10,000 generated/reference pairs in under 60 s on one core.

Why: scoring runs after every training or inference job; if METEOR's Java round trips or the pure-Python LCS
made it slow, people would skip metrics. References come from the phantom grammar (seed 0); generations are
the same records written with another grammar seed and then perturbed (sentences dropped, BI-RADS changed,
truncated, emptied, non-ASCII added), so the text looks like model output with realistic overlap.
The LAST line printed is a JSON object with the timings and ``met``.

Python and the METEOR Java process are pinned to one core. ``met`` compares the CPU seconds of both
(``cpu_s``: this process plus its children) with the budget, because on a shared machine the wall clock
(``wall_s``, also reported) measures the neighbours' load as much as this code; on an idle core they agree.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import time

from mammovqa.data.records import Record
from mammovqa.eval.report_metrics import score_reports
from mammovqa.report.grammar import phantom_report
from mammovqa.stats.report_intervals import patient_resample

LESION_TYPES = ("mass", "calcification", "distortion", "asymmetry")
BIRADS = ("1", "1", "2", "2", "3", "4a", "4b", "4c", "5", "0")


def synthetic_record(i: int, rng: random.Random) -> Record:
    lesions = [{"type": rng.choice(LESION_TYPES), "morphology": None,
                "center": [rng.uniform(0, 512), rng.uniform(0, 512)], "radius_px": rng.uniform(3, 30),
                "size_mm": None, "pathology": rng.choice(("benign", "malignant"))}
               for _ in range(rng.choice((0, 0, 1, 1, 2, 3)))]
    return Record(f"bench/{i:05d}", "Phantom-bench", "breast", [f"img{i}.png"], {}, f"p{i // 4:05d}",
                  laterality=rng.choice(("Left", "Right")), view=rng.choice(("CC", "MLO")),
                  extra={"lesions": lesions, "density": rng.choice("ABCD"), "birads": rng.choice(BIRADS),
                         "pixel_spacing_mm": 0.2, "image_size": 512})


def perturb(text: str, rng: random.Random) -> str:
    u = rng.random()
    if u < 0.01:
        return ""
    sentences = text.replace("\n", "\n ").split(". ")
    if len(sentences) > 2 and rng.random() < 0.5:
        sentences.pop(rng.randrange(1, len(sentences)))
    out = ". ".join(sentences).replace("\n ", "\n")
    if rng.random() < 0.3:
        out = out.replace("BIRADS: ", "BIRADS: " + rng.choice(BIRADS) + " ", 1)
    if rng.random() < 0.05:
        out = out[: rng.randint(10, max(11, len(out) // 2))]
    if rng.random() < 0.02:
        out += " Résumé: sein gauche, calcifications amorphes."
    return out


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the METEOR Java process)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def rouge_copy_vs_library(gens: list[str], refs: list[str], n: int = 2000) -> dict[str, float]:
    """ROUGE-L on the first ``n`` pairs through our bit-parallel LCS and through rouge-score's RougeScorer.

    Why measured: the project prefers a library to a copy unless a benchmark shows the copy is needed. The two
    must agree exactly (tests/test_report_metrics.py checks it too); the ratio is what the copy buys.
    """
    import numpy as np
    from rouge_score import rouge_scorer

    from mammovqa.eval.report_metrics import rouge_l

    g, r = gens[:n], refs[:n]
    t0 = time.process_time()
    ours = rouge_l(g, r)
    t_ours = time.process_time() - t0
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    t0 = time.process_time()
    lib = np.array([scorer.score(b, a)["rougeL"].fmeasure for a, b in zip(g, r)])
    t_lib = time.process_time() - t0
    return {"pairs": len(g), "copy_cpu_s": round(t_ours, 3), "rouge_score_cpu_s": round(t_lib, 3),
            "library_over_copy": round(t_lib / max(t_ours, 1e-9), 1),
            "max_abs_difference": float(np.abs(ours - lib).max()) if len(g) else 0.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pairs", type=int, default=10_000)
    ap.add_argument("--meteor", default="1.5", choices=("1.5", "nltk", "none"))
    ap.add_argument("--budget-s", type=float, default=60.0)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core for Python (Java inherits it)
    rng = random.Random(0)
    records = [synthetic_record(i, rng) for i in range(args.pairs)]
    t0 = time.perf_counter()
    refs = [phantom_report(r, seed=0) for r in records]
    gens = [perturb(phantom_report(r, seed=1), rng) for r in records]
    t_gen = time.perf_counter() - t0
    t1, c1 = time.perf_counter(), _cpu()
    patients = [r.patient_id for r in records]
    scores = score_reports(gens, refs, ids=[r.record_id for r in records], patient_ids=patients,
                           meteor=args.meteor, resample=patient_resample(patients, 2000, 0))  # as the stage does
    t_score, c_score = time.perf_counter() - t1, _cpu() - c1
    print(scores.table().to_string(index=False))
    rouge = rouge_copy_vs_library(gens, refs)
    result = {"rouge_l": rouge, "benchmark": "report_metrics", "pairs": args.pairs, "meteor": args.meteor,
              "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
              "generate_s": round(t_gen, 2), "wall_s": round(t_score, 2), "cpu_s": round(c_score, 2),
              "budget_s": args.budget_s, "met": bool(c_score < args.budget_s),
              "corpus": {k: round(v, 4) for k, v in scores.corpus.items()}, "counts": scores.counts}
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
