"""Training recipes as validated YAML (configs/train/*.yaml): the paper's recipe is configuration, not code."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..config import load_yaml
from ..errors import ConfigError
from ..paths import CONFIG_DIR


@dataclass(frozen=True)
class Recipe:
    name: str
    base_model: str
    method: str  # lora | full
    train_splits: tuple[str, ...] = ("train",)
    levels: tuple[str, ...] = ("image", "exam")
    validation_split: str = "val"
    target: str = "option_text"
    epochs: float = 1
    effective_batch_size: int = 16
    per_device_batch_size: int = 1
    learning_rate: float = 2e-5
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    bf16: bool = False
    gradient_checkpointing: bool = False
    max_length: int = 2048
    save_steps: int = 500
    eval_steps: int = 500
    logging_steps: int = 10
    max_new_tokens: int = 16
    cache_encodings: bool = False
    lora: dict[str, Any] = field(default_factory=dict)
    freeze: tuple[str, ...] = ()
    source: str = ""

    @property
    def gradient_accumulation(self) -> int:
        return max(1, self.effective_batch_size // self.per_device_batch_size)


def load_recipe(path: str | Path) -> Recipe:
    path = Path(path)
    if not path.is_absolute() and not path.exists():
        path = CONFIG_DIR / "train" / path
    raw = load_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(path, "<root>", "expected a mapping")
    known = {f.name for f in fields(Recipe)} - {"source"}
    for key in raw:
        if key not in known:
            raise ConfigError(path, key, f"unknown recipe key (known: {', '.join(sorted(known))})")
    for key in ("name", "base_model", "method"):
        if key not in raw:
            raise ConfigError(path, key, "missing required key")
    if raw["method"] not in ("lora", "full"):
        raise ConfigError(path, "method", f"expected 'lora' or 'full', got {raw['method']!r}")
    if raw["method"] == "lora":
        for key in ("r", "alpha", "dropout", "target_modules"):
            if key not in (raw.get("lora") or {}):
                raise ConfigError(path, f"lora.{key}", "missing required key for method 'lora'")
    if raw.get("target", "option_text") != "option_text":
        raise ConfigError(path, "target", f"only 'option_text' is implemented, got {raw['target']!r}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
    for key in ("learning_rate", "warmup_ratio", "weight_decay", "epochs"):
        if key in values:
            try:
                values[key] = float(values[key])
            except (TypeError, ValueError):
                raise ConfigError(path, key, f"expected a number, got {values[key]!r}") from None
    return Recipe(**values, source=str(path))
