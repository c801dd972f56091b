"""Scoring and weight-free baselines of the open-ended MammoVQA items (:mod:`mammovqa.qa.open`).

Why the extractor: an open answer has no letter to match; :func:`mammovqa.eval.clinical.open_answer_correct`
reads the fact a topic asks for (an exact option string, or the clinical wording of it) and compares it with the
gold options. No answer, or an answer the extractor cannot read, is wrong.

Scoring rules (they decide the numbers, so they are stated):

* a topic item is correct when its one fact is right (Abnormality: all and only the gold options);
* a description item is scored per fact (every readable topic of its record) and is correct only when every
  fact is right; per-fact accuracy pools the topic items and the description facts (``form`` tells them apart).

References for the open form, per item, then averaged like accuracy:

* ``random``: expected accuracy of naming one of the topic's options uniformly at random (per fact; a
  description multiplies its facts' chances, one independent draw per fact; an Abnormality gold of two or more
  options cannot be hit by one option, so its chance is 0);
* ``majority``: accuracy of answering the train split's most frequent gold answer of the item's (level, topic).

Baselines (``baseline/open-random``, ``baseline/open-majority``) write those answers as text through
:class:`mammovqa.predictions.PredictionWriter`, so the file format and provenance are the models' own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..io import provenance
from ..predictions import PredictionSet, is_missing_output
from ..qa.items import QAItem
from ..qa.open import DESCRIPTION, OPEN_TOPICS, answer_options, item_gold, open_prompt
from .baselines import item_rng, write_weight_free
from .clinical import OPEN_TOPIC_FACT, open_answer_correct

OPEN_BASELINES = ("open-random", "open-majority")
Priors = dict[tuple[str, str], tuple[str, ...]]


def open_model_id(name: str) -> str:
    if name not in OPEN_BASELINES:
        raise ValueError(f"unknown open baseline {name!r} (known: {', '.join(OPEN_BASELINES)})")
    return f"baseline/{name}"


# ----------------------------------------------------------------------------------------------- answers


def describe(facts: Mapping[str, Iterable[str]]) -> str:
    """A plain report sentence stating option strings per topic (what a cooperative model might write)."""
    parts = {"Laterality": "{} breast.", "ACR": "Breast density: {}.", "Abnormality": "Findings: {}.",
             "Bi-Rads": "Assessment: {}."}
    def text(topic: str, options: list[str]) -> str:
        # a bare "Findings: Normal." states nothing the extractor can read; a report says "no abnormality"
        return "no abnormality" if topic == "Abnormality" and options == ["Normal"] else ", ".join(options)

    return " ".join(parts[t].format(text(t, list(facts[t]))) for t in OPEN_TOPICS if t in facts and facts[t])


def train_open_priors(train_items: Iterable[QAItem]) -> Priors:
    """Most frequent gold answer per (level, topic) over the train split's open *topic* items (ties: first
    alphabetically); descriptions reuse these per fact."""
    counts: dict[tuple[str, str], Counter] = {}
    for it in train_items:
        if it.topic != DESCRIPTION:
            counts.setdefault((it.level, it.topic), Counter())[tuple(sorted(it.answer))] += 1
    return {k: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for k, c in counts.items()}


def _topic_answers(item: QAItem) -> list[str]:
    return list(item_gold(item))


def majority_facts(item: QAItem, priors: Priors) -> dict[str, list[str]]:
    """The majority answer per fact; a fact with no train answer falls back to the topic's first option."""
    return {t: list(priors.get((item.level, t)) or answer_options(item, t)[:1]) for t in _topic_answers(item)}


def random_facts(item: QAItem, seed: int) -> dict[str, list[str]]:
    """One option per fact, uniform, from a generator fixed by (seed, item id)."""
    rng = item_rng(seed, item.id)
    out = {}
    for t in _topic_answers(item):
        opts = answer_options(item, t)
        out[t] = [opts[int(rng.integers(len(opts)))]]
    return out


def answer_text(item: QAItem, facts: Mapping[str, list[str]]) -> str:
    """A topic item's answer is its option text(s); a description's is :func:`describe`."""
    return describe(facts) if item.topic == DESCRIPTION else ", ".join(facts[item.topic])


