"""The model registry (``data_manifest/models.yaml``) and weight lookup.

Why a registry: the paper compares twelve models run by very different code; the registry records, per model,
whether our transformers adapter runs it (``native``) or its predictions are imported, what family of adapter it
needs and whether it may see all images of an exam. Weight lookup never touches the network: a local path
(registry or ``local.yaml``) or the Hugging Face cache, and a clear error naming everything searched otherwise.

The file is validated with pydantic schemas (``mammovqa.schema``: unknown keys rejected, errors name file, key
and value); rules that tie keys together (a native model needs weights, an adapter its base) follow. Its
``trained:`` section names the models a run trains itself, so that every model's reporting category
(:func:`category`) comes from its role in this one file rather than from its name.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field, StrictBool

from ..config import load_local, load_yaml
from ..errors import ConfigError, MammoVQAError
from ..paths import LOCAL_CONFIG, MANIFEST_DIR, resolve
from ..schema import Schema, validate

Family = Literal["llava", "llava_next", "qwen2_5_vl", "internvl", "gemma3", "blip2", "instructblip", "phi3_v",
                 "external"]
Role = Literal["zero-shot", "finetune-base", "report", "offline", "adapter"]
TrainedRole = Literal["fine-tuned", "closed-set"]
Dtype = Literal["bfloat16", "float16", "float32"]
ChatTemplate = Literal["processor", "none"]
FAMILIES, ROLES, TRAINED_ROLES = get_args(Family), get_args(Role), get_args(TrainedRole)
DTYPES, CHAT = get_args(Dtype), get_args(ChatTemplate)

# The category a model is reported under in tables and figures, from its registry role. Registry models that
# are not zero-shot models of the paper (the fine-tuning base, the report backbones) would be run zero-shot.
ROLE_CATEGORY = {"zero-shot": "zero-shot", "finetune-base": "zero-shot", "report": "zero-shot",
                 "offline": "architecture check", "adapter": "fine-tuned", "fine-tuned": "fine-tuned",
                 "closed-set": "closed-set"}
BASELINE_PREFIX = "baseline/"  # weight-free baselines (eval/baselines.py) are not models of the registry
#: The order in which categories are listed in every table, figure and legend.
CATEGORY_ORDER = ("fine-tuned", "closed-set", "zero-shot", "architecture check", "baseline")


class WeightsNotFound(MammoVQAError):
    """No weights for a model: names the model id and every place searched."""


class Runnable(Schema):
    """What a model is and how our adapter runs it: the keys a models.yaml entry and its ModelSpec share."""

    family: Family
    multi_image: StrictBool
    native: StrictBool
    role: Role
    hf_id: str | None = None
    local_path: str | None = None
    dtype: Dtype = "bfloat16"
    chat_template: ChatTemplate = "processor"


class ModelEntry(Runnable):
    """One ``models:`` entry of models.yaml as written (see the file's header for the meaning of each key)."""

    name: str | None = None
    base: str | None = None
    adapter_of: str | None = None
    note: str | None = None


class TrainedEntry(Schema):
    """One ``trained:`` entry: a model a run trains itself (its weights live in the run's results folder)."""

    role: TrainedRole
    name: str
    base: str | None = None  # what it is trained from (a registry id or a backbone), for the reader
    note: str | None = None


class RegistryFile(Schema):
    schema_: int | None = Field(default=None, alias="schema")
    models: dict[str, ModelEntry] = Field(min_length=1)
    trained: dict[str, TrainedEntry] = Field(default_factory=dict)


class ModelSpec(Runnable):
    """A registry model as the code uses it: its id and display name, its base resolved, its note as text."""

    id: str
    name: str
    base: str | None = None  # for LoRA adapters: the registry id of the base model
    note: str = ""


def _check(cond: bool, file: Path, key: str, msg: str) -> None:
    if not cond:
        raise ConfigError(file, key, msg)


def _spec(mid: str, m: ModelEntry, file: Path) -> ModelSpec:
    """A validated entry as a ModelSpec, after the rules that tie several keys together."""
    w = f"models.{mid}"
    base = m.base or m.adapter_of
    if m.native:
        _check(m.family != "external", file, f"{w}.native", "a native model needs a transformers family")
        _check(bool(m.hf_id or m.local_path), file, f"{w}.hf_id", "a native model needs hf_id or local_path")
    if m.role == "adapter":
        _check(bool(base), file, f"{w}.base", "an adapter needs 'base' (the registry id of its base model)")
    return ModelSpec(id=mid, name=str(m.name if m.name is not None else mid), base=base,
                     note=str(m.note or "").strip(), **m.model_dump(include=set(Runnable.model_fields)))


def _parse(raw: Any, file: Path) -> RegistryFile:
    reg = validate(RegistryFile, raw, file)
    for tid, t in reg.trained.items():  # a trained adapter may also be registered to run it: same category
        m = reg.models.get(tid)
        _check(m is None or ROLE_CATEGORY[m.role] == ROLE_CATEGORY[t.role], file, f"trained.{tid}",
               f"{tid!r} is also models.{tid} with role {m.role if m else ''!r}: one model, one category")
    return reg


def parse_models(raw: Any, file: Path) -> dict[str, ModelSpec]:
    """Validate the registry; every error names the file, the key path and the offending value."""
    reg = _parse(raw, file)
    out = {str(mid): _spec(str(mid), m, file) for mid, m in reg.models.items()}
    for spec in out.values():
        if spec.base is not None:
            _check(spec.base in out, file, f"models.{spec.id}.base", f"unknown base model {spec.base!r}")
    return out


@lru_cache(maxsize=8)
def load_trained(path: str | Path | None = None) -> dict[str, TrainedEntry]:
    """The ``trained:`` section: models a run trains (fine-tuned VLMs, closed-set baselines), by id."""
    file = Path(path) if path else MANIFEST_DIR / "models.yaml"
    return dict(_parse(load_yaml(file), file).trained)


def category(model_id: str, path: str | Path | None = None) -> str:
    """The category a model is reported under, from its role in models.yaml.

    ``baseline/...`` ids are the weight-free baselines. An id the registry does not know (a checkpoint folder,
    a test's made-up model) is reported as zero-shot, as an unknown model run on the benchmark would be.
    """
    if model_id.startswith(BASELINE_PREFIX):
        return "baseline"
    spec = load_models(path).get(model_id)
    if spec is not None:
        return ROLE_CATEGORY[spec.role]
    trained = load_trained(path).get(model_id)
    return ROLE_CATEGORY[trained.role] if trained is not None else "zero-shot"


@lru_cache(maxsize=8)
def load_models(path: str | Path | None = None) -> dict[str, ModelSpec]:
    file = Path(path) if path else MANIFEST_DIR / "models.yaml"
    return parse_models(load_yaml(file), file)


def get_model(model_id: str, path: str | Path | None = None) -> ModelSpec:
    models = load_models(path)
    if model_id not in models:
        file = Path(path) if path else MANIFEST_DIR / "models.yaml"
        by_hf = [m for m in models.values() if m.hf_id == model_id]
        if by_hf:
            return by_hf[0]
        raise ConfigError(file, "models", f"unknown model {model_id!r} (known: {', '.join(models)})")
    return models[model_id]


def local_overrides(path: Path = LOCAL_CONFIG) -> dict[str, str]:
    """``models: {id: path}`` from the untracked ``local.yaml`` (absent file -> no overrides)."""
    return dict(load_local(path).models)


def _is_checkpoint(p: Path) -> bool:
    return p.is_dir() and (p / "config.json").exists()


def _hf_cache_dir(hf_id: str, cache_dir: str | Path | None = None) -> Path | None:
    """Snapshot folder of ``hf_id`` in the local Hugging Face cache, without any network access."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub ships with transformers
        return None
    hit = try_to_load_from_cache(hf_id, "config.json", cache_dir=cache_dir)
    if isinstance(hit, str):
        return Path(hit).parent
    return None


def hf_cache_root() -> str:
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except ImportError:  # pragma: no cover
        return "~/.cache/huggingface/hub"


def find_weights(model: str | ModelSpec, local_config: Path = LOCAL_CONFIG,
                 cache_dir: str | Path | None = None) -> Path:
    """Local folder of a model's weights: local.yaml, then the registry's local_path, then the HF cache.

    ``model`` may also be a path to a checkpoint folder, which is returned as is.
    """
    if isinstance(model, str):
        p = Path(model)
        if _is_checkpoint(p):
            return p
        spec = get_model(model)
    else:
        spec = model
    searched: list[str] = []
    candidates = []
    override = local_overrides(local_config).get(spec.id)
    if override:
        candidates.append(("local.yaml", resolve(override)))
    if spec.local_path:
        candidates.append(("registry local_path", resolve(spec.local_path)))
    for label, p in candidates:
        if _is_checkpoint(p):
            return p
        searched.append(f"{label}: {p}")
    if spec.hf_id:
        hit = _hf_cache_dir(spec.hf_id, cache_dir)
        if hit is not None:
            return hit
        searched.append(f"HF cache {cache_dir or hf_cache_root()} for {spec.hf_id}")
    hint = "run `mammovqa models build-tiny`" if spec.id == "tiny-vlm" else (
        f"download {spec.hf_id} into the HF cache, or map it in {local_config} (models: {{{spec.id}: PATH}})")
    raise WeightsNotFound(f"no weights for model {spec.id!r}; searched: {'; '.join(searched) or 'nothing'}; {hint}")


def availability(spec: ModelSpec, local_config: Path = LOCAL_CONFIG) -> tuple[bool, str]:
    """(runnable here, where the weights are or why not) for ``models list``."""
    if not spec.native:
        return False, f"not native: run with its own code and import predictions ({spec.note or 'see docs/models.md'})"
    try:
        return True, str(find_weights(spec, local_config))
    except WeightsNotFound as exc:
        return False, str(exc)
