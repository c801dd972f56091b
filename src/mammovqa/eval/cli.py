"""``mammovqa score`` and ``mammovqa baselines``.

Why the items file is needed: a prediction file stores outputs, not gold answers; the gold answers, topics
and ids for clustered statistics live in the QA items file of a run (``data/<run>/qa/items.jsonl``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pandas as pd

from ..errors import DataError
from ..outputs import write_table
from ..paths import ROOT, RunPaths
from ..predictions import read_predictions
from ..qa.items import SPLITS, QAItem, read_items
from ..runargs import add_run_arguments
from .metrics import metrics_table

LEVELS = ("image", "exam")


def default_items_path() -> Path:
    """``data/<run>/qa/items.jsonl`` of ``$MAMMOVQA_RUN`` (set by the Makefile), else of the phantom-default run."""
    run = os.environ.get("MAMMOVQA_RUN")
    return ROOT / "data" / run / "qa" / "items.jsonl" if run else RunPaths().qa_items


def score_blocks(pred_path: object, split: str | None, level: str | None, ids: set[str],
                 items: list[QAItem]) -> list[tuple[str, str]]:
    """The (split, level) blocks a prediction file answers, each scored on its own; never a guess.

    ``split``/``level`` come from --split/--level, else the file's provenance. Whatever they leave open is
    read from the ids present: a file answering test and external items is scored once per split, never
    against the union (which would count every item of the other split as missing). A file with no
    predictions and no split/level in its provenance (empty, provenance-only, or ids matching no item) is an
    error that says what to pass.
    """
    if split and level:
        return [(split, level)]
    combos = sorted({(it.split, it.level) for it in items if it.id in ids
                     and (split is None or it.split == split) and (level is None or it.level == level)})
    if combos:
        return combos
    what = "has no predictions" if not ids else f"has {len(ids)} predictions, none for an item of this items file"
    need = " and ".join(f"--{k}" for k, v in (("split", split), ("level", level)) if not v)
    raise DataError(pred_path, None, f"cannot tell which items to score: the file {what} and its provenance names "
                    f"no {'split/level' if not split and not level else need[2:]}; pass {need} "
                    "(e.g. --split test --level image), or check --items")


def select_items(items: list[QAItem], split: str | None, level: str | None) -> list[QAItem]:
    return [it for it in items if (split is None or it.split == split) and (level is None or it.level == level)]


def summary_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Per-topic metrics of one (split, level) block with its ``missing`` count (never above ``n``)."""
    table = metrics_table(scores)
    missing = scores.groupby("topic")["missing"].sum()
    show = table[table["dataset"] == "all"].copy()
    show["missing"] = [int(scores["missing"].sum()) if t == "all" else int(missing.get(t, 0)) for t in show["topic"]]
    show = show[["level", "topic", "n", "accuracy", "weighted_accuracy", "macro_f1", "random_guess", "missing"]]
    return show.rename(columns={"weighted_accuracy": "weighted accuracy", "macro_f1": "macro-F1",
                                "random_guess": "random guess"})


def cmd_score(args: argparse.Namespace) -> int:
    from .scoring import score_items

    items_path = Path(args.items) if args.items else default_items_path()
    if not items_path.exists():
        raise DataError(items_path, None, "QA items file not found; pass --items ITEMS.jsonl")
    all_items = read_items(items_path)
    known = {it.id for it in all_items}
    score_tables = []
    for pred_path in args.predictions:
        preds = read_predictions(pred_path)
        file_model = preds.model()  # a provenance/row model mismatch is an error, not a silent relabel
        split = args.split or preds.provenance.get("split")
        level = args.level or preds.provenance.get("level")
        blocks = score_blocks(pred_path, split, level, set(preds.rows), all_items)
        scored_ids = {it.id for it in all_items if (it.split, it.level) in set(blocks)}
        outside = sorted(set(preds.rows) & known - scored_ids)
        if outside and not (args.split or args.level):
            raise DataError(pred_path, None, f"the provenance says split={split} level={level}, but {len(outside)} "
                            f"rows answer items of another split or level (e.g. {outside[:3]}): the file mixes item "
                            "sets; re-run it, or pass --split/--level to score one part explicitly")
        if outside:
            print(f"not scored (outside --split/--level): {len(outside)} predictions (e.g. {outside[:3]})")
        for split, level in blocks:
            items = select_items(all_items, split, level)
            if not items:
                raise DataError(items_path, None, f"no items with split={split} level={level}")
            ids = {it.id for it in items}
            rows = {k: v for k, v in preds.rows.items() if k in ids or k not in known}
            scores = score_items(items, rows, args.matcher, model=args.model or file_model, warn=False)
            report = scores.attrs["report"]
            print(f"# {pred_path}: model={scores['model'].iloc[0]} matcher={args.matcher} split={split} level={level}")
            print(summary_table(scores).to_markdown(index=False, floatfmt=".4f"))
            for key in ("n_missing", "n_errors", "n_empty"):
                print(f"{key}: {report[key]}")
            if report["n_random_fill"]:  # harness rows filled in at random: no answer (counted in n_missing)
                print(f"n_random_fill: {report['n_random_fill']}")
            if report["unknown_ids"]:
                print(f"unknown ids: {len(report['unknown_ids'])} (e.g. {report['unknown_ids'][:3]})")
            if args.out:
                out = Path(args.out) if len(args.predictions) == 1 else Path(args.out) / f"{Path(pred_path).stem}"
                out = out.with_suffix("")
                if len(blocks) > 1:
                    out = out.with_name(f"{out.name}_{split}_{level}")
                write_table(metrics_table(scores), out)
                print(f"wrote {out}.csv", file=sys.stderr)
            score_tables.append(scores)
        if preds.duplicates:
            print(f"duplicate ids: {len(set(preds.duplicates))}")
    if args.scores_out:
        from ..io import write_text_atomic

        write_text_atomic(args.scores_out, pd.concat(score_tables).to_csv(index=False, lineterminator="\n"))
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
    add_run_arguments(b, with_seed=False)  # the run whose default paths are used; its seed is --run-seed
    b.add_argument("--run-seed", type=int, default=0, help="run seed for default paths (default: 0)")
    b.set_defaults(func=cmd_baselines)
