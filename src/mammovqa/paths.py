"""Every path the project reads or writes, derived from one root.

Why one module: notebooks, the CLI, Make and tests must agree on where a stage's
outputs live, and analysis code must never climb out with ``../``.
A *run* is one (source, profile, seed) combination; its name keys every output folder.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT: Path = Path(os.environ.get("MAMMOVQA_ROOT", Path(__file__).resolve().parents[2])).resolve()
MANIFEST_DIR: Path = ROOT / "data_manifest"
CONFIG_DIR: Path = ROOT / "configs"
NOTEBOOKS_DIR: Path = ROOT / "notebooks"
PAPER_DIR: Path = ROOT / "paper"
LABELS_DIR: Path = MANIFEST_DIR / "labels"
CHECKSUMS_DIR: Path = MANIFEST_DIR / "checksums"
LOCAL_CONFIG: Path = MANIFEST_DIR / "local.yaml"
LOCAL_MODELS_DIR: Path = ROOT / "models_local"


VARIANT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


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
    #: analysis variant (``MAMMOVQA_VARIANT``): a notebook re-run with other notebook parameters writes its
    #: tables, metrics, figures and variables under ``variants/<name>/`` and never over the run's own outputs,
    #: which the manuscript reads. Expensive outputs (data, predictions, training) are shared, never varied.
    variant: str = field(default_factory=lambda: os.environ.get("MAMMOVQA_VARIANT", ""))

    def __post_init__(self) -> None:
        if self.variant and not VARIANT_RE.fullmatch(self.variant):
            raise ValueError(f"variant name {self.variant!r}: use letters, digits, '.', '_' or '-' "
                             "(e.g. MAMMOVQA_VARIANT=margin3)")

    @property
    def name(self) -> str:
        return run_name(self.source, self.profile, self.seed)

    def _analysis(self, base: Path) -> Path:
        return base / "variants" / self.variant if self.variant else base

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
        return self._analysis(self.results / "metrics")

    @property
    def stats(self) -> Path:
        return self._analysis(self.results / "stats")

    @property
    def train(self) -> Path:
        return self.results / "train"

    @property
    def reports(self) -> Path:
        return self.results / "reports"

    @property
    def variables(self) -> Path:
        """Per-stage JSON files of the numbers the manuscript quotes."""
        return self._analysis(self.results / "vars")

    @property
    def tables(self) -> Path:
        return self._analysis(self.results / "tables")

    # ----- human-facing outputs
    @property
    def figures(self) -> Path:
        return self._analysis(self.root / "figures" / self.name)

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


_DATASET_REF = re.compile(r"^\{([A-Za-z0-9][A-Za-z0-9_.-]*)\}(?:/(.*))?$")


def portable_path(path: Path | str, roots: Mapping[str, Path | str] | None = None, root: Path = ROOT,
                  home: bool = False) -> str:
    """A path as stored in shared outputs: relative to the repository, or ``{DATASET}/rel`` under a dataset's
    folder (``roots``: dataset name -> local folder, as in data_manifest/local.yaml), else unchanged; with
    ``home``, a path left absolute under the user's home folder is written ``~/rel`` (model caches:
    ``~/.cache/huggingface/...``), which :func:`resolve` expands again.

    Why: records, manifests and provenance travel between machines and into papers; a path such as
    ``/home/alice/data/vindr/images/x.dicom`` leaks a user name and resolves nowhere else, while
    ``{VinDr-Mammo}/images/x.dicom`` names the dataset and resolves wherever local.yaml says it lives.
    """
    p = Path(path)
    if not p.is_absolute():
        return p.as_posix()
    by_depth = sorted(((Path(v), k) for k, v in (roots or {}).items()), key=lambda t: -len(str(t[0])))
    for base, name in [*by_depth, (root, None)]:  # a dataset folder inside the repository keeps its name
        for b in {base, base.resolve()}:
            try:
                rel = p.relative_to(b).as_posix()
            except ValueError:
                continue
            if name is None:
                return rel
            return f"{{{name}}}" + (f"/{rel}" if rel not in ("", ".") else "")
    return _under_home(p) if home else p.as_posix()


def _home_folders() -> list[Path]:
    """The user's home folder as written and resolved; none when it is the file-system root (some containers)."""
    try:
        home = Path.home()
    except RuntimeError:  # no HOME and no passwd entry
        return []
    return [h for h in dict.fromkeys((home, home.resolve())) if h != Path(h.anchor)]


def _under_home(p: Path) -> str:
    for h in _home_folders():
        try:
            return "~/" + p.relative_to(h).as_posix()
        except ValueError:
            continue
    return p.as_posix()


def portable(obj: Any, roots: Mapping[str, Path | str] | None = None, root: Path = ROOT, home: bool = False) -> Any:
    """``obj`` (JSON-like) with every absolute path string under the repository or a dataset folder (with ``home``:
    or the home folder) made portable."""
    if isinstance(obj, str):
        return portable_path(obj, roots, root, home) if obj.startswith("/") else obj
    if isinstance(obj, dict):
        return {k: portable(v, roots, root, home) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [portable(v, roots, root, home) for v in obj]
    return obj


def portable_text(text: str, root: Path = ROOT) -> str:
    """Free text (an error message, a reason stored in a manifest) with the repository folder left out of every
    path inside it and the home folder written ``~``.

    Why: such text is written by code that knows only machine paths ("map it in /home/alice/repo/data_manifest/
    local.yaml", "searched /home/alice/.cache/huggingface/hub"); the manifest that keeps it travels like every other
    output. The repository is replaced first, so a repository inside the home folder reads ``data_manifest/...``.
    """
    bases = [(b, "") for b in dict.fromkeys((Path(root), Path(root).resolve())) if b != Path(b.anchor)]
    for base, repl in [*bases, *((h, "~/") for h in _home_folders())]:
        text = re.sub(r"(?<![\w.~/-])" + re.escape(base.as_posix().rstrip("/") + "/"), repl, text)
    return text


def dataset_roots() -> dict[str, Path]:
    """Dataset folders from data_manifest/local.yaml (empty when there is none): resolves ``{DATASET}/...``."""
    from .config import load_local  # config imports this module: imported when called

    out = {}
    for name, folder in load_local(LOCAL_CONFIG).datasets.items():
        if folder:
            q = Path(str(folder)).expanduser()
            out[str(name)] = q if q.is_absolute() else ROOT / q
    return out


def resolve(path: str | Path, root: Path = ROOT, roots: Mapping[str, Path | str] | None = None) -> Path:
    """The local file of a stored path: repository-relative, ``{DATASET}/rel`` (via ``roots`` or local.yaml),
    ``~/rel`` under the home folder, or absolute. An unknown dataset raises ``KeyError`` naming it, so a missing
    local.yaml entry is not silent."""
    m = _DATASET_REF.match(str(path))
    if m:
        known = dict(roots) if roots is not None else dataset_roots()
        key = next((k for k in known if k.lower() == m.group(1).lower()), None)
        if key is None:
            raise KeyError(f"{path}: dataset {m.group(1)!r} has no folder in data_manifest/local.yaml")
        return Path(known[key]) / (m.group(2) or "")
    if str(path).startswith("~/"):
        return Path(path).expanduser()
    p = Path(path)
    return p if p.is_absolute() else root / p
