"""Training recipes as validated YAML (configs/train/*.yaml): the paper's recipe is configuration, not code.

``Recipe`` is a pydantic dataclass (``mammovqa.schema``): the file's keys and types are checked on load (unknown
keys rejected, numbers written as strings such as ``2e-5`` read as numbers), and ``dataclasses.replace`` still
works for derived recipes (the report grid, profile caps).
"""

from __future__ import annotations

from dataclasses import field
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, StrictBool
from pydantic.dataclasses import dataclass

from ..config import load_yaml
from ..errors import ConfigError
from ..paths import CONFIG_DIR
from ..schema import validate


@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class Recipe:
    name: str
    base_model: str
    method: Literal["lora", "full"]
    train_splits: tuple[str, ...] = ("train",)
    levels: tuple[str, ...] = ("image", "exam")
    validation_split: str = "val"
    target: Literal["option_text"] = "option_text"  # the only target implemented (the paper's)
    epochs: float = 1
    effective_batch_size: int = 16
    per_device_batch_size: int = 1
    learning_rate: float = 2e-5
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    bf16: StrictBool = False
    gradient_checkpointing: StrictBool = False
    max_length: int = 2048
    save_steps: int = 500
    eval_steps: int = 500
    logging_steps: int = 10
    max_new_tokens: int = 16
    cache_encodings: StrictBool = False
    lora: dict[str, Any] = field(default_factory=dict)
    freeze: tuple[str, ...] = ()
    source: str = ""  # set by load_recipe: the file the recipe came from

    @property
    def gradient_accumulation(self) -> int:
        return max(1, self.effective_batch_size // self.per_device_batch_size)


LORA_KEYS = ("r", "alpha", "dropout", "target_modules")


def load_recipe(path: str | Path) -> Recipe:
    """A recipe file (absolute, relative to the working directory, or a name in configs/train/), validated."""
    path = Path(path)
    if not path.is_absolute() and not path.exists():
        path = CONFIG_DIR / "train" / path
    raw = load_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(path, "<root>", "expected a mapping")
    if "source" in raw:
        raise ConfigError(path, "source", "unknown recipe key (set by the loader: the recipe's own file)")
    recipe = validate(Recipe, {**raw, "source": str(path)}, path, what="recipe", hidden=("source",))
    if recipe.method == "lora":
        for key in LORA_KEYS:
            if key not in recipe.lora:
                raise ConfigError(path, f"lora.{key}", "missing required key for method 'lora'")
    return recipe
