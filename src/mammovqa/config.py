"""Typed, validated loading of the YAML files in ``data_manifest/``.

Why hand-written checks: every failure must name the file, the key path and the offending value,
so that a user editing a manifest sees at once what to fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml

from .errors import ConfigError
from .paths import MANIFEST_DIR

TOPIC_KEYS = ("Laterality", "View", "ACR", "Bi-Rads", "Background tissue", "Subtlety", "Masking potential",
              "Pathology", "Abnormality")
PARTS = ("breast", "finding", "exam")
ROLES = ("internal", "external")


def load_yaml(path: str | Path) -> Any:
    path = Path(path)
    if not path.exists():
        raise ConfigError(path, "<file>", "file not found")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "<parse>"
        raise ConfigError(path, where, f"malformed YAML: {getattr(exc, 'problem', exc)}") from None


def _require(obj: Any, key: str, typ: type | tuple[type, ...], file: Path, where: str) -> Any:
    if not isinstance(obj, dict):
        raise ConfigError(file, where, f"expected a mapping, got {type(obj).__name__}: {obj!r}")
    if key not in obj:
        raise ConfigError(file, f"{where}.{key}" if where else key, "missing required key")
    val = obj[key]
    if not isinstance(val, typ):
        names = typ.__name__ if isinstance(typ, type) else "/".join(t.__name__ for t in typ)
        raise ConfigError(file, f"{where}.{key}" if where else key, f"expected {names}, got {val!r}")
    return val


def _no_extra(obj: dict, allowed: set[str], file: Path, where: str) -> None:
    for key in obj:
        if key not in allowed:
            raise ConfigError(file, f"{where}.{key}" if where else str(key),
                              f"unknown key {key!r} (allowed: {', '.join(sorted(allowed))})")


# ------------------------------------------------------------------ topics


@dataclass(frozen=True)
class Topic:
    key: str
    name: str
    kind: Literal["single", "multiple"]
    levels: tuple[str, ...]
    options: tuple[str, ...]
    wordings: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class Topics:
    topics: dict[str, Topic]
    prompts: dict[str, str]
    source: Path

    def __getitem__(self, key: str) -> Topic:
        if key not in self.topics:
            raise ConfigError(self.source, f"topics.{key}", f"unknown topic {key!r} (known: {', '.join(self.topics)})")
        return self.topics[key]

    def check_option(self, topic: str, option: str, where: str = "") -> None:
        if option not in self[topic].options:
            raise ConfigError(self.source, where or f"topics.{topic}.options",
                              f"unknown option {option!r} for topic {topic!r} (allowed: {list(self[topic].options)})")


def parse_topics(raw: Any, file: Path) -> Topics:
    if not isinstance(raw, dict):
        raise ConfigError(file, "<root>", f"expected a mapping, got {type(raw).__name__}")
    _no_extra(raw, {"schema", "prompts", "topics"}, file, "")
    prompts = _require(raw, "prompts", dict, file, "")
    for k in ("single", "multiple", "option_format", "option_separator"):
        _require(prompts, k, str, file, "prompts")
    for k in ("single", "multiple"):
        for placeholder in ("{question}", "{options}"):
            if placeholder not in prompts[k]:
                raise ConfigError(file, f"prompts.{k}", f"template lacks {placeholder}")
    topics_raw = _require(raw, "topics", dict, file, "")
    topics: dict[str, Topic] = {}
    for key, t in topics_raw.items():
        where = f"topics.{key}"
        if key not in TOPIC_KEYS:
            raise ConfigError(file, where, f"unknown topic {key!r} (known: {', '.join(TOPIC_KEYS)})")
        _no_extra(t, {"name", "kind", "levels", "options", "wordings"}, file, where)
        kind = _require(t, "kind", str, file, where)
        if kind not in ("single", "multiple"):
            raise ConfigError(file, f"{where}.kind", f"expected 'single' or 'multiple', got {kind!r}")
        levels = tuple(_require(t, "levels", list, file, where))
        for lv in levels:
            if lv not in ("image", "exam"):
                raise ConfigError(file, f"{where}.levels", f"unknown level {lv!r} (image, exam)")
        options = tuple(_require(t, "options", list, file, where))
        if len(set(options)) != len(options) or len(options) < 2:
            raise ConfigError(file, f"{where}.options", f"need at least 2 distinct options, got {list(options)}")
        wordings = _require(t, "wordings", dict, file, where)
        for lv in levels:
            ws = wordings.get(lv)
            if not isinstance(ws, list) or len(ws) != 4 or not all(isinstance(w, str) and w for w in ws):
                raise ConfigError(file, f"{where}.wordings.{lv}", f"need exactly 4 non-empty wordings, got {ws!r}")
        topics[key] = Topic(key, _require(t, "name", str, file, where), kind, levels, options,
                            {lv: tuple(wordings[lv]) for lv in levels})
    missing = [k for k in TOPIC_KEYS if k not in topics]
    if missing:
        raise ConfigError(file, "topics", f"missing topics: {missing}")
    return Topics(topics, dict(prompts), file)


# ------------------------------------------------------------------ datasets


@dataclass(frozen=True)
class Part:
    dataset: str
    part: str
    name: str  # the sub-dataset name (official spelling)
    size: int
    topics: tuple[str, ...]
    role: str
    sites: tuple[int, ...] = ()

    @property
    def level(self) -> str:
        return "exam" if self.part == "exam" else "image"


@dataclass(frozen=True)
class Dataset:
    name: str
    role: str
    parts: dict[str, Part]
    link: str = ""
    access: str = ""
    patient_key: str = ""
    mirrors: str | None = None
    sites: tuple[int, ...] = ()
    synthetic: bool = False
    # May images and report text of this dataset be shown in a published manuscript, gallery or notebook?
    # Phantom data is ours (always True); real datasets say so in datasets.yaml, with the terms' source.
    redistributable: bool = False
    terms_source: str = ""


@dataclass(frozen=True)
class Datasets:
    real: dict[str, Dataset]
    phantom: dict[str, Dataset]
    source: Path

    def get(self, name: str) -> Dataset:
        """Case-insensitive lookup over real and phantom datasets."""
        for d in (*self.real.values(), *self.phantom.values()):
            if d.name.lower() == name.lower():
                return d
        raise ConfigError(self.source, "datasets", f"unknown dataset {name!r} (known: {', '.join(self.real)})")

    def part(self, subdataset: str) -> Part:
        for d in (*self.real.values(), *self.phantom.values()):
            for p in d.parts.values():
                if p.name.lower() == subdataset.lower():
                    return p
        raise ConfigError(self.source, "datasets", f"unknown sub-dataset {subdataset!r}")

    def all_parts(self, synthetic: bool) -> list[Part]:
        group = self.phantom if synthetic else self.real
        return [p for d in group.values() for p in d.parts.values()]


def _parse_dataset_group(group: Any, file: Path, where: str, topics: Topics, synthetic: bool) -> dict[str, Dataset]:
    if not isinstance(group, dict):
        raise ConfigError(file, where, f"expected a mapping of datasets, got {group!r}")
    out = {}
    allowed = {"role", "link", "access", "patient_key", "parts", "mirrors", "sites", "redistributable", "terms_source"}
    for name, d in group.items():
        w = f"{where}.{name}"
        _no_extra(d, allowed, file, w)
        role = _require(d, "role", str, file, w)
        if role not in ROLES:
            raise ConfigError(file, f"{w}.role", f"unknown role {role!r} (allowed: {', '.join(ROLES)})")
        sites = tuple(d.get("sites", ()) or ())
        parts_raw = _require(d, "parts", dict, file, w)
        parts = {}
        for pname, p in parts_raw.items():
            pw = f"{w}.parts.{pname}"
            if pname not in PARTS:
                raise ConfigError(file, pw, f"unknown part {pname!r} (allowed: {', '.join(PARTS)})")
            _no_extra(p, {"official_name", "size", "topics"}, file, pw)
            ptopics = tuple(_require(p, "topics", list, file, pw))
            for t in ptopics:
                if t not in topics.topics:
                    raise ConfigError(file, f"{pw}.topics", f"unknown topic {t!r} (known: {', '.join(topics.topics)})")
                lvl = "exam" if pname == "exam" else "image"
                if lvl not in topics[t].levels:
                    raise ConfigError(file, f"{pw}.topics", f"topic {t!r} is not asked at {lvl} level")
            size = _require(p, "size", int, file, pw)
            parts[pname] = Part(name, pname, str(p.get("official_name") or f"{name}-{pname}"), size, ptopics, role, sites)
        if not synthetic:
            for k in ("link", "access", "terms_source"):
                _require(d, k, str, file, w)
            _require(d, "redistributable", bool, file, w)
        redistributable = True if synthetic else bool(d["redistributable"])
        out[name] = Dataset(name, role, parts, str(d.get("link", "")), str(d.get("access", "")),
                            str(d.get("patient_key", "")), d.get("mirrors"), sites, synthetic, redistributable,
                            str(d.get("terms_source", "")))
    return out


def parse_datasets(raw: Any, file: Path, topics: Topics) -> Datasets:
    if not isinstance(raw, dict):
        raise ConfigError(file, "<root>", f"expected a mapping, got {type(raw).__name__}")
    _no_extra(raw, {"schema", "datasets", "phantom"}, file, "")
    real = _parse_dataset_group(_require(raw, "datasets", dict, file, ""), file, "datasets", topics, False)
    phantom = _parse_dataset_group(raw.get("phantom", {}), file, "phantom", topics, True)
    for d in phantom.values():
        if d.mirrors and d.mirrors not in real:
            raise ConfigError(file, f"phantom.{d.name}.mirrors", f"unknown dataset {d.mirrors!r}")
    return Datasets(real, phantom, file)


# ------------------------------------------------------------------ profiles


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    scale: float
    image_size: int
    min_per_part: int
    train_epochs: int
    train_max_items: int | None
    max_eval_items: int | None
    extra: dict[str, Any] = field(default_factory=dict)


def parse_profiles(raw: Any, file: Path) -> dict[str, Profile]:
    profs = _require(raw, "profiles", dict, file, "")
    out = {}
    for name, p in profs.items():
        w = f"profiles.{name}"
        known = {"description", "scale", "image_size", "min_per_part", "train_epochs", "train_max_items",
                 "max_eval_items"}
        out[name] = Profile(
            name=name,
            description=str(p.get("description", "")),
            scale=float(_require(p, "scale", (int, float), file, w)),
            image_size=int(_require(p, "image_size", int, file, w)),
            min_per_part=int(p.get("min_per_part", 8)),
            train_epochs=int(p.get("train_epochs", 1)),
            train_max_items=p.get("train_max_items"),
            max_eval_items=p.get("max_eval_items"),
            extra={k: v for k, v in p.items() if k not in known},
        )
    return out


# ------------------------------------------------------------------ cached entry points


@lru_cache(maxsize=8)
def load_topics(path: str | Path | None = None) -> Topics:
    file = Path(path) if path else MANIFEST_DIR / "topics.yaml"
    return parse_topics(load_yaml(file), file)


@lru_cache(maxsize=8)
def load_datasets(path: str | Path | None = None, topics_path: str | Path | None = None) -> Datasets:
    file = Path(path) if path else MANIFEST_DIR / "datasets.yaml"
    return parse_datasets(load_yaml(file), file, load_topics(topics_path))


@lru_cache(maxsize=8)
def load_profiles(path: str | Path | None = None) -> dict[str, Profile]:
    file = Path(path) if path else MANIFEST_DIR / "profiles.yaml"
    return parse_profiles(load_yaml(file), file)


def get_profile(name: str) -> Profile:
    profiles = load_profiles()
    if name not in profiles:
        raise ConfigError(MANIFEST_DIR / "profiles.yaml", "profiles",
                          f"unknown profile {name!r}; choose one of: {', '.join(profiles)}")
    return profiles[name]
