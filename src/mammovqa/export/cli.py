"""``mammovqa export hf|lmms-eval|vlmevalkit`` and ``mammovqa import-predictions``.

Why here and not under ``data``: these commands only re-express a built run for other harnesses and read
their outputs back; they never change the benchmark.
"""

from __future__ import annotations

import argparse
import json


def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", default="phantom", choices=("phantom", "real"))
    p.add_argument("--profile", default="default", help="smoke | default | full (data_manifest/profiles.yaml)")
    p.add_argument("--seed", type=int, default=0)


def cmd_hf(args: argparse.Namespace) -> int:
    from .hf import export_hf

    print(json.dumps(export_hf(args.source, args.profile, args.out, seed=args.seed), indent=1))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    ex = subparsers.add_parser("export", help="the run's items for other harnesses: hf, lmms-eval, vlmevalkit",
                               description="Export a built run's QA items (same ids, prompts, option orders) as a "
                               "Hugging Face dataset, an lmms-eval task folder or a VLMEvalKit table.")
    esub = ex.add_subparsers(dest="export_command", metavar="FORMAT", required=True)
    hf = esub.add_parser("hf", help="parquet shards + dataset card (datasets.load_dataset('parquet', data_dir=DIR))")
    _run_args(hf)
    hf.add_argument("--out", required=True, help="output folder")
    hf.set_defaults(func=cmd_hf)
