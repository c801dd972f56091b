"""The report-generation dataset: one row per image with its reference report, split by patient.

Why patient-grouped: two images of one patient share anatomy and often the report text; splitting them across
train and test would let retrieval baselines and fine-tuned models score by memory. The split is seeded and the
rows carry a checksum of the data they were built from, so a result names the exact references it used.
Unparseable references are kept and listed (``problems``), never dropped, so the excluded counts of the
clinical metrics can be traced back to the report that caused them.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data.records import Record
from ..io import dumps, provenance, read_jsonl, write_json_atomic, write_jsonl_atomic
from .grammar import write_phantom_reports
from .parse import parse_report

SPLIT_RATIOS: tuple[float, float, float] = (0.7, 0.1, 0.2)
SPLITS: tuple[str, str, str] = ("train", "val", "test")
ENCODINGS: tuple[str, ...] = ("utf-8", "utf-8-sig", "cp1252", "latin-1")
REPORT_SCHEMA = 1


def read_report_text(path: str | Path) -> str:
    """Read a report file, falling back from UTF-8 to cp1252 and latin-1 with a warning naming the file.

    DMID's .txt reports were written on Windows; some carry cp1252 bytes (curly quotes, degree signs) that
    are not valid UTF-8. latin-1 decodes any byte string, so this never fails on content.
    """
    data = Path(path).read_bytes()
    for enc in ENCODINGS:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        if enc not in ("utf-8", "utf-8-sig"):
            warnings.warn(f"{path}: not valid UTF-8; decoded as {enc}", stacklevel=2)
        return text.lstrip("\ufeff")
    raise AssertionError("latin-1 decodes every byte string")  # pragma: no cover


def patient_split(patient_ids: Iterable[str], seed: int = 0,
                  ratios: Sequence[float] = SPLIT_RATIOS) -> dict[str, str]:
    """Assign each patient to train/val/test by a seeded permutation of the sorted patient list.

    Ratios count patients; every split gets at least one patient once there are three or more.
    """
    patients = sorted(set(patient_ids))
    n = len(patients)
    order = np.random.default_rng(seed).permutation(n)
    n_val = round(n * ratios[1])
    n_test = round(n * ratios[2])
    if n >= 3:
        n_val, n_test = max(1, n_val), max(1, n_test)
    n_train = n - n_val - n_test
    out = {}
    for rank, idx in enumerate(order):
        out[patients[idx]] = "train" if rank < n_train else "val" if rank < n_train + n_val else "test"
    return out


def data_checksum(rows: Iterable[dict[str, Any]]) -> str:
    """SHA-256 over the (id, images, report) of every row in id order: what the references are, not where."""
    h = hashlib.sha256()
    for row in sorted(rows, key=lambda r: r["id"]):
        h.update(dumps({"id": row["id"], "images": row["images"], "report": row["report"]}).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


@dataclass
class ReportDataset:
    rows: list[dict[str, Any]]
    problems: list[dict[str, str]]  # {id, problem}: unparseable or ambiguous references, and records without one
    seed: int
    checksum: str
    meta: dict[str, Any] = field(default_factory=dict)

    def split(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["split"] == name]

    def counts(self) -> dict[str, int]:
        return {s: sum(r["split"] == s for r in self.rows) for s in SPLITS}


def build_report_dataset(records: Iterable[Record], seed: int = 0, ratios: Sequence[float] = SPLIT_RATIOS,
                         phantom_seed: int | None = None) -> ReportDataset:
    """Rows ``id, patient_id, dataset, split, images, report, birads, density, findings, label_birads``.

    ``phantom_seed`` (when given) fills missing reports from the grammar; without it a record with no report
    is listed as a problem and left out (it cannot serve as a reference).
    """
    recs = list(records)
    if phantom_seed is not None:
        recs = write_phantom_reports(recs, seed=phantom_seed)
    problems: list[dict[str, str]] = []
    usable = []
    for rec in recs:
        if not rec.report or not rec.report.strip():
            problems.append({"id": rec.record_id, "problem": "no report text (record left out)"})
        else:
            usable.append(rec)
    assign = patient_split((r.patient_id for r in usable), seed=seed, ratios=ratios)
    rows = []
    for rec in sorted(usable, key=lambda r: r.record_id):
        parsed = parse_report(rec.report)
        problems.extend({"id": rec.record_id, "problem": p} for p in parsed.problems)
        rows.append({
            "id": rec.record_id, "patient_id": rec.patient_id, "dataset": rec.dataset,
            "split": assign[rec.patient_id], "images": list(rec.images), "report": rec.report,
            "birads": parsed.birads, "density": parsed.density, "findings": sorted(parsed.findings),
            "laterality": rec.laterality, "view": rec.view,
            "label_birads": (rec.labels.get("Bi-Rads") or [None])[0], "schema": REPORT_SCHEMA,
        })
    checksum = data_checksum(rows)
    meta = {"seed": seed, "ratios": list(ratios), "phantom_seed": phantom_seed, "n_records": len(recs),
            "n_rows": len(rows), "n_patients": len(assign), "data_sha256": checksum, "n_problems": len(problems)}
    ds = ReportDataset(rows, problems, seed, checksum, meta)
    ds.meta["split_counts"] = ds.counts()
    return ds


def write_report_dataset(ds: ReportDataset, path: str | Path) -> tuple[Path, Path]:
    """``<path>`` (JSONL rows) and ``<path>.meta.json`` (checksum, counts, problems, provenance)."""
    path = Path(path)
    write_jsonl_atomic(path, ds.rows)
    meta_path = path.with_name(path.name + ".meta.json")
    write_json_atomic(meta_path, {**ds.meta, "problems": ds.problems,
                                  "provenance": provenance(seed=ds.seed, data_checksum=ds.checksum)})
    return path, meta_path


def read_report_dataset(path: str | Path) -> ReportDataset:
    """Read back rows and meta; the checksum is recomputed and must match the one recorded."""
    path = Path(path)
    rows = read_jsonl(path)
    meta_path = path.with_name(path.name + ".meta.json")
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
    checksum = data_checksum(rows)
    if meta.get("data_sha256") and meta["data_sha256"] != checksum:
        from ..errors import DataError

        raise DataError(path, None, f"checksum {checksum[:12]} differs from the recorded "
                                    f"{meta['data_sha256'][:12]} in {meta_path.name}: the file was changed")
    return ReportDataset(rows, list(meta.get("problems", [])), int(meta.get("seed", 0)), checksum, meta)
