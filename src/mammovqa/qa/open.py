"""Open-ended MammoVQA items: the closed questions asked without options, plus a whole-study description.

Why beside, not instead of, the closed items: closed options cap what a model can show (MammoVQA's own stated
limitation), but the closed benchmark is what the paper reproduces. Open items are built *from* the run's closed
items and written to their own file (``<run qa dir>/open_items.jsonl``), so the closed items, predictions and
scores stay byte-identical.

Each open item copies its closed counterpart's record, split, patient, images and gold option strings; only the
question changes (no options are shown: ``options == []``). Wording is drawn per (seed, item id) from the
wordings below (ours, at least three per question kind), so the same closed items and seed give identical bytes.

Kinds of question (``topic`` of the item):

* ``Laterality``, ``ACR``, ``Bi-Rads``, ``Abnormality``: one open question per closed item of that topic (the
  topics whose open answers :mod:`mammovqa.eval.clinical` can read); gold = the closed gold options.
* ``Description``: one per breast or exam record that has at least one of those topics: "Describe this
  mammogram ...". Gold = every gold option of the record's readable topics (``answer``), and per topic in
  ``extra["gold"]``; scored per fact.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from ..config import Topics, load_topics
from ..paths import RunPaths
from ..seeding import rng_for
from .items import QAItem

OPEN_KIND = "open"
DESCRIPTION = "Description"
#: topics asked open-ended, in the order a description's facts are listed
OPEN_TOPICS: tuple[str, ...] = ("Laterality", "ACR", "Bi-Rads", "Abnormality")

#: the prompt of an open item (the closed templates of topics.yaml announce options, which an open item has not;
#: they stay untouched so that the closed predictions' prompt checksum, and with it their files, do not change)
OPEN_PROMPT = ("This is a mammography-related medical question. Answer in words, briefly, without any further "
               "explanation. ### Question: {question} ### Answer:")

#: our own wordings, per question kind and level (image: one mammogram; exam: all images of a screening exam)
OPEN_WORDINGS: dict[str, dict[str, tuple[str, ...]]] = {
    DESCRIPTION: {
        "image": (
            "Describe this mammogram: breast composition, findings and your BI-RADS assessment.",
            "Write a short mammography report for this image: side, breast density, findings and BI-RADS category.",
            "Report this mammogram as a radiologist would, stating the breast, its density, any abnormality and "
            "the BI-RADS assessment.",
        ),
        "exam": (
            "Describe this mammography exam: breast composition, findings and your BI-RADS assessment.",
            "Write a short report for this screening exam: breast density, findings and BI-RADS category.",
            "Report this mammography exam as a radiologist would, stating the density, any abnormality and the "
            "overall BI-RADS assessment.",
        ),
    },
    "Laterality": {"image": (
        "Which breast is imaged in this mammogram? Answer in words.",
        "State the side of the breast shown in this mammogram.",
        "Is this a left or a right breast? Say which.",
    )},
    "ACR": {
        "image": (
            "Describe the breast composition (density) in this mammogram.",
            "How dense is the breast tissue in this mammogram? Give the ACR composition category.",
            "What is the breast density of this mammogram?",
        ),
        "exam": (
            "Describe the overall breast composition (density) in this mammography exam.",
            "How dense is the breast tissue in this exam? Give the ACR composition category.",
            "What is the breast density of this screening exam?",
        ),
    },
    "Bi-Rads": {
        "image": (
            "What is your BI-RADS assessment of this mammogram?",
            "Assign a BI-RADS category to this mammogram.",
            "Give the BI-RADS assessment category for the findings in this image.",
        ),
        "exam": (
            "What is your overall BI-RADS assessment of this mammography exam?",
            "Assign a BI-RADS category to this screening exam.",
            "Give the BI-RADS assessment category for this exam.",
        ),
    },
    "Abnormality": {"image": (
        "What abnormalities, if any, do you see in this mammogram?",
        "Describe any findings in this mammogram, or say that it is normal.",
        "List the abnormal findings in this image; answer normal if there are none.",
    )},
}


def open_items_path(run: RunPaths) -> Path:
    """Where a run's open items live (beside the closed ``items.jsonl``; not a RunPaths attribute on purpose)."""
    return run.qa_dir / "open_items.jsonl"


