"""Data audit: per dataset, what the reader read, withheld, dropped and merged, from a reader's ``summary``.

Why a separate, dependency-free module: the same audit goes to stderr, into the build manifest
(``source_summary.data_audit``) and into the notebook/manuscript table, so it is computed once from the reader
summary and never re-derived by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def data_audit(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The audit dict of one reader summary: records read, labels withheld by reason (no label-map entry),
    deliberate exclusions by reason (a label or a row the label map or the reader leaves out on purpose),
    records dropped by reason, duplicate rows merged/conflicting, and which patient key was used."""
    withheld: dict[str, int] = {}
    for w in summary.get("withheld", []):
        reason = f"{w['topic']} {w['value']!r}: {w.get('why') or 'no label-map entry'}"
        withheld[reason] = withheld.get(reason, 0) + int(w["count"])
    dropped = dict(summary.get("dropped", {}))
    if summary.get("missing_images"):
        dropped["image missing"] = int(summary["missing_images"])
    dup = summary.get("duplicate_rows", {})
    return {
        "records_read": int(summary.get("records", 0)),
        "labels_withheld": dict(sorted(withheld.items())),
        "excluded": dict(summary.get("exclusions", {})),
        "records_dropped": dict(sorted(dropped.items())),
        "duplicates": {"rows_merged": int(dup.get("merged", 0)), "rows_conflicting": int(dup.get("conflicting", 0)),
                       "images_under_two_names": len(summary.get("duplicates", []))},
        "patient_keys": dict(summary.get("patient_keys", {})),
        "withheld_detail": [dict(w) for w in summary.get("withheld", [])],
    }


def audit_rows(audits: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """DataFrame-ready rows (``pandas.DataFrame(audit_rows(...))``): one per dataset and counted item.

    Columns: dataset, category (read / withheld / excluded / dropped / duplicates), reason, count.
    """
    rows: list[dict[str, Any]] = []
    for name, a in sorted(audits.items()):
        rows.append({"dataset": name, "category": "read", "reason": "records read", "count": a["records_read"]})
        for category, key in (("withheld", "labels_withheld"), ("excluded", "excluded"),
                              ("dropped", "records_dropped")):
            for reason, n in sorted(_section(a, key).items()):
                rows.append({"dataset": name, "category": category, "reason": reason, "count": int(n)})
        for reason, n in sorted(a.get("duplicates", {}).items()):
            if n:
                rows.append({"dataset": name, "category": "duplicates", "reason": reason, "count": int(n)})
    return rows


def _section(audit: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """One reason -> count section of an audit; ``excluded`` was written ``labels_excluded`` by earlier builds,
    so a manifest from before the rename still shows its exclusions instead of silently dropping them."""
    if key == "excluded" and key not in audit:
        return audit.get("labels_excluded", {})
    return audit.get(key, {})


def audit_lines(name: str, summary: Mapping[str, Any]) -> list[str]:
    """Short stderr lines for one dataset: each withheld value (count and first rows), each deliberate exclusion
    reason (the label-map entries with a null target, e.g. CBIS-DDSM subtlety 0), drops and duplicates."""
    out = []
    for w in summary.get("withheld", []):
        out.append(f"{name}: {w['count']} {w['topic']} label(s) withheld for value {w['value']!r} "
                   f"({w.get('why') or 'no label-map entry'}) in {w['file']}, first rows {w['rows']}")
    for reason, n in sorted(summary.get("exclusions", {}).items()):
        out.append(f"{name}: {n} excluded on purpose: {reason}")
    for reason, n in sorted(summary.get("dropped", {}).items()):
        out.append(f"{name}: {n} record(s) dropped: {reason}")
    dup = summary.get("duplicate_rows", {})
    if dup.get("merged") or dup.get("conflicting"):
        out.append(f"{name}: {dup.get('merged', 0)} identical duplicate row(s) merged, "
                   f"{dup.get('conflicting', 0)} conflicting duplicate(s) (first row kept; both in the summary)")
    return out


def audit_table(audits: Mapping[str, Mapping[str, Any]]) -> Any:
    """``audit_rows`` as a DataFrame; a run that read no raw label file (the phantom) gets one row saying so,
    so the manuscript's table is never an empty grid."""
    import pandas as pd

    rows = audit_rows(audits) or [{"dataset": "(none)", "category": "read",
                                   "reason": "no raw label files were read (phantom run)", "count": 0}]
    return pd.DataFrame(rows, columns=["dataset", "category", "reason", "count"])
