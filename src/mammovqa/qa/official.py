"""The official MammoVQA JSON layout: export our QA items to it, and import the released benchmark files.

Layout (docs/dataset-sources.md §1): a dict keyed "1".."N" (contiguous: the official loaders index ``str(i + 1)``), each
entry with ``Path`` (a string for image items, a list for exam items), ``Question topic``, ``Question type``
("single choice" / "multiple choice"), ``Question``, ``Options`` (list), ``Answer`` (a string; a list for
Abnormality) and ``Dataset``.

What the official layout cannot hold: our item id, split, patient/exam/record ids, site, seed, wording index,
role, part and ``extra``. ``export_official_json`` therefore writes them to a sidecar
``<name>.mammovqa.jsonl`` (one line per key, same order) and ``read_official_json`` restores them when it is
present; without it they are re-derived (part and role from the dataset name, level from the type of ``Path``)
or set to placeholders (patient id = the image path, seed = 0), and the original key and path are kept in
``extra``.

Import of the released benchmark keeps each item's ``Options`` in the stored order, which is the order our
prompt shows (letter A first), and the stored answer text, so scores compare with the paper's. Image paths are
rewritten with a prefix map (longest matching prefix wins); entries whose path matches no prefix or whose
rewritten file does not exist are reported per dataset and left out. Every entry is validated first (a known
topic, at least two options, every answer among the options): a bad entry would silently shift a topic's
random-guess level or be unanswerable, so it is an error naming file, line, key and item id. An import that
resolves no entry at all (typically a wrong ``--prefix``) is an error too, not an empty benchmark.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..config import ConfigError, load_datasets, load_topics
from ..errors import DataError
from ..io import read_jsonl, write_json_atomic, write_jsonl_atomic
from .items import QAItem

FIELDS = ("Path", "Question topic", "Question type", "Question", "Options", "Answer", "Dataset")
TYPE_OF_KIND = {"single": "single choice", "multiple": "multiple choice"}
KIND_OF_TYPE = {v: k for k, v in TYPE_OF_KIND.items()}
SIDECAR_FIELDS = ("id", "split", "record_id", "patient_id", "exam_id", "site", "seed", "wording_index", "role",
                  "part", "level", "answer", "extra")


def sidecar_path(json_path: str | Path) -> Path:
    p = Path(json_path)
    return p.with_name(p.stem + ".mammovqa.jsonl")


def to_official(item: QAItem) -> dict[str, Any]:
    """One item in the official spelling; Abnormality answers stay a list, every other answer is a string."""
    answer: Any = list(item.answer) if item.topic == "Abnormality" else item.answer[0]
    return {"Path": list(item.images) if item.level == "exam" else item.images[0], "Question topic": item.topic,
            "Question type": TYPE_OF_KIND[item.kind], "Question": item.question, "Options": list(item.options),
            "Answer": answer, "Dataset": item.dataset}


def export_official_json(items: Iterable[QAItem], path: str | Path, sidecar: bool = True) -> Path:
    """Write items as ``{"1": {...}, ...}`` in the given order (atomically), plus the sidecar of our fields."""
    items = list(items)
    write_json_atomic(path, {str(i + 1): to_official(it) for i, it in enumerate(items)}, indent=1)
    if sidecar:
        write_jsonl_atomic(sidecar_path(path), ({"key": str(i + 1)} | {f: getattr(it, f) for f in SIDECAR_FIELDS}
                                                for i, it in enumerate(items)))
    return Path(path)


def load_official_json(path: str | Path) -> dict[str, dict[str, Any]]:
    """Read and check an official file: contiguous keys "1".."N" and the seven fields per entry."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(path, None, "file not found") from None
    except json.JSONDecodeError as exc:
        raise DataError(path, exc.lineno, f"malformed JSON: {exc.msg}") from None
    if not isinstance(raw, dict):
        raise DataError(path, None, f"expected an object keyed '1'..'N', got {type(raw).__name__}")
    keys = sorted(raw, key=lambda k: int(k) if str(k).isdigit() else -1)
    if keys != [str(i + 1) for i in range(len(raw))]:
        bad = next((k for i, k in enumerate(keys) if k != str(i + 1)), None)
        raise DataError(path, bad, "keys must be the contiguous strings '1'..'N' (the official loaders index them)")
    for k in keys:
        entry = raw[k]
        missing = [f for f in FIELDS if f not in entry] if isinstance(entry, dict) else list(FIELDS)
        if missing:
            raise DataError(path, k, f"entry lacks {missing}")
        if entry["Question type"] not in KIND_OF_TYPE:
            raise DataError(path, k, f"unknown Question type {entry['Question type']!r}")
        if not isinstance(entry["Options"], list):
            raise DataError(path, k, "Options must be a list")
    return {k: raw[k] for k in keys}


