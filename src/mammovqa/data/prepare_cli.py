"""``mammovqa data prepare | verify | import-official``: registered by ``data/cli.py`` through ``register``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..errors import MammoVQAError


def _local_roots() -> dict[str, Path]:
    """Dataset roots from data_manifest/local.yaml (validated: see ``config.local_dataset_roots``)."""
    from ..config import local_dataset_roots

    return local_dataset_roots()


def _prepare(args: argparse.Namespace) -> int:
    from .prepare import parse_shard, prepare_dataset
    from .sources import get_reader

    reader = get_reader(args.dataset, Path(args.path))
    from ..paths import dataset_roots, portable

    roots = {**dataset_roots(), reader.name: Path(args.path).resolve()}  # this folder, named by its dataset
    summary = prepare_dataset(reader.records(), Path(args.out), size=args.size, seed=args.seed,
                              workers=args.workers, shard=parse_shard(args.shard), roots=roots)
    summary["reader"] = portable(dict(getattr(reader, "summary", {}) or {}), roots)
    print(json.dumps({k: v for k, v in summary.items() if k != "errors"}, indent=1, default=str))
    return 0 if summary["failed"] == 0 or args.allow_failures else 3


def _verify(args: argparse.Namespace) -> int:
    from .verify import record_checksums, verify

    roots = _local_roots()
    if args.root:
        if not args.dataset:
            raise MammoVQAError("--root needs a DATASET")
        roots = {args.dataset: Path(args.root)}
    names = [args.dataset] if args.dataset else sorted(roots)
    if not names:
        raise MammoVQAError("no dataset configured: set folders in data_manifest/local.yaml or pass DATASET --root")
    status = 0
    for name in names:
        key = next((k for k in roots if k.lower() == name.lower()), None)
        if key is None:
            raise MammoVQAError(f"{name}: no folder configured in data_manifest/local.yaml (or pass --root)")
        if args.record:
            print(f"{key}: wrote {record_checksums(key, roots[key])}")
            continue
        rep = verify(key, roots[key], hash_files=not args.sizes_only)
        counts = {k: len(rep[k]) for k in ("missing", "extra", "changed")}
        print(f"{key}: {'OK' if rep['ok'] else 'DIFFERS'} {counts} ({rep['files_expected']} files recorded)")
        for k in ("missing", "extra", "changed"):
            for rel in rep[k][:20]:
                print(f"  {k}: {rel}")
        status |= 0 if rep["ok"] else 4
    return status


def _import_official(args: argparse.Namespace) -> int:
    from ..io import write_json_atomic
    from ..qa.items import write_items
    from ..qa.official import import_official, parse_prefix_map

    items, report = import_official(args.json, parse_prefix_map(args.prefix), split=args.split, level=args.level,
                                    check_exists=not args.no_check)
    out = Path(args.out)
    write_items(out, items)
    write_json_atomic(out.with_suffix(".report.json"), report)
    print(json.dumps({k: report[k] for k in ("entries", "imported", "unresolved", "by_dataset")}, indent=1))
    if report["unresolved"]:
        print(f"[import-official] {report['unresolved']} entries unresolved; see {out.with_suffix('.report.json')}",
              file=sys.stderr)
    return 0


def register(sub: Any) -> None:
    """Add ``prepare``, ``verify`` and ``import-official`` to the ``data`` sub-parsers."""
    p = sub.add_parser("prepare", help="prepare one downloaded dataset: crops, masking, resize -> PNG + records.jsonl",
                       description="Read DATASET at PATH with its reader and write prepared PNGs and records.jsonl "
                       "under --out. Resumable; --shard i/n handles every n-th image (SLURM arrays); a final run "
                       "without --shard assembles records.jsonl from all shards.")
    p.add_argument("dataset", metavar="DATASET", help="dataset name as in data_manifest/datasets.yaml")
    p.add_argument("path", metavar="PATH", help="the dataset's downloaded folder")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--size", type=int, default=512, help="square output size in pixels (default 512)")
    p.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    p.add_argument("--shard", default=None, help="i/n: this job's share, 0 <= i < n")
    p.add_argument("--seed", type=int, default=0, help="seed of the normal-crop placement")
    p.add_argument("--allow-failures", action="store_true", help="exit 0 even when some images failed")
    p.set_defaults(func=_prepare)

    v = sub.add_parser("verify", help="check local dataset folders against data_manifest/checksums/*.tsv",
                       description="Without --record: report missing, extra and changed files of DATASET (or of "
                       "every dataset in data_manifest/local.yaml). With --record: write the checksum table.")
    v.add_argument("dataset", nargs="?", metavar="DATASET")
    v.add_argument("--record", action="store_true", help="write data_manifest/checksums/<DATASET>.tsv")
    v.add_argument("--root", help="dataset folder (default: from data_manifest/local.yaml)")
    v.add_argument("--sizes-only", action="store_true", help="compare sizes only (fast)")
    v.set_defaults(func=_verify)

    i = sub.add_parser("import-official", help="import a released MammoVQA JSON onto local image copies",
                       description="Read an official MammoVQA-{Image,Exam}-{Train,Eval,Bench}.json, rewrite image "
                       "paths with --prefix OLD=NEW (repeatable, or a YAML/JSON mapping file) and write QA items "
                       "(options in the stored order) to --out, with a report of unresolved entries per dataset.")
    i.add_argument("json", type=Path, metavar="JSON")
    i.add_argument("--prefix", action="append", default=[], metavar="OLD=NEW")
    i.add_argument("--out", required=True, help="items JSONL to write (report beside it)")
    i.add_argument("--split", default="test", choices=("train", "val", "test", "external"))
    i.add_argument("--level", choices=("image", "exam"), default=None, help="default: from the Path type")
    i.add_argument("--no-check", action="store_true", help="do not require rewritten files to exist")
    i.set_defaults(func=_import_official)
