"""The QA item: one question about one record, with its options in the order shown to the model.

Every item stores its own option order and seed, so a prompt can be rebuilt byte for byte and a stored
prompt can be checked against the item it claims to belong to.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from operator import itemgetter
from pathlib import Path
from sys import intern
from typing import Any

from ..config import Topics, load_topics
from ..errors import DataError
from ..io import dumps, iter_jsonl, write_jsonl_atomic

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
        if cls is QAItem and d.keys() == _JSON_KEYS:  # every field and the schema, as write_items writes them
            item = _shared_item(*_FIELD_VALUES(d))
            if item is not None:
                return item
        d = dict(d)
        d.pop("schema", None)  # the file format's version, not a field (a copy: faster than a filtering dict)
        return cls(**d)


def _shared_item(item_id: str, topic: str, kind: str, level: str, dataset: str, part: str, role: str, split: str,
                 record_id: str, patient_id: str, images: list[str], question: str, options: list[str],
                 answer: list[str], seed: int, exam_id: str | None, site: str | None, wording_index: int,
                 extra: dict[str, Any]) -> QAItem | None:
    """The item through the same ``__init__``, positionally, with the texts that repeat across items (topic,
    kind, level, sub-dataset, part, role, split, question, option and answer texts) interned; None when one of
    them is not a plain string (the caller then builds the item as given).

    Why: a run's 565K items otherwise hold 565K copies of "test" or "Left"; one shared string per value is
    hashed once and read from one place by every grouping, cache key and score-table column built from them
    (the score frame of an import took a third less time), and the values are the same.
    """
    if type(options) is not list or type(answer) is not list:
        return None
    try:
        return QAItem(item_id, intern(topic), intern(kind), intern(level), intern(dataset), intern(part), intern(role),
                      intern(split), record_id, patient_id, images, intern(question), list(map(intern, options)),
                      list(map(intern, answer)), seed, exam_id, site, wording_index, extra)
    except TypeError:  # sys.intern takes plain strings only
        return None


# The items file's keys: QAItem's fields (in declaration order, :func:`QAItem.from_json` passes their values
# positionally) and the schema. Why: a run's 565K items are read by every import and score, and building each
# from a copied dict through ``**`` cost three times the positional call.
_FIELD_NAMES = tuple(f.name for f in fields(QAItem))
_JSON_KEYS = frozenset((*_FIELD_NAMES, "schema"))
_FIELD_VALUES = itemgetter(*_FIELD_NAMES)


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


def read_items_with_lines(path: str | Path) -> tuple[list[QAItem], list[str | None]]:
    """``read_items(path)``, and for each item its line of the file (no newline) when that line is exactly
    ``dumps(item.to_json())`` (what :func:`write_items` writes), else None.

    Why: an import hashes every item's canonical JSON (the ``data_sha256`` of its provenance); a line proven to
    be that JSON need not be encoded again. Anything unusual (a blank or malformed line, one that is not an
    item) is left to :func:`read_items`, which reads or refuses the file as ever (no line then).
    """
    from ..io import gc_paused, loads_line

    items: list[QAItem] = []
    lines: list[str | None] = []
    try:
        with gc_paused(), open(path, encoding="utf-8") as fh:  # 565K acyclic items: see io.gc_paused
            for raw in fh:
                obj = loads_line(raw)
                if type(obj) is not dict:
                    raise TypeError
                items.append(QAItem.from_json(obj))
                text = raw[:-1] if raw.endswith("\n") else raw
                lines.append(text if canonical_length(obj) == len(text) and "\\" not in text else None)
    except Exception:  # noqa: BLE001 - read_items reads the file line by line and raises its own errors
        items = read_items(path)
        return items, [None] * len(items)
    return items, lines


def canonical_length(obj: dict[str, Any]) -> int | None:
    """The length of ``dumps(QAItem.from_json(obj).to_json())`` when ``obj`` (as the JSON decoder gives it: plain
    ``str``, ``int``, ``list``, ``dict``) is an item as :func:`write_items` writes one, else None (no claim).

    Why this proves a line canonical (:func:`read_items_with_lines`): a line without a backslash that parses to
    ``obj`` shows every string as the encoder does (the decoder refuses raw control characters, and a quote or
    backslash inside a string would need one), and with the keys in sorted order it differs from the canonical
    line only by what makes it longer: whitespace, a repeated key, ``-0``. So equal lengths mean equal lines.
    The texts are measured joined (in C; ``str.join`` refuses anything but text).
    """
    if tuple(obj) != _SORTED_KEYS:  # the keys, each once, in sorted order
        return None
    answer, images, options, exam_id, site, seed, wi, schema, extra = _OTHER_VALUES(obj)
    if (type(answer) is not list or type(images) is not list or type(options) is not list or type(seed) is not int
            or type(wi) is not int or type(schema) is not int or schema != QA_SCHEMA or extra != {}):
        return None
    # the bare item has "" for exam_id and site (a null is 2 longer) and "0" for seed and wording_index;
    # each list entry adds its quotes and, after the first, a comma
    na, ni, no = len(answer), len(images), len(options)
    n = (_BARE_LENGTH + len(repr(seed)) + len(repr(wi)) - 2 + 2 * (exam_id is None) + 2 * (site is None)
         + 3 * (na + ni + no) - (na > 0) - (ni > 0) - (no > 0))
    try:  # str.join refuses anything but text: a field of another type makes no claim
        return n + len("".join([*_TEXT_VALUES(obj), *answer, *images, *options,
                                *(v for v in (exam_id, site) if v is not None)]))
    except TypeError:
        return None


_SORTED_KEYS = tuple(sorted(_JSON_KEYS))
_TEXT_VALUES = itemgetter("dataset", "id", "kind", "level", "part", "patient_id", "question", "record_id", "role",
                          "split", "topic")
_OTHER_VALUES = itemgetter("answer", "images", "options", "exam_id", "site", "seed", "wording_index", "schema", "extra")
# dumps(to_json()) of an item with every text empty, no list entries, "" for exam_id and site, 0 for the numbers
_BARE_LENGTH = len(dumps(QAItem(*[[] if k in ("answer", "images", "options") else 0 if k in ("seed", "wording_index")
                                 else {} if k == "extra" else "" for k in _FIELD_NAMES]).to_json()))
