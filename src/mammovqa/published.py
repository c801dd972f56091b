"""The published headline numbers (``paper/published.yaml``): loading them, and setting a run's values beside them.

Why its own small module: the manuscript quotes these numbers, and the stages compare with them (the report
stage prints AMRG's four beside its own; the pipeline writes the published-vs-reproduced table). Both read them
here, below the stages, so no stage imports the manuscript builder.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from .errors import MammoVQAError


class PublishedError(MammoVQAError):
    """``published.yaml`` is inconsistent, or a value is offered for a quantity it does not list."""


def load_published(path: Path) -> dict[str, dict[str, Any]]:
    """The published headline numbers, keyed by quantity; each entry has value, label, unit and source."""
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    sources = raw.get("sources", {})
    out: dict[str, dict[str, Any]] = {}
    for key, entry in (raw.get("quantities") or {}).items():
        if entry.get("source") not in sources:
            raise PublishedError(f"{path}: quantity {key!r} names unknown source {entry.get('source')!r}")
        out[str(key)] = {**entry, "source_text": sources[entry["source"]]}
    return out


def published_variables(path: Path) -> dict[str, str]:
    """Published numbers as manuscript variables ``published_<key>``, printed as the paper printed them."""
    if not Path(path).exists():
        return {}
    return {f"published_{k}": str(e.get("text", e["value"])) for k, e in load_published(path).items()}


def published_vs_reproduced(published_yaml: str | Path, reproduced: dict[str, float], source_label: str,
                            synthetic: bool | None = None):
    """One row per published headline number (indexed by its key): published, reproduced, difference, source.

    ``synthetic`` (default: the label mentions synthetic or phantom data) makes it a *pipeline check*: the
    column is named ``this run (synthetic)`` and there is no difference column, because a phantom value
    beside a real-data value is neither a reproduction nor a contradiction (a small difference would read as a
    successful reproduction).

    A key the file does not know is an error (a typo would otherwise vanish silently); a quantity not
    reproduced gets NaN, so the table always shows every published claim.
    """
    import pandas as pd

    published = load_published(Path(published_yaml))
    unknown = sorted(set(reproduced) - set(published))
    if unknown:
        raise PublishedError(f"reproduced values for quantities not in {published_yaml}: {unknown}")
    rows = []
    for key, entry in published.items():
        pub = float(entry["value"])
        rep = reproduced.get(key)
        rep_f = float(rep) if rep is not None and not math.isnan(float(rep)) else math.nan
        rows.append({
            "quantity": entry.get("label", key), "key": key, "unit": entry.get("unit", ""),
            "published": pub, "reproduced": rep_f, "difference": rep_f - pub,
            "published_source": entry["source_text"],
            "reproduced_source": source_label if not math.isnan(rep_f) else "not reproduced",
        })
    df = pd.DataFrame(rows, columns=["quantity", "key", "unit", "published", "reproduced", "difference",
                                     "published_source", "reproduced_source"])
    # The manuscript prints this table: no identifier column (unbreakable snake_case overprints its neighbours)
    # and no per-row copy of this run's label (the table note says it); "not reproduced" stays visible as NaN.
    df = df.drop(columns=["key", "reproduced_source"]).set_index(pd.Index(df["key"], name=None))
    if synthetic is None:
        synthetic = any(w in source_label.lower() for w in ("synthetic", "phantom"))
    if synthetic:
        df = df.drop(columns=["difference"]).rename(columns={"reproduced": "this run (synthetic)"})
    return df
