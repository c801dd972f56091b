"""``mammovqa score`` and ``mammovqa baselines``.

Why the items file is needed: a prediction file stores outputs, not gold answers; the gold answers, topics
and ids for clustered statistics live in the QA items file of a run (``data/<run>/qa/items.jsonl``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..errors import DataError
from ..outputs import write_table
from ..paths import ROOT, RunPaths
from ..predictions import read_predictions
from ..qa.items import SPLITS, QAItem, read_items
from .metrics import metrics_table

LEVELS = ("image", "exam")


def default_items_path() -> Path:
    """``data/<run>/qa/items.jsonl`` of ``$MAMMOVQA_RUN`` (set by the Makefile), else of the phantom-default run."""
    run = os.environ.get("MAMMOVQA_RUN")
    return ROOT / "data" / run / "qa" / "items.jsonl" if run else RunPaths().qa_items


def _infer_split_level(args: argparse.Namespace, provenance: dict, ids: set[str],
                       items: list[QAItem]) -> tuple[str | None, str | None]:
    """--split/--level, else the provenance record, else the single (split, level) of the predicted ids."""
    split = args.split or provenance.get("split")
    level = args.level or provenance.get("level")
    if split and level:
        return split, level
    combos = {(it.split, it.level) for it in items if it.id in ids}
    if len(combos) == 1:
        s, lv = combos.pop()
        return split or s, level or lv
    return split, level


def select_items(items: list[QAItem], split: str | None, level: str | None) -> list[QAItem]:
    return [it for it in items if (split is None or it.split == split) and (level is None or it.level == level)]


def cmd_score(args: argparse.Namespace) -> int:
    from .scoring import score_items

    items_path = Path(args.items) if args.items else default_items_path()
    if not items_path.exists():
        raise DataError(items_path, None, "QA items file not found; pass --items ITEMS.jsonl")
    all_items = read_items(items_path)
    for pred_path in args.predictions:
        preds = read_predictions(pred_path)
        split, level = _infer_split_level(args, preds.provenance, set(preds.rows), all_items)
        items = select_items(all_items, split, level)
        if not items:
            raise DataError(items_path, None, f"no items with split={split} level={level}")
        scores = score_items(items, preds, args.matcher, model=args.model, warn=False)
        report = scores.attrs["report"]
        table = metrics_table(scores)
        missing = scores.groupby(["level", "topic"])["missing"].sum()
        show = table[table["dataset"] == "all"].copy()
        show["missing"] = [int(missing.get((lv, t), 0)) if t != "all" else int(scores["missing"].sum())
                           for lv, t in zip(show["level"], show["topic"], strict=True)]
        show = show[["level", "topic", "n", "accuracy", "weighted_accuracy", "macro_f1", "random_guess", "missing"]]
        show = show.rename(columns={"weighted_accuracy": "weighted accuracy", "macro_f1": "macro-F1",
                                    "random_guess": "random guess"})
        model = scores["model"].iloc[0]
        print(f"# {pred_path}: model={model} matcher={args.matcher} split={split} level={level}")
        print(show.to_markdown(index=False, floatfmt=".4f"))
        for key in ("n_missing", "n_errors"):
            print(f"{key}: {report[key]}")
        if report["unknown_ids"]:
            print(f"unknown ids: {len(report['unknown_ids'])} (e.g. {report['unknown_ids'][:3]})")
        if report["duplicate_ids"]:
            print(f"duplicate ids: {len(report['duplicate_ids'])}")
        if args.out:
            out = Path(args.out) if len(args.predictions) == 1 else Path(args.out) / f"{Path(pred_path).stem}"
            write_table(table, out.with_suffix(""))
            print(f"wrote {out.with_suffix('.csv')}", file=sys.stderr)
        if args.scores_out:
            from ..io import write_text_atomic

            write_text_atomic(args.scores_out, scores.to_csv(index=False, lineterminator="\n"))
    return 0


def cmd_baselines(args: argparse.Namespace) -> int:
    from .baselines import BASELINES, model_id, run_baseline

    run = RunPaths(args.source, args.profile, args.run_seed)
    items_path = Path(args.items) if args.items else run.qa_items
    if not items_path.exists():
        raise DataError(items_path, None, "QA items file not found; pass --items ITEMS.jsonl")
    all_items = read_items(items_path)
    items = select_items(all_items, args.split, args.level)
    train = select_items(all_items, "train", None)
    names = args.baseline or list(BASELINES)
    for name in names:
        if args.out_dir:
            out = Path(args.out_dir) / model_id(name).replace("/", "__") / f"{args.split}_{args.level}.jsonl"
        else:
            out = run.predictions(model_id(name), args.split, args.level)
        run_baseline(name, items, out, seed=args.seed, train_items=train)
        print(f"{model_id(name)}: {len(items)} items -> {out}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "score", help="score prediction files (official or strict matcher) and print per-topic metrics",
        description="Match each model output to options, score it against the QA items and print per-topic "
        "accuracy, weighted (balanced) accuracy, macro-F1, random-guess level and missing counts. Missing "
        "predictions are scored wrong and counted. Metrics are fractions in [0, 1].")
    p.add_argument("predictions", nargs="+", help="prediction JSONL file(s) (mammovqa.predictions format)")
    p.add_argument("--matcher", choices=("official", "strict"), default="strict",
                   help="official: the MammoVQA scorer with its quirks (comparable with the paper); "
                   "strict: corrected rules (default)")
    p.add_argument("--items", help="QA items JSONL (default: data/$MAMMOVQA_RUN/qa/items.jsonl, else the "
                   "phantom-default run)")
    p.add_argument("--split", choices=SPLITS, help="items to score (default: from the file's provenance or ids)")
    p.add_argument("--level", choices=LEVELS, help="items to score (default: from the file's provenance or ids)")
    p.add_argument("--model", help="model id for the tables (default: from the prediction file)")
    p.add_argument("--out", help="write the metrics table here (CSV + Markdown; a folder when several files)")
    p.add_argument("--scores-out", help="write the per-item score table (CSV) here")
    p.set_defaults(func=cmd_score)

    b = subparsers.add_parser(
        "baselines", help="write prediction files of weight-free baselines (random, train prior, first option)",
        description="Write baselines as ordinary prediction files, so they are scored like models: "
        "baseline/random (seeded per item), baseline/prior (most frequent train answer per topic), "
        "baseline/first-option (always option A).")
    b.add_argument("--items", help="QA items JSONL (default: the run's data/<run>/qa/items.jsonl)")
    b.add_argument("--split", choices=SPLITS, default="test", help="split to answer (default: test)")
    b.add_argument("--level", choices=LEVELS, default="image", help="level to answer (default: image)")
    b.add_argument("--seed", type=int, default=0, help="seed of the random baseline (default: 0)")
    b.add_argument("--baseline", action="append", choices=("random", "prior", "first-option"),
                   help="which baseline (repeatable; default: all three)")
    b.add_argument("--out-dir", help="folder for <model>/<split>_<level>.jsonl (default: the run's predictions)")
    b.add_argument("--source", default="phantom", help="run source for default paths (default: phantom)")
    b.add_argument("--profile", default="default", help="run profile for default paths (default: default)")
    b.add_argument("--run-seed", type=int, default=0, help="run seed for default paths (default: 0)")
    b.set_defaults(func=cmd_baselines)