def reference_answer(item: QAItem) -> str:
    """The gold answer written as text: the target the open fine-tune learns (and an oracle that scores 1)."""
    return answer_text(item, item_gold(item))


def run_open_baseline(name: str, items: list[QAItem], out_path: str | Path, seed: int = 0,
                      train_items: Iterable[QAItem] = ()) -> Path:
    """Write a weight-free open baseline's prediction file (resumable: answered ids are skipped)."""
    mid = open_model_id(name)
    train_items = list(train_items)
    priors = train_open_priors(train_items)
    extra: dict[str, Any] = {"baseline": name, "n_items": len(items), "form": "open"}
    if name == "open-majority":
        extra["n_train_items"] = len(train_items)

    def answer(it: QAItem) -> tuple[str, list[str], str]:
        facts = random_facts(it, seed) if name == "open-random" else majority_facts(it, priors)
        return open_prompt(it), [], answer_text(it, facts)

    return write_weight_free(out_path, provenance(seed=seed, model_id=mid, **extra), items, answer,
                             train_items if name == "open-majority" else ())


# ----------------------------------------------------------------------------------------------- scoring


def _outputs(predictions: PredictionSet | Mapping[str, object]) -> dict[str, object]:
    if isinstance(predictions, PredictionSet):
        return {i: (None if r.get("error") else r.get("output")) for i, r in predictions.rows.items()}
    return dict(predictions)


def random_reference(item: QAItem) -> float:
    """Expected accuracy of a uniform one-option guess per fact (product over a description's facts)."""
    p = 1.0
    for t, gold in item_gold(item).items():
        opts = answer_options(item, t)
        p *= float(np.mean([open_answer_correct(o, t, gold, opts) for o in opts]))
    return p


def score_open(items: Iterable[QAItem], predictions: PredictionSet | Mapping[str, object],
               train_items: Iterable[QAItem] = ()) -> pd.DataFrame:
    """One row per open item: answered, correct, per-fact correctness (``fact_<fact>``: 1/0, NaN when the item
    does not ask it), and the ``random`` / ``majority`` references of the item (see the module docstring).

    An item with no prediction, an empty output, or a failed call is unanswered and wrong.
    """
    outputs = _outputs(predictions)
    priors = train_open_priors(train_items)
    rows = []
    for it in items:
        out = outputs.get(it.id)
        answered = not is_missing_output(out)
        gold = item_gold(it)
        majority = majority_facts(it, priors)
        row: dict[str, Any] = {"id": it.id, "topic": it.topic, "form": "description" if it.topic == DESCRIPTION
                               else "topic", "level": it.level, "dataset": it.dataset, "split": it.split,
                               "patient_id": it.patient_id, "answered": answered}
        facts_ok = {}
        for t, g in gold.items():
            opts = answer_options(it, t)
            facts_ok[t] = answered and open_answer_correct(out, t, g, opts)
        for t, fact in OPEN_TOPIC_FACT.items():
            row[f"fact_{fact}"] = float(facts_ok[t]) if t in facts_ok else np.nan
        row["correct"] = float(all(facts_ok.values()))
        row["random"] = random_reference(it)
        row["majority"] = float(all(open_answer_correct(answer_text(it, majority) if it.topic == DESCRIPTION
                                                        else ", ".join(majority[t]), t, g, answer_options(it, t))
                                    for t, g in gold.items()))
        rows.append(row)
    return pd.DataFrame(rows)


def open_summary(scores: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Accuracy (and the two references) by topic and by dataset, and accuracy per fact over both forms."""
    cols = ["correct", "random", "majority"]

    def by(key: str) -> pd.DataFrame:
        g = scores.groupby(key)[cols].mean()
        g.insert(0, "n", scores.groupby(key).size())
        return g.reset_index()

    fact_cols = [c for c in scores.columns if c.startswith("fact_")]
    per_fact = pd.DataFrame([{"fact": c[len("fact_"):], "n": int(scores[c].notna().sum()),
                              "accuracy": float(scores[c].mean())} for c in fact_cols if scores[c].notna().any()])
    return {"by_topic": by("topic"), "by_dataset": by("dataset"), "by_fact": per_fact}
