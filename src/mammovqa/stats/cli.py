"""``mammovqa stats ...``: tests against random guess, paired comparisons, power, option-order robustness.

Each sub-command reads a per-item scored table (``mammovqa score`` output: CSV, JSONL or Parquet), prints a
table and, with ``--out``, writes it as CSV (plus Markdown beside it).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from ..errors import DataError
from ..outputs import write_table

CLUSTERS = ("patient_key", "record_id", "exam_id", "patient_id")
STRING_COLUMNS = ("id", "model", "matcher", "split", "level", "topic", "topic_key", "kind", "dataset", "part",
                  "role", "record_id", "patient_id", "patient_key", "exam_id", "gold", "pred")


def read_scored(path: str | Path) -> pd.DataFrame:
    """Read a scored table keeping ids and answers as strings ("" = no choice, not NaN)."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, None, "file not found")
    if path.suffix == ".csv":
        head = pd.read_csv(path, nrows=0).columns
        df = pd.read_csv(path, dtype={c: str for c in STRING_COLUMNS if c in head}, keep_default_na=False,
                         na_values={c: [""] for c in head if c not in STRING_COLUMNS})
    elif path.suffix in (".jsonl", ".json"):
        df = pd.read_json(path, lines=path.suffix == ".jsonl", dtype={c: str for c in STRING_COLUMNS})
    elif path.suffix == ".parquet":
        df = pd.read_parquet(path)
    else:
        raise DataError(path, None, "unknown table format (use .csv, .jsonl or .parquet)")
    for c in ("correct", "n_options"):
        if c in df.columns:
            df[c] = pd.to_numeric(df[c]).astype(int)
    for c in ("gold", "pred"):
        if c in df.columns:
            df[c] = df[c].fillna("").astype(str)
    return df


def _filter(df: pd.DataFrame, args: argparse.Namespace) -> pd.DataFrame:
    if getattr(args, "cluster", None) == "patient_key" and "patient_key" not in df.columns:
        from .weighted import add_patient_key

        df = add_patient_key(df)
    for col in ("split", "matcher", "level"):
        val = getattr(args, col, None)
        if val is not None:
            if col not in df.columns:
                raise DataError(args.scored, None, f"--{col} given but the table has no '{col}' column")
            df = df[df[col] == val]
    return df


def _emit(df: pd.DataFrame, out: str | None) -> int:
    print(df.to_markdown(index=False, floatfmt=".4f"))
    if out:
        write_table(df, Path(out).with_suffix(""), float_digits=4)
    return 0


def _cmd_random(args: argparse.Namespace) -> int:
    from .random_guess import test_against_random

    df = _filter(read_scored(args.scored), args)
    res = test_against_random(df, by=args.by.split(","), margin=args.margin, margin_relative=args.margin_relative,
                              margin_minimum=args.margin_minimum, cluster=args.cluster, n_boot=args.n_boot,
                              seed=args.seed, min_items=args.min_items, ci=args.ci)
    return _emit(res, args.out)


def _cmd_compare(args: argparse.Namespace) -> int:
    from .paired import compare_models, finetuned_vs_best_zero_shot

    df = _filter(read_scored(args.scored), args)
    by = args.by.split(",")
    if args.zero_shot:
        res = finetuned_vs_best_zero_shot(df, args.model_a, args.zero_shot.split(","), by=by, cluster=args.cluster,
                                          n_boot=args.n_boot, seed=args.seed, ci=args.ci)
    else:
        if not args.model_b:
            raise DataError(args.scored, None, "give --model-b or --zero-shot")
        res = compare_models(df[df["model"] == args.model_a], df[df["model"] == args.model_b], by=by,
                             cluster=args.cluster, n_boot=args.n_boot, seed=args.seed, ci=args.ci)
    return _emit(res, args.out)


def _cmd_power(args: argparse.Namespace) -> int:
    from .power import minimum_detectable_effect

    df = _filter(read_scored(args.scored), args)
    res = minimum_detectable_effect(df, by=args.by.split(","), alpha=args.alpha, power=args.power, icc=args.icc,
                                    cluster=args.cluster)
    return _emit(res, args.out)


def _cmd_circular(args: argparse.Namespace) -> int:
    from .robustness import circular_summary

    df = _filter(read_scored(args.scored), args)
    return _emit(circular_summary(df, by=tuple(args.by.split(","))), args.out)


def _common(p: argparse.ArgumentParser, by: str) -> None:
    p.add_argument("--scored", required=True, help="per-item scored table (CSV/JSONL/Parquet)")
    p.add_argument("--out", help="write the result here (CSV, Markdown beside it)")
    p.add_argument("--by", default=by, help=f"comma-separated grouping columns (default {by})")
    p.add_argument("--split", help="keep only this split (e.g. test)")
    p.add_argument("--matcher", help="keep only this matcher (e.g. official)")
    p.add_argument("--level", help="keep only this level (image or exam)")


def _resampling(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cluster", default="patient_key", choices=CLUSTERS,
                   help="bootstrap resampling unit (patient_key = dataset family + patient id, the default)")
    p.add_argument("--n-boot", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ci", default="percentile", choices=("percentile", "bca"))


def register(subparsers: argparse._SubParsersAction) -> None:
    stats = subparsers.add_parser("stats", help="tests against random guess, CIs, paired comparisons, power",
                                  description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = stats.add_subparsers(dest="stats_command", metavar="STATS_COMMAND")
    stats.set_defaults(func=lambda _a: (stats.print_help(), 0)[1])

    p = sub.add_parser("random", help="superiority / equivalence (TOST) against the no-information level per model and topic")
    _common(p, "model,topic")
    _resampling(p)
    p.add_argument("--margin", type=float, default=None,
                   help="absolute equivalence margin (0.05 = 5 points); default: the relative rule below")
    p.add_argument("--margin-relative", type=float, default=0.2,
                   help="margin as a share of the no-information level (default 0.2, docs/analysis-plan.md)")
    p.add_argument("--margin-minimum", type=float, default=0.01, help="smallest margin (default 0.01 = 1 point)")
    p.add_argument("--min-items", type=int, default=20)
    p.set_defaults(func=_cmd_random)

    p = sub.add_parser("compare", help="paired comparison of two models on the same items (McNemar, bootstrap)")
    _common(p, "topic")
    _resampling(p)
    p.add_argument("--model-a", required=True, help="model A (the fine-tuned model with --zero-shot)")
    p.add_argument("--model-b", help="model B")
    p.add_argument("--zero-shot", help="comma-separated zero-shot models: compare A with the best per topic")
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser("power", help="minimum detectable improvement over random per topic")
    _common(p, "topic")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--power", type=float, default=0.8)
    p.add_argument("--icc", type=float, default=0.0, help="intra-cluster correlation for the design effect")
    p.add_argument("--cluster", default="patient_key", choices=CLUSTERS)
    p.set_defaults(func=_cmd_power)

    p = sub.add_parser("circular", help="CircularEval consistency over option rotations (ids {id}@rot{k})")
    _common(p, "model,topic")
    p.set_defaults(func=_cmd_circular)