def _part_role(dataset: str, level: str) -> tuple[str, str]:
    try:
        p = load_datasets().part(dataset)
        return p.part, p.role
    except ConfigError:
        part = "exam" if level == "exam" else ("finding" if dataset.endswith("finding") else "breast")
        return part, "internal"


def from_official(key: str, entry: Mapping[str, Any], split: str, level: str | None = None,
                  side: Mapping[str, Any] | None = None, prefix: str = "official") -> QAItem:
    """One official entry as a QAItem (options and their order exactly as stored)."""
    paths = entry["Path"] if isinstance(entry["Path"], list) else [entry["Path"]]
    level = level or ("exam" if isinstance(entry["Path"], list) else "image")
    answer = entry["Answer"] if isinstance(entry["Answer"], list) else [entry["Answer"]]
    kind = KIND_OF_TYPE[entry["Question type"]]
    part, role = _part_role(str(entry["Dataset"]), level)
    item = QAItem(id=f"{prefix}-{level}-{split}-{key}", topic=entry["Question topic"], kind=kind, level=level,
                  dataset=str(entry["Dataset"]), part=part, role=role, split=split, record_id=paths[0],
                  patient_id=paths[0], images=[str(p) for p in paths], question=entry["Question"],
                  options=list(entry["Options"]), answer=sorted(answer) if kind == "multiple" else answer, seed=0,
                  extra={"official_key": key, "official_path": entry["Path"]})
    if side:
        for f in SIDECAR_FIELDS:
            if f in side:
                setattr(item, f, side[f])
        item.extra = dict(side.get("extra") or {}) | {"official_key": key}
    return item


def read_official_json(path: str | Path, split: str = "test", level: str | None = None) -> list[QAItem]:
    """Items from an official-layout file, with our fields restored from its sidecar when there is one."""
    data = load_official_json(path)
    sc = sidecar_path(path)
    sides = {str(r["key"]): r for r in read_jsonl(sc)} if sc.exists() else {}
    return [from_official(k, e, split, level, sides.get(k)) for k, e in data.items()]


def rewrite_path(path: str, prefix_map: Mapping[str, str]) -> str | None:
    """Replace the longest matching prefix; None when no prefix matches."""
    for old in sorted(prefix_map, key=len, reverse=True):
        if path.startswith(old):
            return prefix_map[old] + path[len(old):]
    return None


def entry_lines(text: str) -> dict[str, int]:
    """Line number of each top-level key ``"N": {`` in an official JSON text (1 for a one-line file)."""
    lines: dict[str, int] = {}
    for m in re.finditer(r'^\s*"(\d+)"\s*:\s*\{', text, flags=re.MULTILINE):
        lines.setdefault(m.group(1), text.count("\n", 0, m.start()) + 1)
    return lines


def entry_problem(entry: Mapping[str, Any], topics: Iterable[str]) -> str | None:
    """Why an official entry cannot be a benchmark item (unknown topic, < 2 options, answer not an option)."""
    topic = entry["Question topic"]
    if topic not in set(topics):
        return f"unknown topic {topic!r} (known: {', '.join(topics)})"
    options = entry["Options"]
    if len(options) < 2:
        return f"{len(options)} option{'s' if len(options) != 1 else ''} {options!r}: a question needs at least two"
    answers = entry["Answer"] if isinstance(entry["Answer"], list) else [entry["Answer"]]
    if not answers:
        return "no answer"
    for a in answers:
        if a not in options:
            return f"answer {a!r} is not among the options {options!r}"
    return None


