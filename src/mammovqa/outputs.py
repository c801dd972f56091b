"""Writers for what people and the manuscript read: tables (CSV + Markdown) and manuscript variables.

Why here: every stage writes these the same way (atomically, deterministically), and the paper build reads
variables only through this module's files, so every number in the text has exactly one producer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from .io import write_json_atomic, write_text_atomic
from .paths import RunPaths

PHANTOM_NOTE = "Synthetic phantom data, not real mammograms."


def data_note(source: str, datasets_used: list[str] | None = None) -> str:
    """The plain-words label every caption and table carries."""
    if source == "phantom":
        return PHANTOM_NOTE
    used = ", ".join(datasets_used or [])
    return f"Real data ({used})." if used else "Real data."


def write_table(df: pd.DataFrame, path_stem: str | Path, float_digits: int = 2, note: str | None = None) -> tuple[Path, Path]:
    """CSV (full precision) and Markdown (rounded, with an optional note line) side by side."""
    stem = Path(path_stem)
    csv_path, md_path = stem.with_suffix(".csv"), stem.with_suffix(".md")
    write_text_atomic(csv_path, df.to_csv(index=False, lineterminator="\n"))
    md = df.to_markdown(index=False, floatfmt=f".{float_digits}f")
    if note:
        md += f"\n\n*{note}*\n"
    write_text_atomic(md_path, md + ("" if md.endswith("\n") else "\n"))
    return csv_path, md_path


def fmt_number(value: float | int | None, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}f}"


def write_variables(run: RunPaths, stage: str, values: dict[str, Any]) -> Path:
    """Numbers the manuscript quotes, one JSON file per stage (``results/<run>/vars/<stage>.json``).

    Keys are ``<stage>_<name>``; values are already formatted strings, so the text shows exactly the file.
    """
    bad = [k for k in values if not k.replace("_", "").isalnum()]
    if bad:
        raise ValueError(f"variable names must be alphanumeric/underscore: {bad}")
    path = run.variables / f"{stage}.json"
    out = {f"{stage}_{k}": (v if isinstance(v, str) else json.dumps(v)) for k, v in sorted(values.items())}
    write_json_atomic(path, out)
    return path


def read_variables(run: RunPaths) -> dict[str, str]:
    out: dict[str, str] = {}
    if run.variables.exists():
        for p in sorted(run.variables.glob("*.json")):
            out.update(json.loads(p.read_text(encoding="utf-8")))
    return out
