"""A run's records: the phantom's, or every configured real dataset read, subsampled by patient and prepared.

The benchmark build that turns them into QA items and official JSON is orchestration above data and qa: it
lives in :mod:`mammovqa.benchmark`.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

from ..config import Profile, load_datasets
from ..errors import DataError, MammoVQAError
from ..io import read_jsonl
from ..paths import RunPaths, resolve
from ..seeding import stable_fraction
from .records import Record


def phantom_records(run: RunPaths, profile: Profile, workers: int) -> tuple[list[Record], dict[str, Any]]:
    from .phantom import PhantomSource

    source = PhantomSource(run.images, profile, seed=run.seed, workers=workers)
    return list(source.records()), dict(source.summary)


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