def validate_entries(json_path: str | Path, data: Mapping[str, Mapping[str, Any]], split: str,
                     level: str | None, prefix: str = "official") -> None:
    """Raise a :class:`DataError` naming file, line, key and item id of the first invalid entry (and the count)."""
    topics = list(load_topics().topics)
    bad = [(k, p) for k, e in data.items() if (p := entry_problem(e, topics)) is not None]
    if not bad:
        return
    lines = entry_lines(Path(json_path).read_text(encoding="utf-8"))
    key, problem = bad[0]
    entry = data[key]
    lv = level or ("exam" if isinstance(entry["Path"], list) else "image")
    more = f" ({len(bad) - 1} more invalid entries: keys {[k for k, _ in bad[1:6]]})" if len(bad) > 1 else ""
    raise DataError(f"{json_path}, line {lines.get(key, 1)}", None,
                    f"entry {key} (id {prefix}-{lv}-{split}-{key}): {problem}{more}; fix or remove the entry")


def import_official(json_path: str | Path, prefix_map: Mapping[str, str], split: str = "test",
                    level: str | None = None, check_exists: bool = True) -> tuple[list[QAItem], dict[str, Any]]:
    """Released MammoVQA JSON -> QAItems on the user's local images, plus a report of what did not resolve.

    The report counts, per dataset, entries resolved and unresolved (``no_prefix``: no prefix of the map
    matched; ``missing_file``: the rewritten file does not exist) with a few examples of each.
    """
    data = load_official_json(json_path)
    validate_entries(json_path, data, split, level)
    items: list[QAItem] = []
    resolved: Counter = Counter()
    unresolved: dict[str, Counter] = defaultdict(Counter)
    examples: dict[str, list[str]] = defaultdict(list)
    topics: Counter = Counter()
    answer_not_in_options = 0
    for key, entry in data.items():
        ds = str(entry["Dataset"])
        paths = entry["Path"] if isinstance(entry["Path"], list) else [entry["Path"]]
        new = [rewrite_path(str(p), prefix_map) for p in paths]
        reason = ("no_prefix" if any(n is None for n in new) else
                  "missing_file" if check_exists and not all(Path(n).exists() for n in new) else None)
        if reason:
            unresolved[ds][reason] += 1
            if len(examples[reason]) < 5:
                examples[reason].append(f"{key}: {paths[0]}")
            continue
        item = from_official(key, entry, split, level)
        item.images = [str(n) for n in new]
        if any(a not in item.options for a in item.answer):
            answer_not_in_options += 1
        items.append(item)
        resolved[ds] += 1
        topics[item.topic] += 1
    datasets = sorted(set(resolved) | set(unresolved))
    report = {"file": str(json_path), "entries": len(data), "imported": len(items),
              "unresolved": sum(sum(c.values()) for c in unresolved.values()),
              "by_dataset": {d: {"resolved": resolved[d], **dict(sorted(unresolved[d].items()))} for d in datasets},
              "examples": dict(examples), "topics": dict(sorted(topics.items())),
              "answer_not_in_options": answer_not_in_options, "prefix_map": dict(prefix_map)}
    if not items:
        first = next(iter(data.values()), {}).get("Path", "")
        first = first[0] if isinstance(first, list) and first else first
        reasons = {d: dict(c) for d, c in unresolved.items()}
        raise DataError(json_path, None, f"0 of {len(data)} entries resolved ({reasons}): check --prefix OLD=NEW "
                        f"(OLD must start the stored paths, e.g. {str(first)!r}; given: {dict(prefix_map)}) and that "
                        "the rewritten files exist")
    return items, report


def parse_prefix_map(values: Iterable[str]) -> dict[str, str]:
    """``OLD=NEW`` strings (CLI) -> mapping; a value ending in .json/.yaml is read as a mapping file."""
    out: dict[str, str] = {}
    for v in values:
        if v.endswith((".json", ".yaml", ".yml")) and Path(v).exists():
            from ..config import load_yaml

            loaded = load_yaml(v)
            if not isinstance(loaded, dict):
                raise DataError(v, None, "prefix map file must hold a mapping OLD: NEW")
            out.update({str(k): str(x) for k, x in loaded.items()})
            continue
        if "=" not in v:
            raise DataError("--prefix", None, f"expected OLD=NEW, got {v!r}")
        old, new = v.split("=", 1)
        out[old] = new
    return out


def write_import_report(report: Mapping[str, Any], path: str | Path) -> None:
    write_json_atomic(path, dict(report))
