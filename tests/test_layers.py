"""The package's layer order, checked on the import graph (docs/architecture.md, "Layers").

Why a test: an upward import is cheap to write and expensive to live with (cycles, a data reader that drags in
matplotlib, a stage that cannot be understood without the whole package). The graph is read with ``ast`` from the
source, so it sees every import, module level and inside functions, without importing anything. An upward
import fails here (the last known ones, benchmark building in data/ and published numbers read through the paper
builder, were removed in issue 15).
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = "mammovqa"
SRC = Path(__file__).resolve().parents[1] / "src" / PKG

# Lowest first. A module may import its own layer and any layer below, never one above.
LAYERS: tuple[str, ...] = ("base", "data", "qa", "models/train", "eval", "stats", "viz", "stages", "paper",
                           "cli", "main")

# Module (dotted name without the "mammovqa." prefix) -> layer; the longest matching prefix wins.
PREFIX_LAYER: dict[str, str] = {
    "": "base",  # mammovqa/__init__.py
    "errors": "base", "config": "base", "io": "base", "paths": "base", "seeding": "base", "schema": "base",
    "runargs": "base",
    "budgets": "base",       # per-profile stage budgets (configs/profiles.yaml)       # the --source/--profile/--seed arguments every sub-command shares
    "published": "base",     # the published headline numbers: quoted by the paper, compared with by the stages
    "outputs": "base",       # tables and manuscript variables: written by stages, read by the paper
    "predictions": "base",   # the prediction-file format: written by models, read by eval
    "data": "data",
    "qa": "qa",
    "report.parse": "qa", "report.grammar": "qa",  # report text: the report wing's counterpart of qa
    "report.data": "qa",
    "models": "models/train", "train": "models/train", "report.train": "models/train",
    "eval": "eval", "report.baselines": "eval",
    "stats": "stats",
    "viz": "viz",
    "benchmark": "stages",  # the benchmark build: records -> images -> QA items -> official JSON
    "pipeline": "stages", "analysis": "stages", "realcheck": "stages", "report.stage": "stages",
    "export": "stages",  # writes a run's benchmark in other formats
    "report": "stages",  # report/__init__.py
    "paper": "paper",
    "notebook_pages": "paper",  # publishes a run's executed notebooks as HTML under docs/
    "cli": "main",  # the top-level parser; every sub-command module below it
}
# Command-line modules of sub-packages (their parsers): above everything they call, below the top-level cli.
CLI_MODULES = ("data.cli", "data.prepare_cli", "data.sources.cli", "eval.cli", "export.cli", "models.cli",
               "report.cli", "stats.cli", "train.cli")



def module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _resolve(importer: str, is_pkg: bool, node: ast.ImportFrom) -> str | None:
    """Absolute dotted name (without the package prefix) a ``from ... import`` starts from; None if external."""
    if node.level == 0:
        mod = node.module or ""
        if mod != PKG and not mod.startswith(PKG + "."):
            return None
        return mod[len(PKG) + 1:] if mod != PKG else ""
    base = importer.split(".") if importer else []
    if not is_pkg:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
    return ".".join([*base, *([node.module] if node.module else [])]).strip(".")


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every package module ``name`` imports (module level and inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PKG or alias.name.startswith(PKG + "."):
                    out.add(alias.name[len(PKG) + 1:] if alias.name != PKG else "")
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(name, is_pkg, node)
            if base is None:
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}" if base else alias.name
                out.add(sub if sub in modules else base)
    out.discard(name)
    return {m for m in out if m in modules}


def layer_of(name: str) -> str:
    if name in CLI_MODULES:
        return "cli"
    best = max((p for p in PREFIX_LAYER if p == "" or name == p or name.startswith(p + ".")), key=len)
    return PREFIX_LAYER[best]


def rank(name: str) -> int:
    return LAYERS.index(layer_of(name))


def import_graph() -> dict[str, set[str]]:
    modules = all_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def upward_imports(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    return {(a, b) for a, deps in graph.items() for b in deps if rank(b) > rank(a)}


def test_every_layer_name_is_known() -> None:
    assert set(PREFIX_LAYER.values()) | {"cli"} <= set(LAYERS)
    assert all(m in all_modules() for m in CLI_MODULES), "a CLI_MODULES entry names no module"


def test_graph_reader_sees_function_level_and_relative_imports() -> None:
    # The graph must be able to fail: these imports exist today and are of each kind the reader handles.
    graph = import_graph()
    assert "io" in graph["outputs"]                 # module level, relative
    assert "benchmark" in graph["data.cli"]         # inside a function, relative from a sub-package
    assert layer_of("data.sources.mias") == "data" and layer_of("cli") == "main"
    assert rank("viz.results") > rank("eval.metrics") > rank("qa.items") > rank("data.records")


def test_no_new_upward_import() -> None:
    new = sorted(upward_imports(import_graph()))
    lines = [f"{a} ({layer_of(a)}) imports {b} ({layer_of(b)})" for a, b in new]
    assert not new, ("imports that go up the layer order " + " > ".join(LAYERS) + ":\n  " + "\n  ".join(lines)
                     + "\nMove the shared code down a layer (or the importer up); see docs/architecture.md.")

