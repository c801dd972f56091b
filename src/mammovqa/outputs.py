"""Writers for what people and the manuscript read: tables (CSV + Markdown) and manuscript variables.

Why here: every stage writes these the same way (atomically, deterministically), and the paper build reads
variables only through this module's files, so every number in the text has exactly one producer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from .io import write_bytes_atomic, write_json_atomic, write_text_atomic
from .paths import RunPaths

PHANTOM_NOTE = "Synthetic phantom data, not real mammograms."


def data_note(source: str, datasets_used: list[str] | None = None, datasets_absent: list[str] | None = None) -> str:
    """The plain-words label every caption and table carries: what data, and (real runs) which datasets were
    not available, so a reader never mistakes a partial run for the whole benchmark."""
    if source == "phantom":
        return PHANTOM_NOTE
    used = ", ".join(datasets_used or [])
    note = f"Real data ({used})." if used else "Real data."
    absent = sorted(set(datasets_absent or []) - set(datasets_used or []))
    return note + (f" Not available to this run: {', '.join(absent)}." if absent else "")


# ------------------------------------------------------------------ what a dataset's terms allow us to show


def _dataset_of(name: str) -> Any:
    """The ``datasets.yaml`` entry of a dataset or sub-dataset name (``VinDr-Mammo-finding`` -> VinDr-Mammo)."""
    from .config import load_datasets
    from .errors import ConfigError

    ds = load_datasets()
    try:
        return ds.get(name)
    except ConfigError:
        pass
    for d in (*ds.real.values(), *ds.phantom.values()):
        if any(p.name.lower() == name.lower() for p in d.parts.values()):
            return d
    return None


def may_show(dataset: str, what: str = "images") -> bool:
    """May images (``what="images"``) or report text (``"report"``) of ``dataset`` appear in published outputs?

    Why: a manuscript, a gallery figure or an executed notebook is a redistribution of what it shows, and
    several datasets' terms forbid that (``redistributable: false`` in data_manifest/datasets.yaml, each with
    its ``terms_source``). Phantom data is ours. An unknown name is not shown: when in doubt, leave it out.
    """
    if what not in ("images", "report"):
        raise ValueError(f"what must be 'images' or 'report', got {what!r}")
    d = _dataset_of(dataset)
    return bool(d is not None and d.redistributable)


def withheld_note(datasets: list[str] | set[str]) -> str:
    """The sentence that replaces what was left out; empty when nothing was."""
    names = sorted(set(datasets))
    if not names:
        return ""
    return (f"Images and report text of {', '.join(names)} are not shown: "
            "the dataset terms do not allow redistribution (data_manifest/datasets.yaml).")


def notice_tile(path: str | Path, text: str = "not shown\n(dataset terms)", size: int = 256) -> Path:
    """A grey placeholder PNG that stands in for an image we may not show (deterministic bytes)."""
    import io as _io

    from PIL import Image, ImageDraw

    img = Image.new("L", (size, size), 96)
    draw = ImageDraw.Draw(img)
    draw.multiline_text((size // 2, size // 2), text, fill=235, anchor="mm", align="center")
    buf = _io.BytesIO()
    img.save(buf, format="PNG")
    write_bytes_atomic(path, buf.getvalue())
    return Path(path)


def redact_images(objs: list[Any], tile: str | Path) -> tuple[list[Any], list[str]]:
    """Objects with ``.dataset`` and ``.images`` (records, QA items) whose images of restricted datasets are
    replaced by ``tile``, and the sorted names of the datasets withheld. Labels and questions stay: they are
    the protocol's words, not the dataset's content; a report is cleared too.
    """
    import dataclasses

    out, withheld = [], set()
    for obj in objs:
        if may_show(obj.dataset, "images"):
            out.append(obj)
            continue
        withheld.add(obj.dataset)
        changes: dict[str, Any] = {"images": [str(tile)] * max(1, len(obj.images))}
        if getattr(obj, "report", None):
            changes["report"] = None
        out.append(dataclasses.replace(obj, **changes))
    return out, sorted(withheld)


def redact_report_rows(rows: list[dict[str, Any]], text_keys: tuple[str, ...] = ("reference", "report")
                       ) -> tuple[list[dict[str, Any]], list[str]]:
    """Report rows (``dataset``, or a record id ``<sub-dataset>/<n>`` in ``id``) with the dataset's own report
    text replaced by a note where its terms forbid redistribution; and the datasets withheld (sorted)."""
    out, withheld = [], set()
    for row in rows:
        ds = str(row.get("dataset") or str(row.get("id", "")).split("/")[0])
        if may_show(ds, "report"):
            out.append(row)
            continue
        withheld.add(ds)
        out.append({**row, **{k: "[not shown: dataset terms]" for k in text_keys if k in row}})
    return out, sorted(withheld)


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
