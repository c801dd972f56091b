"""Build a run's benchmark: records (phantom or real datasets) -> images -> QA items and official JSON.

``items.jsonl`` is written last, so its existence (Make's target) means the whole build finished.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

from ..config import Profile, get_profile, load_datasets
from ..errors import MammoVQAError
from ..io import provenance, sha256_file, write_json_atomic, write_jsonl_atomic
from ..paths import RunPaths
from ..qa.build import build_items
from ..qa.items import write_items
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


def real_records(run: RunPaths, profile: Profile, workers: int) -> tuple[list[Record], dict[str, Any]]:
    """Prepare every dataset configured in data_manifest/local.yaml; absent ones are listed, not fatal."""
    from .prepare import prepare_dataset
    from .sources import get_reader
    from .sources.base import available_datasets

    found = available_datasets()
    present, absent = found["present"], found["absent"]
    for name, info in absent.items():
        print(f"[data] {name} absent ({info['reason']}): {info['link']} — access: {info['access']}", file=sys.stderr)
    if not present:
        raise MammoVQAError("SOURCE=real but no dataset folder is configured: copy data_manifest/local.example.yaml "
                            "to data_manifest/local.yaml and set the folders of the datasets you have")
    records: list[Record] = []
    summary: dict[str, Any] = {"datasets_used": sorted(present), "datasets_absent": sorted(absent)}
    for name, root in sorted(present.items()):
        reader = get_reader(name, Path(root))
        out = run.data / "prepared" / name
        summary[name] = prepare_dataset(reader.records(), out, size=profile.image_size, seed=run.seed, workers=workers)
        summary[name]["reader"] = dict(reader.summary)
        from ..io import read_jsonl

        records += [Record.from_json({k: v for k, v in r.items() if k in Record.__dataclass_fields__})
                    for r in read_jsonl(out / "records.jsonl")]
    return records, summary


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


def build_benchmark(source: str = "phantom", profile: str = "default", seed: int = 0, workers: int = 1) -> dict[str, Any]:
    if source not in SOURCES:
        raise MammoVQAError(f"unknown source {source!r}; choose one of: {', '.join(SOURCES)}")
    prof = get_profile(profile)
    run = RunPaths(source, profile, seed)
    run.data.mkdir(parents=True, exist_ok=True)
    maker = phantom_records if source == "phantom" else real_records
    records, source_summary = maker(run, prof, workers)
    write_jsonl_atomic(run.records, (r.to_json() for r in sorted(records, key=lambda r: r.record_id)))
    data_sha = sha256_file(run.records)
    items, qa_summary = build_items(records, seed=seed, datasets=load_datasets())
    official = export_official(run, items)
    manifest = {
        "provenance": provenance(seed=seed, data_checksum=data_sha, source=source, profile=profile),
        "source": source,
        "synthetic": source == "phantom",
        "records_by_dataset": dict(sorted(Counter(r.dataset for r in records).items())),
        "source_summary": source_summary,
        "qa_summary": qa_summary,
        "official_exports": [p.name for p in official],
    }
    write_json_atomic(run.qa_dir / "manifest.json", manifest)
    write_items(run.qa_items, items)  # last: its existence marks a finished build
    return manifest
