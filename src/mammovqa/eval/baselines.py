"""Weight-free baselines, written as ordinary prediction files so they go through the same scorer as models.

Why as prediction files: a baseline scored by a different code path would not be a fair floor. Each baseline
writes what a cooperative model would write: the lettered option (``"B: Left"``) for single choice and the
option texts joined by ``", "`` for multiple choice.

* ``baseline/random``: uniform random guess; single choice one of K options, multiple choice one of the
  2^K - 1 non-empty subsets (the guesser of ``matching.random_chance``). The generator for an item is seeded
  from (seed, item id), so answers do not depend on item order or on which other items are present.
* ``baseline/prior``: the most frequent gold answer (set) of the item's (level, topic label) in the train
  split; ties go to the alphabetically first answer. A topic without train items falls back to the first
  option shown, and the provenance lists such topics.
* ``baseline/first-option``: always option A (position bias; with seeded shuffles this is chance level).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..io import provenance
from ..models.predict import check_resumable, items_checksum
from ..predictions import PredictionWriter, done_ids
from ..qa.items import LETTERS, QAItem, item_prompt
from ..seeding import rng_for

BASELINES = ("random", "prior", "first-option")


def model_id(name: str) -> str:
    """``baseline/<name>``; the id used in prediction files and metrics tables."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r} (known: {', '.join(BASELINES)})")
    return f"baseline/{name}"


def format_answer(item: QAItem, chosen: Iterable[str]) -> str:
    """What a cooperative model writes: ``"B: Left"`` (single) or ``"Mass, Calcification"`` (multiple)."""
    chosen = list(chosen)
    if item.kind == "single":
        (text,) = chosen
        return f"{LETTERS[item.options.index(text)]}: {text}"
    return ", ".join(o for o in item.options if o in chosen)


def item_rng(seed: int, item_id: str) -> np.random.Generator:
    """A generator that depends only on (seed, item id): order-independent and stable across platforms
    (the package's one keyed scheme, ``seeding.rng_for``)."""
    return rng_for(int(seed), "baseline", item_id)


def random_choice(item: QAItem, seed: int) -> list[str]:
    rng = item_rng(seed, item.id)
    k = len(item.options)
    if item.kind == "single":
        return [item.options[int(rng.integers(k))]]
    mask = int(rng.integers(1, 2 ** k))  # uniform over the non-empty subsets
    return [o for i, o in enumerate(item.options) if mask >> i & 1]


def train_priors(train_items: Iterable[QAItem]) -> dict[tuple[str, str], tuple[str, ...]]:
    """Most frequent gold answer (sorted set) per (level, topic label); ties to the alphabetically first."""
    counts: dict[tuple[str, str], Counter] = {}
    for it in train_items:
        counts.setdefault((it.level, it.topic_label), Counter())[tuple(sorted(it.answer))] += 1
    return {k: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for k, c in counts.items()}


def prior_choice(item: QAItem, priors: dict[tuple[str, str], tuple[str, ...]]) -> list[str]:
    answer = priors.get((item.level, item.topic_label))
    if answer is None or not set(answer) <= set(item.options):
        return [item.options[0]]
    return list(answer)


def chooser(name: str, seed: int = 0, train_items: Iterable[QAItem] = ()) -> Callable[[QAItem], list[str]]:
    """The answer function of a baseline: item -> chosen option texts."""
    model_id(name)
    if name == "random":
        return lambda it: random_choice(it, seed)
    if name == "prior":
        priors = train_priors(train_items)
        return lambda it: prior_choice(it, priors)
    return lambda it: [it.options[0]]


def run_baseline(name: str, items: list[QAItem], out_path: str | Path, seed: int = 0,
                 train_items: Iterable[QAItem] = ()) -> Path:
    """Write the baseline's prediction file (resumable: ids already answered are skipped)."""
    train_items = list(train_items)
    mid = model_id(name)
    pick = chooser(name, seed, train_items)
    extra: dict[str, object] = {"baseline": name, "n_items": len(items)}
    if name == "prior":
        priors = train_priors(train_items)
        extra["prior_fallback_topics"] = sorted({f"{it.level}/{it.topic_label}" for it in items
                                                 if (it.level, it.topic_label) not in priors})
        extra["n_train_items"] = len(train_items)
    return write_weight_free(out_path, provenance(seed=seed, model_id=mid, **extra), items,
                             lambda it: (item_prompt(it), it.options, format_answer(it, pick(it))),
                             train_items if name == "prior" else ())


#: What a weight-free baseline says to one item: (prompt, options shown, answer text).
Answer = Callable[[QAItem], tuple[str, Sequence[str], str]]
#: Bumped when a baseline's answers for the same items, train items and seed change (e.g. its random stream).
GENERATOR_VERSION = 2
#: Provenance fields that name the source of a baseline file's answers; a file differing in any is restarted.
RESUME_FIELDS = ("model_id", "seed", "data_sha256", "train_sha256", "generator")


def write_weight_free(out_path: str | Path, prov: dict[str, Any], items: Iterable[QAItem], answer: Answer,
                      train_items: Iterable[QAItem] = ()) -> Path:
    """Append ``answer(item)`` for every item the file does not hold yet (resumable), as model ``prov``'s
    ``model_id``; the one writer of the closed and the open weight-free baselines. The provenance records the
    items, the train items and the generator version, and a file written from others is started over."""
    out_path = Path(out_path)
    items = list(items)
    train = list(train_items)
    prov = {**prov, "data_sha256": items_checksum(items), "train_sha256": items_checksum(train) if train else None,
            "generator": GENERATOR_VERSION}
    # a baseline's answers depend on all of RESUME_FIELDS: a file written for an earlier build of the data (or
    # by an earlier random stream) was once resumed by id, keeping the old answers of the ids both builds share;
    # regenerating costs milliseconds, so a file from another source is started over rather than refused
    check_resumable(out_path, {k: prov.get(k) for k in RESUME_FIELDS}, "restart", keys=RESUME_FIELDS)
    done = done_ids(out_path)
    mid = prov["model_id"]
    with PredictionWriter(out_path, prov) as writer:
        for it in items:
            if it.id in done:
                continue
            prompt, options, output = answer(it)
            writer.write(id=it.id, model=mid, prompt=prompt, options=list(options), output=output, latency_s=0.0)
    return Path(out_path)
