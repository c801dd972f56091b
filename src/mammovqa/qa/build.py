"""Labelled records -> QA items (one per record and topic), with seeded wording and option order.

Why per-item seeding: the official builder shuffles options with an unseeded global RNG, so prompts change
between runs. Here each item's wording and option order come from (seed, item id) alone: the same records and
seed give byte-identical items however the records are ordered or sharded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from ..config import Datasets, Topics, load_datasets, load_topics
from ..data.records import Record
from ..errors import DataError
from ..seeding import rng_for
from .items import QAItem
from .splits import assign_splits


def make_item(record: Record, topic_key: str, split: str, role: str, part: str, seed: int, topics: Topics) -> QAItem:
    topic = topics[topic_key]
    answer = record.labels[topic_key]
    for a in answer:
        topics.check_option(topic_key, a, where=f"record {record.record_id}: labels.{topic_key}")
    if topic.kind == "single" and len(answer) != 1:
        raise DataError(record.record_id, None, f"single-choice topic {topic_key!r} needs one answer, got {answer}")
    item_id = f"{record.record_id}#{topic_key}"
    rng = rng_for(seed, "qa", item_id)
    level = "exam" if part == "exam" else "image"
    wordings = topic.wordings[level]
    w = int(rng.integers(len(wordings)))
    options = [topic.options[i] for i in rng.permutation(len(topic.options))]
    return QAItem(
        id=item_id, topic=topic_key, kind=topic.kind, level=level, dataset=record.dataset, part=part, role=role,
        split=split, record_id=record.record_id, patient_id=record.patient_id, images=list(record.images),
        question=wordings[w], options=options, answer=sorted(answer) if topic.kind == "multiple" else list(answer),
        seed=seed, exam_id=record.exam_id, site=record.site, wording_index=w,
    )


def build_items(records: Iterable[Record], seed: int, datasets: Datasets | None = None,
                topics: Topics | None = None) -> tuple[list[QAItem], dict[str, Any]]:
    """All QA items for the records, and a summary (counts, skipped labels with reasons)."""
    datasets = datasets or load_datasets()
    topics = topics or load_topics()
    records = list(records)
    parts = {r.dataset: datasets.part(r.dataset) for r in records}
    internal = [r for r in records if parts[r.dataset].role == "internal"]
    splits = assign_splits(internal, {name: p.dataset for name, p in parts.items()}, seed)

    items: list[QAItem] = []
    skipped: Counter[str] = Counter()
    seen: set[str] = set()
    for r in records:
        part = parts[r.dataset]
        if r.record_id in seen:
            raise DataError(r.dataset, r.record_id, "record id appears twice")
        seen.add(r.record_id)
        split = splits[(part.dataset, r.patient_id)] if part.role == "internal" else "external"
        for topic_key in part.topics:
            if not r.labels.get(topic_key):
                skipped[f"{r.dataset}: no {topic_key} label"] += 1
                continue
            items.append(make_item(r, topic_key, split, part.role, part.part, seed, topics))
    for topic_key in sorted({t for r in records for t in r.labels} - {t for p in parts.values() for t in p.topics}):
        skipped[f"label {topic_key} not asked for these datasets"] += 1
    items.sort(key=lambda it: it.id)
    summary = {
        "n_records": len(records),
        "n_items": len(items),
        "by_split": dict(sorted(Counter(it.split for it in items).items())),
        "by_level": dict(sorted(Counter(it.level for it in items).items())),
        "skipped": dict(sorted(skipped.items())),
    }
    return items, summary
