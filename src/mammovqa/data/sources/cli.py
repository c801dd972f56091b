"""``mammovqa data inspect DATASET PATH [--summary] [--limit N]``: look at what a reader makes of a download.

Why: before preparing images a user wants to see, on their own copy, which records a reader yields, which
labels they carry, and what was missing or left out; one JSON object per line pipes into ``jq``/``head``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from itertools import islice
from pathlib import Path
from typing import Any, TextIO

from ...errors import MammoVQAError
from ..audit import audit_lines, data_audit
from ..records import Record
from . import get_reader


def record_line(rec: Record) -> dict[str, Any]:
    """The JSON object printed per record: the keys a user checks first, then the rest of the record."""
    d = rec.to_json()
    d["image"] = rec.images[0] if rec.images else None
    return d


def inspect(dataset: str, path: str | Path, *, summary: bool = False, limit: int | None = None,
            out: TextIO | None = None, strict_labels: bool = False) -> dict[str, Any]:
    """Stream records (or, with ``summary``, only their counts) to ``out``; returns the reader's summary.

    The summary carries what was withheld, dropped and merged (``withheld``, ``dropped``, ``duplicate_rows``) and
    the data audit built from them (``audit``)."""
    out = out or sys.stdout
    reader = get_reader(dataset, Path(path), strict_labels=strict_labels)
    records = reader.records()
    if limit is not None:
        records = islice(records, limit)
    for rec in records:
        if not summary:
            out.write(json.dumps(record_line(rec), sort_keys=True, ensure_ascii=False) + "\n")
    s = dict(reader.summary)
    s["audit"] = {k: v for k, v in data_audit(s).items() if k != "withheld_detail"}
    if summary:
        out.write(json.dumps(s, sort_keys=True, ensure_ascii=False, indent=1) + "\n")
    return s


def _run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        s = inspect(args.dataset, args.path, summary=args.summary, limit=args.limit,
                    strict_labels=args.strict_labels)
    except MammoVQAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if s["missing_images"]:
        print(f"{s['dataset']}: {s['missing_images']} record(s) skipped for missing images", file=sys.stderr)
    for line in audit_lines(s["dataset"], s):
        print(line, file=sys.stderr)
    return 0


def add_inspect_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("dataset", help="dataset name as in data_manifest/datasets.yaml (case-insensitive)")
    p.add_argument("path", help="folder holding the dataset as downloaded")
    p.add_argument("--summary", action="store_true", help="print counts per part, topic and option instead")
    p.add_argument("--limit", type=int, default=None, help="stop after N records")
    p.add_argument("--strict-labels", action="store_true",
                   help="stop at the first raw value with no label-map entry (naming file, row and value) instead "
                        "of withholding that one label; for curating label maps")
    p.set_defaults(func=_run)
    return p


def register_inspect(data_subparsers: Any) -> argparse.ArgumentParser:
    """Add ``inspect`` to the ``mammovqa data`` sub-command group (``add_subparsers()`` result)."""
    p = data_subparsers.add_parser("inspect", help="print the records a dataset reader yields (JSON lines)",
                                   description=__doc__.splitlines()[0])
    return add_inspect_arguments(p)


def inspect_main(argv: Sequence[str] | None = None) -> int:
    p = add_inspect_arguments(argparse.ArgumentParser(prog="mammovqa data inspect"))
    args = p.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(inspect_main())
