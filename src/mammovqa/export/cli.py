"""``mammovqa export hf|lmms-eval|vlmevalkit`` and ``mammovqa import-predictions``.

Why here and not under ``data``: these commands only re-express a built run for other harnesses and read
their outputs back; they never change the benchmark.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from ..runargs import add_run_arguments

if TYPE_CHECKING:
    import pandas as pd

    from .harness_import import Imported


def cmd_hf(args: argparse.Namespace) -> int:
    from .hf import export_hf

    print(json.dumps(export_hf(args.source, args.profile, args.out, seed=args.seed), indent=1))
    return 0


def cmd_lmms_eval(args: argparse.Namespace) -> int:
    from .lmms_eval import export_lmms_eval

    print(json.dumps(export_lmms_eval(args.source, args.profile, args.out, seed=args.seed,
                                      max_new_tokens=args.max_new_tokens), indent=1))
    return 0


def cmd_vlmevalkit(args: argparse.Namespace) -> int:
    from .vlmevalkit import export_vlmevalkit

    summary = export_vlmevalkit(args.source, args.profile, args.out, seed=args.seed, splits=tuple(args.splits),
                                image_path=args.image_path)
    print(json.dumps(summary, indent=1))
    if summary["contains_images_of_restricted_datasets"]:
        print(f"note: the table holds images of {summary['contains_images_of_restricted_datasets']}, whose terms "
              "forbid redistribution: keep it on your machine")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from ..io import gc_paused
    from .harness_import import import_answers

    # one pause of the cycle collector for import and scoring: the parsed items and answers live through both,
    # and each re-enabling would walk all of them once
    with gc_paused():
        imported = import_answers(args.format, args.files, args.model, args.source, args.profile, seed=args.seed,
                                  harness_version=args.harness_version)
        summary = imported.summary
        for key, w in summary["written"].items():
            line = f"{key}: {w['answers']} answers -> {w['file']}"
            if w["missing"]:
                line += f"; {w['missing']} items have no answer (scored wrong), e.g. {w['missing_ids']}"
            if w["random_fill"]:
                line += (f"; {w['random_fill']} rows VLMEvalKit filled in at random (marked harness_random_fill; "
                         "scored as no answer, counted in n_missing)")
            print(line)
        if args.score:
            print_import_scores(imported, args.matcher)
        else:
            print(f"score with: mammovqa score {' '.join(w['file'] for w in summary['written'].values())} "
                  f"--items data/{summary['run']}/qa/items.jsonl --matcher strict")
        del imported
    return 0


def print_import_scores(imported: Imported, matcher: str) -> dict[str, pd.DataFrame]:
    """Per written file, what ``mammovqa score FILE --matcher MATCHER`` prints, scored from the rows just written
    (:func:`harness_import.score_import`: no second parse of the items and prediction files); returns the
    score tables."""
    from ..eval.cli import summary_table
    from .harness_import import score_import

    tables = score_import(imported, matcher)
    for key, scores in tables.items():
        report = scores.attrs["report"]
        split, level = key.split("_")
        print(f"# {imported.summary['written'][key]['file']}: model={scores['model'].iloc[0]} "
              f"matcher={matcher} split={split} level={level}")
        print(summary_table(scores).to_markdown(index=False, floatfmt=".4f"))
        for name in ("n_missing", "n_errors", "n_empty"):
            print(f"{name}: {report[name]}")
        if report["n_random_fill"]:
            print(f"n_random_fill: {report['n_random_fill']}")
    return tables


def register(subparsers: argparse._SubParsersAction) -> None:
    ex = subparsers.add_parser("export", help="the run's items for other harnesses: hf, lmms-eval, vlmevalkit",
                               description="Export a built run's QA items (same ids, prompts, option orders) as a "
                               "Hugging Face dataset, an lmms-eval task folder or a VLMEvalKit table.")
    esub = ex.add_subparsers(dest="export_command", metavar="FORMAT", required=True)
    hf = esub.add_parser("hf", help="parquet shards + dataset card (datasets.load_dataset('parquet', data_dir=DIR))")
    add_run_arguments(hf)
    hf.add_argument("--out", required=True, help="output folder")
    hf.set_defaults(func=cmd_hf)
    lm = esub.add_parser("lmms-eval", help="task folder for lmms-eval --include_path DIR --tasks mammovqa")
    add_run_arguments(lm)
    lm.add_argument("--out", required=True, help="output folder (the --include_path)")
    lm.add_argument("--max-new-tokens", type=int, default=16, help="generation length (as mammovqa predict)")
    lm.set_defaults(func=cmd_lmms_eval)
    vk = esub.add_parser("vlmevalkit", help="VLMEvalKit custom MCQ table (FILE.tsv in $LMUData)")
    add_run_arguments(vk)
    vk.add_argument("--out", required=True, help="output .tsv (VLMEvalKit dataset name = file stem)")
    vk.add_argument("--splits", nargs="+", default=["test", "external"], choices=("train", "val", "test", "external"))
    vk.add_argument("--image-path", action="store_true", help="image_path column (local files) instead of base64")
    vk.set_defaults(func=cmd_vlmevalkit)

    im = subparsers.add_parser(
        "import-predictions", help="lmms-eval / VLMEvalKit outputs -> our prediction files (scored our way)",
        description="Map a harness's answers back to item ids and write results/<run>/predictions/<model>/"
        "<split>_<level>.jsonl with provenance (harness, version, file checksums). Unknown or duplicate ids, "
        "another benchmark's rows or mismatched options are errors naming file, line and id.")
    im.add_argument("--format", required=True, choices=("lmms-eval", "vlmevalkit"))
    im.add_argument("files", nargs="+", help="lmms-eval <date>_samples_<task>.jsonl file(s) (--log_samples), "
                    "or VLMEvalKit <model>_<dataset>.xlsx / .tsv")
    im.add_argument("--model", required=True, help="model name the predictions are filed under")
    add_run_arguments(im)
    im.add_argument("--harness-version", help="harness version for the provenance (default: read from the "
                    "lmms-eval results JSON next to the samples, or the installed vlmeval)")
    im.add_argument("--score", action="store_true", help="also score the imported files and print what "
                    "`mammovqa score FILE --matcher MATCHER` prints, in the same process without reading them back")
    im.add_argument("--matcher", choices=("strict", "official"), default="strict",
                    help="matcher of --score (default: strict)")
    im.set_defaults(func=cmd_import)
