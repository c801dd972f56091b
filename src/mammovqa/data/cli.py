"""``mammovqa data ...``: build the benchmark, and (when installed) inspect, prepare, verify, import."""

from __future__ import annotations

import argparse
import json

from ..runargs import run_arguments


def _build(args: argparse.Namespace) -> int:
    from ..benchmark import build_benchmark

    manifest = build_benchmark(args.source, args.profile, args.seed, args.workers,
                               strict_labels=args.strict_labels)
    print(json.dumps({"records": manifest["records_by_dataset"], "qa": manifest["qa_summary"]}, indent=1))
    return 0




def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="benchmark data: build, inspect, prepare, verify, import official JSON",
                                   description="Benchmark data commands. `data build` is what `make data` runs.")
    sub = parser.add_subparsers(dest="data_command", metavar="DATA_COMMAND")
    b = sub.add_parser("build", parents=[run_arguments()],
                       help="build a run's benchmark (records, images, QA items, official JSON)",
                       description="Generate the phantom benchmark (SOURCE=phantom) or prepare the datasets "
                       "configured in data_manifest/local.yaml (SOURCE=real), then write QA items to "
                       "data/<run>/qa/items.jsonl and the official MammoVQA JSON layout beside it.")
    b.add_argument("--workers", type=int, default=2, help="processes for image generation/preparation")
    b.add_argument("--strict-labels", action="store_true",
                   help="SOURCE=real: a dataset stops at its first raw value with no label-map entry (error names "
                        "file, row and value) instead of withholding that one label (make ... STRICT_LABELS=1)")
    b.set_defaults(func=_build)
    # sub-commands living in their own modules (imported here, not from the top-level cli: layers go downward)
    from .prepare_cli import register as register_prepare
    from .sources.cli import register_inspect

    register_inspect(sub)
    register_prepare(sub)
    parser.set_defaults(func=lambda a: parser.print_help() or 0)
