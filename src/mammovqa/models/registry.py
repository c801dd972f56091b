"""The model registry (``data_manifest/models.yaml``) and weight lookup.

Why a registry: the paper compares twelve models run by very different code; the registry records, per model,
whether our transformers adapter runs it (``native``) or its predictions are imported, what family of adapter it
needs and whether it may see all images of an exam. Weight lookup never touches the network: a local path
(registry or ``local.yaml``) or the Hugging Face cache, and a clear error naming everything searched otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..config import load_yaml
from ..errors import ConfigError, MammoVQAError
from ..paths import LOCAL_CONFIG, MANIFEST_DIR, resolve

FAMILIES = ("llava", "llava_next", "qwen2_5_vl", "internvl", "gemma3", "blip2", "instructblip", "phi3_v", "external")
ROLES = ("zero-shot", "finetune-base", "report", "offline", "adapter")
DTYPES = ("bfloat16", "float16", "float32")
CHAT = ("processor", "none")
_KEYS = {"name", "hf_id", "local_path", "family", "multi_image", "dtype", "chat_template", "native", "role", "base",
         "adapter_of", "note"}


class WeightsNotFound(MammoVQAError):
    """No weights for a model: names the model id and every place searched."""


@dataclass(frozen=True)
class ModelSpec:
    id: str
    name: str
    family: str
    multi_image: bool
    native: bool
    role: str
    hf_id: str | None = None
    local_path: str | None = None
    dtype: str = "bfloat16"
    chat_template: str = "processor"
    base: str | None = None  # for LoRA adapters: the registry id of the base model
    note: str = ""


def _check(cond: bool, file: Path, key: str, msg: str) -> None:
    if not cond:
        raise ConfigError(file, key, msg)


def parse_models(raw: Any, file: Path) -> dict[str, ModelSpec]:
    """Validate the registry; every error names the file, the key path and the offending value."""
    _check(isinstance(raw, dict), file, "<root>", f"expected a mapping, got {type(raw).__name__}")
    for k in raw:
        _check(k in ("schema", "models"), file, str(k), f"unknown key {k!r} (allowed: models, schema)")
    models = raw.get("models")
    _check(isinstance(models, dict) and bool(models), file, "models", f"expected a non-empty mapping, got {models!r}")
    out: dict[str, ModelSpec] = {}
    for mid, m in models.items():
        w = f"models.{mid}"
        _check(isinstance(m, dict), file, w, f"expected a mapping, got {m!r}")
        for k in m:
            _check(k in _KEYS, file, f"{w}.{k}", f"unknown key {k!r} (allowed: {', '.join(sorted(_KEYS))})")
        for k in ("family", "multi_image", "native", "role"):
            _check(k in m, file, f"{w}.{k}", "missing required key")
        _check(m["family"] in FAMILIES, file, f"{w}.family", f"unknown family {m['family']!r} ({', '.join(FAMILIES)})")
        _check(m["role"] in ROLES, file, f"{w}.role", f"unknown role {m['role']!r} ({', '.join(ROLES)})")
        for k in ("multi_image", "native"):
            _check(isinstance(m[k], bool), file, f"{w}.{k}", f"expected true/false, got {m[k]!r}")
        dtype = m.get("dtype", "bfloat16")
        _check(dtype in DTYPES, file, f"{w}.dtype", f"unknown dtype {dtype!r} ({', '.join(DTYPES)})")
        chat = m.get("chat_template", "processor")
        _check(chat in CHAT, file, f"{w}.chat_template", f"expected one of {CHAT}, got {chat!r}")
        for k in ("hf_id", "local_path", "base", "adapter_of"):
            _check(m.get(k) is None or isinstance(m[k], str), file, f"{w}.{k}", f"expected a string, got {m.get(k)!r}")
        base = m.get("base") or m.get("adapter_of")
        if m["native"]:
            _check(m["family"] != "external", file, f"{w}.native", "a native model needs a transformers family")
            _check(bool(m.get("hf_id") or m.get("local_path")), file, f"{w}.hf_id",
                   "a native model needs hf_id or local_path")
        if m["role"] == "adapter":
            _check(bool(base), file, f"{w}.base", "an adapter needs 'base' (the registry id of its base model)")
        out[str(mid)] = ModelSpec(id=str(mid), name=str(m.get("name", mid)), family=m["family"],
                                  multi_image=m["multi_image"], native=m["native"], role=m["role"],
                                  hf_id=m.get("hf_id"), local_path=m.get("local_path"), dtype=dtype,
                                  chat_template=chat, base=base, note=str(m.get("note", "")).strip())
    for spec in out.values():
        if spec.base is not None:
            _check(spec.base in out, file, f"models.{spec.id}.base", f"unknown base model {spec.base!r}")
    return out


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
    if not Path(path).exists():
        return {}
    raw = load_yaml(path) or {}
    models = raw.get("models", {}) if isinstance(raw, dict) else None
    if not isinstance(models, dict):
        raise ConfigError(path, "models", f"expected a mapping of model id -> path, got {models!r}")
    return {str(k): str(v) for k, v in models.items()}


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
