"""Every path the project reads or writes, derived from one root.

Why one module: notebooks, the CLI, Make and tests must agree on where a stage's
outputs live, and analysis code must never climb out with ``../``.
A *run* is one (source, profile, seed) combination; its name keys every output folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROOT: Path = Path(os.environ.get("MAMMOVQA_ROOT", Path(__file__).resolve().parents[2])).resolve()
MANIFEST_DIR: Path = ROOT / "data_manifest"
CONFIG_DIR: Path = ROOT / "configs"
NOTEBOOKS_DIR: Path = ROOT / "notebooks"
PAPER_DIR: Path = ROOT / "paper"
LABELS_DIR: Path = MANIFEST_DIR / "labels"
CHECKSUMS_DIR: Path = MANIFEST_DIR / "checksums"
LOCAL_CONFIG: Path = MANIFEST_DIR / "local.yaml"
LOCAL_MODELS_DIR: Path = ROOT / "models_local"


def run_name(source: str = "phantom", profile: str = "default", seed: int = 0) -> str:
    """Name of a run folder; the seed appears only when it is not the default so common paths stay short."""
    return f"{source}-{profile}" + (f"-s{seed}" if int(seed) != 0 else "")


@dataclass(frozen=True)
class RunPaths:
    """All output locations of one run (source x profile x seed)."""

    source: str = "phantom"
    profile: str = "default"
    seed: int = 0
    root: Path = ROOT

    @property
    def name(self) -> str:
        return run_name(self.source, self.profile, self.seed)

    # ----- benchmark data
    @property
    def data(self) -> Path:
        return self.root / "data" / self.name

    @property
    def images(self) -> Path:
        return self.data / "images"

    @property
    def records(self) -> Path:
        return self.data / "records.jsonl"

    @property
    def qa_dir(self) -> Path:
        return self.data / "qa"

    @property
    def qa_items(self) -> Path:
        return self.qa_dir / "items.jsonl"

    def official_json(self, level: str, split: str) -> Path:
        """Official MammoVQA layout export, e.g. ``MammoVQA-Image-Bench.json``."""
        names = {"train": "Train", "val": "Eval", "test": "Bench", "external": "External"}
        return self.qa_dir / f"MammoVQA-{level.capitalize()}-{names[split]}.json"

    # ----- results
    @property
    def results(self) -> Path:
        return self.root / "results" / self.name

    def predictions(self, model: str, split: str, level: str) -> Path:
        return self.results / "predictions" / safe_name(model) / f"{split}_{level}.jsonl"

    @property
    def metrics(self) -> Path:
        return self.results / "metrics"

    @property
    def stats(self) -> Path:
        return self.results / "stats"

    @property
    def train(self) -> Path:
        return self.results / "train"

    @property
    def reports(self) -> Path:
        return self.results / "reports"

    @property
    def variables(self) -> Path:
        """Per-stage JSON files of the numbers the manuscript quotes."""
        return self.results / "vars"

    @property
    def tables(self) -> Path:
        return self.results / "tables"

    # ----- human-facing outputs
    @property
    def figures(self) -> Path:
        return self.root / "figures" / self.name

    @property
    def executed(self) -> Path:
        return self.root / "notebooks" / "executed" / self.name

    @property
    def paper_build(self) -> Path:
        return self.root / "paper" / "_build" / self.name


def safe_name(model_id: str) -> str:
    """File-system-safe form of a model id (``org/name`` -> ``org__name``)."""
    return model_id.replace("/", "__").replace(":", "_")


def relative_to_root(path: Path | str, root: Path = ROOT) -> str:
    """Paths stored in JSONL are relative to the repository root so a clone elsewhere still resolves them."""
    p = Path(path).resolve()
    try:
        return p.relative_to(root).as_posix()
    except ValueError:
        return p.as_posix()


def resolve(path: str | Path, root: Path = ROOT) -> Path:
    p = Path(path)
    return p if p.is_absolute() else root / p
