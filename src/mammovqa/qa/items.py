"""The QA item: one question about one record, with its options in the order shown to the model.

Every item stores its own option order and seed, so a prompt can be rebuilt byte for byte and a stored
prompt can be checked against the item it claims to belong to.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..config import Topics, load_topics
from ..errors import DataError
from ..io import iter_jsonl, write_jsonl_atomic

QA_SCHEMA = 1
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
SPLITS = ("train", "val", "test", "external")


@dataclass
class QAItem:
    id: str
    topic: str  # official topic key (topics.yaml)
    kind: str  # single | multiple
    level: str  # image | exam
    dataset: str  # sub-dataset name
    part: str  # breast | finding | exam
    role: str  # internal | external
    split: str  # train | val | test | external
    record_id: str
    patient_id: str
    images: list[str]
    question: str
    options: list[str]  # in the order shown (letter A first)
    answer: list[str]  # gold option text(s); sorted for multiple choice
    seed: int
    exam_id: str | None = None
    site: str | None = None
    wording_index: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def topic_label(self) -> str:
        """Topic as reported: Pathology and Abnormality are reported apart for breast and finding sets."""
        if self.topic in ("Pathology", "Abnormality"):
            return f"{self.topic} ({'finding' if self.part == 'finding' else 'breast'})"
        return self.topic

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["schema"] = QA_SCHEMA
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> QAItem:
        d = dict(d)
        d.pop("schema", None)  # the file format's version, not a field (a copy: faster than a filtering dict)
        return cls(**d)


def topic_label(topic: str, part: str) -> str:
    if topic in ("Pathology", "Abnormality"):
        return f"{topic} ({'finding' if part == 'finding' else 'breast'})"
    return topic


def format_options(options: Iterable[str], topics: Topics | None = None) -> str:
    topics = topics or load_topics()
    fmt, sep = topics.prompts["option_format"], topics.prompts["option_separator"]
    return sep.join(fmt.format(letter=LETTERS[i], text=o) for i, o in enumerate(options))


def build_prompt(question: str, options: Iterable[str], kind: str, topics: Topics | None = None) -> str:
    """The exact protocol prompt (docs/protocol.md §3) for a question and options in the order shown."""
    topics = topics or load_topics()
    return topics.prompts[kind].format(question=question, options=format_options(options, topics))


def item_prompt(item: QAItem, topics: Topics | None = None) -> str:
    return build_prompt(item.question, item.options, item.kind, topics)


def write_items(path: str | Path, items: Iterable[QAItem]) -> int:
    return write_jsonl_atomic(path, (it.to_json() for it in items))


def iter_items(path: str | Path) -> Iterator[QAItem]:
    for line, obj in iter_jsonl(path):
        try:
            yield QAItem.from_json(obj)
        except TypeError as exc:
            raise DataError(path, line, f"not a QA item: {exc}") from None


def read_items(path: str | Path, split: str | None = None, level: str | None = None) -> list[QAItem]:
    return [it for it in iter_items(path) if (split is None or it.split == split) and (level is None or it.level == level)]
