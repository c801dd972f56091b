"""Build a run's benchmark: records (phantom or real datasets) -> images -> QA items and official JSON.

Orchestration above the data and qa layers (records come from :mod:`mammovqa.data.build`, reports for phantom
records from the report grammar, items from :mod:`mammovqa.qa`). ``items.jsonl`` is written last, so its
existence (Make's target) means the whole build finished.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from .config import get_profile, load_datasets
from .data.build import phantom_records, real_records
from .errors import MammoVQAError
from .io import file_lock, provenance, sha256_file, write_json_atomic, write_jsonl_atomic
from .paths import RunPaths, dataset_roots, portable
from .qa.build import build_items
from .qa.items import write_items
from .report.grammar import write_phantom_reports
from .runargs import SOURCES


def export_official(run: RunPaths, items: list) -> list[Path]:
    """The official-format JSON of every (level, split) that has items; the paths written."""
    from .qa.official import export_official_json

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
    # two builds of one run (two `make all`) would write the same images and items at once
    with file_lock(run.results / "locks" / "stage-data.lock", f"data build of run {run.name}"):
        return _build(run, prof, workers, strict_labels)


def _build(run: RunPaths, prof: Any, workers: int, strict_labels: bool) -> dict[str, Any]:
    source, profile, seed = run.source, run.profile, run.seed
    run.data.mkdir(parents=True, exist_ok=True)
    if source == "phantom":
        records, source_summary = phantom_records(run, prof, workers)
        records = write_phantom_reports(records, seed=run.seed)  # the report wing's references (AMRG)
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
