"""Typed, validated loading of the YAML files in ``data_manifest/``.

Why schemas: every failure must name the file, the key path and the offending value, so that a user editing a
manifest sees at once what to fix. The shape and types of each file are pydantic schemas (``mammovqa.schema``:
unknown keys rejected); the rules that tie a file to another (a dataset's topics must exist and be asked at its
level) follow the schema and raise the same ``ConfigError``. Loaders return plain frozen dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, StrictBool, StrictInt

from .errors import ConfigError
from .paths import LOCAL_CONFIG, MANIFEST_DIR, ROOT
from .schema import Schema, validate

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


class PromptsEntry(Schema):
    single: str
    multiple: str
    option_format: str
    option_separator: str


class TopicEntry(Schema):
    name: str
    kind: Literal["single", "multiple"]
    levels: list[Literal["image", "exam"]]
    options: list[str]
    wordings: dict[str, list[str]]


class TopicsFile(Schema):
    schema_: int | None = Field(default=None, alias="schema")
    prompts: PromptsEntry
    topics: dict[str, TopicEntry]


def parse_topics(raw: Any, file: Path) -> Topics:
    doc = validate(TopicsFile, raw, file)
    prompts = doc.prompts.model_dump()
    for k in ("single", "multiple"):
        for placeholder in ("{question}", "{options}"):
            if placeholder not in prompts[k]:
                raise ConfigError(file, f"prompts.{k}", f"template lacks {placeholder}")
    topics: dict[str, Topic] = {}
    for key, t in doc.topics.items():
        where = f"topics.{key}"
        if key not in TOPIC_KEYS:
            raise ConfigError(file, where, f"unknown topic {key!r} (known: {', '.join(TOPIC_KEYS)})")
        options = tuple(t.options)
        if len(set(options)) != len(options) or len(options) < 2:
            raise ConfigError(file, f"{where}.options", f"need at least 2 distinct options, got {list(options)}")
        levels = tuple(t.levels)
        for lv in levels:
            ws = t.wordings.get(lv)
            if ws is None or len(ws) != 4 or not all(ws):
                raise ConfigError(file, f"{where}.wordings.{lv}", f"need exactly 4 non-empty wordings, got {ws!r}")
        topics[key] = Topic(key, t.name, t.kind, levels, options, {lv: tuple(t.wordings[lv]) for lv in levels})
    missing = [k for k in TOPIC_KEYS if k not in topics]
    if missing:
        raise ConfigError(file, "topics", f"missing topics: {missing}")
    return Topics(topics, prompts, file)


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


class PartEntry(Schema):
    size: StrictInt
    topics: list[str]
    official_name: str | None = None


class DatasetEntry(Schema):
    """A dataset as datasets.yaml writes it; link, access and the terms are required of real datasets only."""

    role: Literal["internal", "external"]
    parts: dict[str, PartEntry]
    link: str | None = None
    access: str | None = None
    patient_key: str = ""
    mirrors: str | None = None
    sites: list[int] | None = None
    redistributable: StrictBool | None = None
    terms_source: str | None = None


class DatasetsFile(Schema):
    schema_: int | None = Field(default=None, alias="schema")
    datasets: dict[str, DatasetEntry]
    phantom: dict[str, DatasetEntry] = Field(default_factory=dict)


def _part(name: str, pname: str, p: PartEntry, role: str, sites: tuple[int, ...], topics: Topics, file: Path,
          pw: str) -> Part:
    if pname not in PARTS:
        raise ConfigError(file, pw, f"unknown part {pname!r} (allowed: {', '.join(PARTS)})")
    lvl = "exam" if pname == "exam" else "image"
    for t in p.topics:
        if t not in topics.topics:
            raise ConfigError(file, f"{pw}.topics", f"unknown topic {t!r} (known: {', '.join(topics.topics)})")
        if lvl not in topics[t].levels:
            raise ConfigError(file, f"{pw}.topics", f"topic {t!r} is not asked at {lvl} level")
    return Part(name, pname, str(p.official_name or f"{name}-{pname}"), p.size, tuple(p.topics), role, sites)


def _parse_dataset_group(group: dict[str, DatasetEntry], file: Path, where: str, topics: Topics,
                         synthetic: bool) -> dict[str, Dataset]:
    out = {}
    for name, d in group.items():
        w = f"{where}.{name}"
        sites = tuple(d.sites or ())
        parts = {pname: _part(name, pname, p, d.role, sites, topics, file, f"{w}.parts.{pname}")
                 for pname, p in d.parts.items()}
        if not synthetic:
            for k in ("link", "access", "terms_source", "redistributable"):
                if getattr(d, k) is None:
                    raise ConfigError(file, f"{w}.{k}", "missing required key")
        redistributable = True if synthetic else bool(d.redistributable)
        out[name] = Dataset(name, d.role, parts, str(d.link or ""), str(d.access or ""), d.patient_key, d.mirrors,
                            sites, synthetic, redistributable, str(d.terms_source or ""))
    return out


def parse_datasets(raw: Any, file: Path, topics: Topics) -> Datasets:
    doc = validate(DatasetsFile, raw, file)
    real = _parse_dataset_group(doc.datasets, file, "datasets", topics, False)
    phantom = _parse_dataset_group(doc.phantom, file, "phantom", topics, True)
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


class ProfileEntry(Schema):
    scale: float
    image_size: StrictInt
    description: str = ""
    min_per_part: StrictInt = 8
    train_epochs: StrictInt = 1
    train_max_items: StrictInt | None = None
    max_eval_items: StrictInt | None = None


class ProfilesFile(Schema):
    schema_: int | None = Field(default=None, alias="schema")
    profiles: dict[str, ProfileEntry]


def parse_profiles(raw: Any, file: Path) -> dict[str, Profile]:
    doc = validate(ProfilesFile, raw, file)
    return {name: Profile(name=name, **p.model_dump()) for name, p in doc.profiles.items()}


# ------------------------------------------------------------------ local.yaml


class LocalConfig(Schema):
    """``data_manifest/local.yaml`` (git-ignored): this machine's dataset folders and model weights."""

    datasets: dict[str, str | None] = Field(default_factory=dict)  # name -> folder (empty: absent)
    models: dict[str, str] = Field(default_factory=dict)  # registry id -> weights folder


def load_local(path: str | Path | None = None) -> LocalConfig:
    """The local configuration (empty when the file does not exist); not cached, a run may write it."""
    file = Path(path) if path else LOCAL_CONFIG
    if not file.exists():
        return LocalConfig()
    return validate(LocalConfig, load_yaml(file) or {}, file)


def local_dataset_roots(path: str | Path | None = None) -> dict[str, Path]:
    """Dataset name (datasets.yaml spelling) -> local folder, from ``local.yaml`` (empty when there is none).

    Why beside ``load_local``: the file's shape is :class:`LocalConfig`'s; what follows are the rules that tie it
    to datasets.yaml. Names match case-insensitively and come back in datasets.yaml's spelling; an unknown name is
    an error naming this file and the key; a blank folder means absent; a relative folder is taken from the
    repository root, so a checked-out copy works anywhere.
    """
    file = Path(path) if path else LOCAL_CONFIG
    local = load_local(file)
    known = load_datasets()
    out: dict[str, Path] = {}
    for name, folder in local.datasets.items():
        try:
            canon = known.get(name).name
        except ConfigError:
            raise ConfigError(file, f"datasets.{name}", f"unknown dataset {name!r} (known: "
                                                         f"{', '.join(known.real)})") from None
        if folder:
            p = Path(folder).expanduser()
            out[canon] = p if p.is_absolute() else ROOT / p
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
