"""Build a run's benchmark: records (phantom or real datasets) -> images -> QA items and official JSON.

``items.jsonl`` is written last, so its existence (Make's target) means the whole build finished.
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from ..config import Profile, get_profile, load_datasets
from ..errors import DataError, MammoVQAError
from ..io import provenance, read_jsonl, sha256_file, write_json_atomic, write_jsonl_atomic
from ..paths import RunPaths, dataset_roots, portable, resolve
from ..qa.build import build_items
from ..qa.items import write_items
from ..seeding import stable_fraction
from .records import Record

SOURCES = ("phantom", "real")


def phantom_records(run: RunPaths, profile: Profile, workers: int) -> tuple[list[Record], dict[str, Any]]:
    from .phantom import PhantomSource

    source = PhantomSource(run.images, profile, seed=run.seed, workers=workers)
    records = list(source.records())
    try:
        from ..report.grammar import write_phantom_reports
    except ImportError:  # report generation not installed in this build
        return records, dict(source.summary)
    return list(write_phantom_reports(records, seed=run.seed)), dict(source.summary)


def real_records(run: RunPaths, profile: Profile, workers: int, strict_labels: bool = False
                 ) -> tuple[list[Record], dict[str, Any]]:
    """Read, subsample and prepare every dataset configured in data_manifest/local.yaml.

    Why each dataset goes reader -> ``prepare_dataset`` -> prepared ``records.jsonl``: the QA items must point at
    prepared PNGs (masked, cropped, opaque names; normal crops placed at preparation), never at source files.
    Absent datasets are listed on stderr with link and access terms; a configured dataset whose reader fails
    (wrong folder, missing label file) is reported and left out rather than stopping the other datasets.
    ``datasets_used`` in the summary (read by the notebooks) lists only datasets that contributed records.
    """
    from .audit import audit_lines, data_audit
    from .sources.base import available_datasets

    found = available_datasets()
    present, absent = found["present"], found["absent"]
    for name, info in absent.items():
        print(f"[data] {name} absent ({info['reason']}): {info['link']} — access: {info['access']}", file=sys.stderr)
    if not present:
        raise MammoVQAError("SOURCE=real but no dataset folder is configured: copy data_manifest/local.example.yaml "
                            "to data_manifest/local.yaml and set the folders of the datasets you have")
    fraction = min(1.0, float(profile.scale))
    records: list[Record] = []
    readers = []
    summary: dict[str, Any] = {"datasets_configured": sorted(present), "datasets_absent": sorted(absent),
                               "absent": {k: dict(v) for k, v in sorted(absent.items())}, "datasets_failed": {},
                               "patient_fraction": fraction}
    for name, root in sorted(present.items()):
        try:
            recs, reader, info = _read_and_prepare(name, Path(root), run, profile, fraction, workers, strict_labels)
        except MammoVQAError as exc:
            print(f"[data] {name} left out: {exc}", file=sys.stderr)
            summary["datasets_failed"][name] = str(exc)
            continue
        readers.append(reader)
        summary[name] = info
        summary.setdefault("data_audit", {})[name] = data_audit(info["reader"])
        for line in audit_lines(name, info["reader"]):
            print(f"[data] {line}", file=sys.stderr)
        records += recs
        print(f"[data] {name}: {info['reader']['records']} records read, {len(recs)} after preparation (normal "
              f"crops included; {info['failed']} source images failed)", file=sys.stderr)
    from .sources.base import shared_image_ids

    summary["shared_image_ids"] = shared_image_ids(readers)
    used = sorted({_family(r.dataset) for r in records})
    summary["datasets_used"] = used
    summary["datasets_empty"] = sorted(set(present) - set(used) - set(summary["datasets_failed"]))
    if not records:
        raise MammoVQAError(f"SOURCE=real: no dataset gave any prepared record (configured: {sorted(present)}); "
                            "see the messages above and data/<run>/prepared/<dataset>/summary/")
    return records, summary


def _family(subdataset: str) -> str:
    """Dataset (datasets.yaml key) of a sub-dataset name, e.g. CBIS-DDSM-finding -> CBIS-DDSM."""
    return load_datasets().part(subdataset).dataset


def subsample_patients(records: list[Record], fraction: float, minimum: int, seed: int, dataset: str) -> list[Record]:
    """Keep a seeded fraction of patients (at least ``minimum``); all records of a kept patient stay together.

    Why patients, not records: a finding crop and its breast image, or an exam and its views, must never be
    split apart, and the grouped 7:1:2 split needs whole patients. Order-independent (a hash per patient).
    """
    if fraction >= 1.0:
        return records
    patients = sorted({r.patient_id for r in records}, key=lambda p: (stable_fraction(seed, "real-subsample",
                                                                                      dataset, p), p))
    keep_n = max(math.ceil(fraction * len(patients)), min(len(patients), minimum))
    keep = set(patients[:keep_n])
    return [r for r in records if r.patient_id in keep]


def _read_and_prepare(name: str, root: Path, run: RunPaths, profile: Profile, fraction: float,
                      workers: int, strict_labels: bool = False) -> tuple[list[Record], Any, dict[str, Any]]:
    """One dataset: reader records -> patient subsample -> prepared PNGs -> Records pointing at them."""
    from .prepare import prepare_dataset
    from .sources import get_reader

    reader = get_reader(name, root, strict_labels=strict_labels)
    raw = list(reader.records())
    kept = subsample_patients(raw, fraction, profile.min_per_part, run.seed, name)
    out = run.data / "prepared" / name
    info = prepare_dataset(kept, out, size=profile.image_size, seed=run.seed, workers=workers)
    info["reader"] = dict(reader.summary)
    info["patients"] = {"read": len({r.patient_id for r in raw}), "kept": len({r.patient_id for r in kept})}
    recs = [prepared_record(row) for row in read_jsonl(out / "records.jsonl")]
    for r in recs:
        for p in r.images:
            if not resolve(p).exists():
                raise DataError(out / "records.jsonl", r.record_id, f"prepared image {p} not found")
    return recs, reader, info


def prepared_record(row: dict[str, Any]) -> Record:
    """A Record from a prepared ``records.jsonl`` row; the row's convenience keys (``image``, ``source_images``)
    are not Record fields, so exam source files are kept in ``extra`` instead of being dropped."""
    fields = {k: v for k, v in row.items() if k in Record.__dataclass_fields__}
    if row.get("source_images"):
        fields["extra"] = dict(fields.get("extra") or {}, source_images=list(row["source_images"]))
    return Record.from_json(fields)


def export_official(run: RunPaths, items: list) -> list[Path]:
    try:
        from ..qa.official import export_official_json
    except ImportError:
        return []
    paths = []
    for level in ("image", "exam"):
        for split in ("train", "val", "test", "external"):
            sel = [it for it in items if it.level == level and it.split == split]
            if sel:
                path = run.official_json(level, split)
                export_official_json(sel, path)
                paths.append(path)
    return paths


def build_benchmark(source: str = "phantom", profile: str = "default", seed: int = 0, workers: int = 1,
                    strict_labels: bool = False) -> dict[str, Any]:
    if source not in SOURCES:
        raise MammoVQAError(f"unknown source {source!r}; choose one of: {', '.join(SOURCES)}")
    prof = get_profile(profile)
    run = RunPaths(source, profile, seed)
    run.data.mkdir(parents=True, exist_ok=True)
    if source == "phantom":
        records, source_summary = phantom_records(run, prof, workers)
    else:
        records, source_summary = real_records(run, prof, workers, strict_labels)
    write_jsonl_atomic(run.records, (r.to_json() for r in sorted(records, key=lambda r: r.record_id)))
    data_sha = sha256_file(run.records)
    items, qa_summary = build_items(records, seed=seed, datasets=load_datasets())
    official = export_official(run, items)
    manifest = {
        "provenance": provenance(seed=seed, data_checksum=data_sha, source=source, profile=profile),
        "source": source,
        "synthetic": source == "phantom",
        "records_by_dataset": dict(sorted(Counter(r.dataset for r in records).items())),
        "source_summary": portable(source_summary, dataset_roots()),  # no machine paths in outputs
        "qa_summary": qa_summary,
        "official_exports": [p.name for p in official],
    }
    write_json_atomic(run.qa_dir / "manifest.json", manifest)
    write_items(run.qa_items, items)  # last: its existence marks a finished build
    return manifest