def _wording(seed: int, item_id: str, kind: str, level: str) -> tuple[str, int]:
    wordings = OPEN_WORDINGS[kind].get(level) or OPEN_WORDINGS[kind]["image"]
    w = int(rng_for(seed, "qa-open", item_id).integers(len(wordings)))
    return wordings[w], w


def _open_from(closed: QAItem, item_id: str, topic: str, seed: int, answer: list[str], extra: dict) -> QAItem:
    question, w = _wording(seed, item_id, topic, closed.level)
    return QAItem(
        id=item_id, topic=topic, kind=OPEN_KIND, level=closed.level, dataset=closed.dataset, part=closed.part,
        role=closed.role, split=closed.split, record_id=closed.record_id, patient_id=closed.patient_id,
        images=list(closed.images), question=question, options=[], answer=answer, seed=seed,
        exam_id=closed.exam_id, site=closed.site, wording_index=w, extra=extra,
    )


def open_topic_item(closed: QAItem, seed: int, topics: Topics) -> QAItem:
    """The open form of one closed item: same record and gold, no options; the topic's options kept in extra."""
    return _open_from(closed, f"{closed.id}#open", closed.topic, seed, list(closed.answer),
                      {"closed_id": closed.id, "answer_options": list(topics[closed.topic].options)})


def description_item(record_items: Sequence[QAItem], seed: int, topics: Topics) -> QAItem:
    """The whole-study description of one record from its readable closed items (gold per topic in extra)."""
    by_topic = {it.topic: it for it in record_items}
    ordered = [by_topic[t] for t in OPEN_TOPICS if t in by_topic]
    gold = {it.topic: list(it.answer) for it in ordered}
    first = ordered[0]
    return _open_from(first, f"{first.record_id}#describe", DESCRIPTION, seed,
                      [a for it in ordered for a in it.answer],
                      {"gold": gold, "closed_ids": [it.id for it in ordered],
                       "answer_options": {t: list(topics[t].options) for t in gold}})


def build_open_items(closed_items: Iterable[QAItem], seed: int, topics: Topics | None = None) -> list[QAItem]:
    """Open items of a run, sorted by id: one per closed item of an open topic, one description per breast or
    exam record (finding-level records describe a crop, not a study, so they get no description)."""
    topics = topics or load_topics()
    out: list[QAItem] = []
    per_record: dict[str, list[QAItem]] = {}
    for it in closed_items:
        if it.topic not in OPEN_TOPICS:
            continue
        out.append(open_topic_item(it, seed, topics))
        if it.part in ("breast", "exam"):
            per_record.setdefault(it.record_id, []).append(it)
    out.extend(description_item(items, seed, topics) for items in per_record.values())
    out.sort(key=lambda it: it.id)
    return out


def open_prompt(item: QAItem) -> str:
    """The exact prompt an open item is asked with, at inference and in training (the same text in both)."""
    return OPEN_PROMPT.format(question=item.question)


def answer_options(item: QAItem, topic: str | None = None) -> list[str]:
    """The option strings an open answer is read against (the topic's, in topics.yaml order)."""
    opts = item.extra.get("answer_options", [])
    return list(opts[topic or item.topic]) if isinstance(opts, dict) else list(opts)


def item_gold(item: QAItem) -> dict[str, list[str]]:
    """Gold option strings per topic: one topic for a topic item, every readable topic for a description."""
    return dict(item.extra["gold"]) if item.topic == DESCRIPTION else {item.topic: list(item.answer)}
