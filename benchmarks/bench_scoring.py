"""Benchmark of answer matching at full benchmark scale (565,000 predictions, one process, one core).

Generates seeded, realistic model outputs for image- and exam-level items with the real option counts
(letters, lettered options, option texts, sentences, refusals, unique free text, a few long explanations),
times ``match_many`` with each matcher, times the straightforward per-item official scorer (the independent
reference in ``tests/test_matching.py``) on a subset and extrapolates, and checks the decisions are identical
on that subset. The last line printed is a JSON object with the numbers.

    .venv/bin/python benchmarks/bench_scoring.py [--n 565000] [--subset 5000] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from mammovqa.eval.matching import match_many  # noqa: E402
from test_matching import TOPIC_OPTIONS, reference_official  # noqa: E402

# Share of QA pairs per topic, roughly as in the benchmark (image level 420,923 pairs, exam level 144,169).
IMAGE_MIX = {"Laterality": 0.22, "View": 0.20, "ACR": 0.14, "Bi-Rads": 0.16, "Background tissue": 0.005,
             "Subtlety": 0.02, "Masking potential": 0.025, "Pathology": 0.10, "Abnormality": 0.13}
EXAM_SHARE = 144_169 / 565_092
TARGETS = {"official_s": 20.0, "strict_s": 10.0}

SENTENCES = ["The answer is {x}", "I think it is {x}.", "Answer: {x}", "{x} breast", "Based on the image, {x}.",
             "It is not {x}", "{x} or {y}", "The correct option is {x}, not {y}.", "{x}, {y}", "{x} and {y}",
             "Option {x}", "This mammogram shows a {x} finding", "Most likely {x} with {y} features",
             "There is a {x}", "{x}."]
REFUSALS = ["I cannot determine", "I'm sorry, I can't help with that.", "", "N/A", "none", "yes", "no",
            "The image is a mammogram.", "cannot be determined from this image", "Unknown", "I don't know."]
WORDS = ("breast tissue lesion mass dense fatty margin irregular spiculated round oval benign malignant shows "
         "the image of a with calcification and suspicious no evidence right left view craniocaudal").split()


def _variant(rng: random.Random, s: str) -> str:
    r = rng.random()
    if r < 0.10:
        return s.lower()
    if r < 0.14:
        return s.upper()
    if r < 0.22:
        return s + rng.choice([".", " ", "\n", "</s>"])
    return s


def generate(n: int, seed: int) -> tuple[list[str | None], list[list[str]], list[str]]:
    rng = random.Random(seed)
    topics, weights = list(IMAGE_MIX), list(IMAGE_MIX.values())
    preds, opts_l, kinds = [], [], []
    for _ in range(n):
        topic = rng.choice(["ACR", "Bi-Rads"]) if rng.random() < EXAM_SHARE else rng.choices(topics, weights)[0]
        opts = TOPIC_OPTIONS[topic][:]
        rng.shuffle(opts)
        kind = "multiple" if topic == "Abnormality" else "single"
        i, j = rng.randrange(len(opts)), rng.randrange(len(opts))
        letter = chr(65 + i)
        if kind == "multiple" and rng.random() < 0.3:
            chosen = rng.sample(opts, rng.randint(1, 3))
            x = ", ".join(chosen)
        else:
            x = opts[i]
        r = rng.random()
        if r < 0.35:
            pred = f"{letter}: {x}" if kind == "single" else x
        elif r < 0.50:
            pred = _variant(rng, letter)
        elif r < 0.70:
            pred = _variant(rng, x)
        elif r < 0.85:
            pred = _variant(rng, rng.choice(SENTENCES).format(x=rng.choice([letter, x, f"{letter}: {x}"]),
                                                              y=rng.choice([chr(65 + j), opts[j]])))
        elif r < 0.90:
            pred = rng.choice(REFUSALS)
        elif r < 0.97:  # mostly unique: sentences with numbers
            pred = f"The lesion measures {rng.randint(1, 60)} mm, {rng.choice(WORDS)} {rng.choice(WORDS)}; {x}."
        elif r < 0.995:
            pred = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 40)))
        else:
            pred = None
        preds.append(pred)
        opts_l.append(opts)
        kinds.append(kind)
    return preds, opts_l, kinds


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=565_000)
    ap.add_argument("--subset", type=int, default=5_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    logging.getLogger().setLevel(logging.ERROR)  # fuzzywuzzy warns on queries that process to ""

    t = time.perf_counter()
    preds, opts, kinds = generate(args.n, args.seed)
    gen_s = time.perf_counter() - t
    n_unique = len({(p, tuple(o), k) for p, o, k in zip(preds, opts, kinds, strict=True)})

    t, c = time.perf_counter(), time.process_time()
    strict = match_many(preds, opts, kinds, "strict")
    strict_s, strict_cpu = time.perf_counter() - t, time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    official = match_many(preds, opts, kinds, "official")
    official_s, official_cpu = time.perf_counter() - t, time.process_time() - c

    sub = random.Random(args.seed + 1).sample(range(args.n), min(args.subset, args.n))
    t, c = time.perf_counter(), time.process_time()
    ref = [reference_official(preds[i], opts[i], kinds[i]) for i in sub]
    ref_s, ref_cpu = time.perf_counter() - t, time.process_time() - c
    identical = all(ref[k] == official[i] for k, i in enumerate(sub))
    per_item_per_s = len(sub) / ref_s
    no_choice = {m: sum(1 for r in res if not r) / args.n for m, res in (("strict", strict), ("official", official))}
    result = {
        "n": args.n, "n_unique_triples": n_unique, "seed": args.seed, "generate_s": round(gen_s, 2),
        "strict_s": round(strict_s, 2), "official_s": round(official_s, 2),
        "strict_cpu_s": round(strict_cpu, 2), "official_cpu_s": round(official_cpu, 2),
        "per_item_official_cpu_per_s": round(len(sub) / ref_cpu, 1),
        "per_item_official_per_s": round(per_item_per_s, 1),
        "per_item_official_extrapolated_s": round(args.n / per_item_per_s, 1),
        "speedup_vs_per_item": round(args.n / per_item_per_s / official_s, 1),
        "subset": len(sub), "identical": identical,
        "no_choice_fraction": {k: round(v, 4) for k, v in no_choice.items()},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "targets": TARGETS,
        "meets_targets": official_s < TARGETS["official_s"] and strict_s < TARGETS["strict_s"],
    }
    print(json.dumps(result, sort_keys=True))
    return result


if __name__ == "__main__":
    sys.exit(0 if main()["identical"] else 1)
