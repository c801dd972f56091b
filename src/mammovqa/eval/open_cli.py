"""``mammovqa open build|baselines|predict|score``: the open-ended MammoVQA items, their baselines and their scores.

Everything lives apart from the closed benchmark so that its items, predictions and scores never change:
open items in ``data/<run>/qa/open_items.jsonl``, open predictions and scores under ``results/<run>/open/``
(not ``results/<run>/predictions/``, which the closed-set analysis reads).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import DataError
from ..io import write_text_atomic
from ..paths import RunPaths, safe_name
from ..predictions import read_predictions
from ..qa.items import SPLITS, read_items, write_items
from ..qa.open import build_open_items, open_items_path
from ..runargs import run_arguments
from .open_scoring import OPEN_BASELINES, open_model_id, open_summary, run_open_baseline, score_open


def open_results(run: RunPaths) -> Path:
    """Folder of a run's open-ended predictions and scores."""
    return run.results / "open"


def open_predictions_path(run: RunPaths, model: str, split: str) -> Path:
    return open_results(run) / "predictions" / safe_name(model) / f"{split}.jsonl"


def _run(args: argparse.Namespace) -> RunPaths:
    return RunPaths(args.source, args.profile, args.seed)


def _open_items(run: RunPaths) -> list:
    path = open_items_path(run)
    if not path.exists():
        raise DataError(path, None, f"open items not built; run `mammovqa open build --source {run.source} "
                        f"--profile {run.profile} --seed {run.seed}` first")
    return read_items(path)


def cmd_build(args: argparse.Namespace) -> int:
    run = _run(args)
    if not run.qa_items.exists():
        raise DataError(run.qa_items, None, f"closed QA items not found; run `mammovqa data build --source "
                        f"{run.source} --profile {run.profile}` first")
    items = build_open_items(read_items(run.qa_items), args.seed)
    n = write_items(open_items_path(run), items)
    print(f"{n} open items -> {open_items_path(run)}")
    return 0


def cmd_baselines(args: argparse.Namespace) -> int:
    run = _run(args)
    items = _open_items(run)
    train = [it for it in items if it.split == "train"]
    chosen = [it for it in items if it.split == args.split]
    for name in args.baseline or OPEN_BASELINES:
        out = open_predictions_path(run, open_model_id(name), args.split)
        run_open_baseline(name, chosen, out, seed=args.baseline_seed, train_items=train)
        print(f"{open_model_id(name)}: {len(chosen)} items -> {out}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from ..models.predict import load_model
    from .open_predict import predict_open

    run = _run(args)
    chosen = [it for it in _open_items(run) if it.split == args.split][: args.max_items or None]
    model = load_model(args.model, max_new_tokens=args.max_new_tokens, seed=args.seed, model_path=args.model_path)
    out = Path(args.out) if args.out else open_predictions_path(run, args.model, args.split)
    summary = predict_open(model, args.model, chosen, out, seed=args.seed, batch_size=args.batch_size)
    print(f"{args.model}: {summary} -> {out}")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    run = _run(args)
    items = _open_items(run)
    if not Path(args.predictions).exists():
        raise DataError(args.predictions, None, "prediction file not found; write one with `mammovqa open "
                        "baselines` or a model run over the open items")
    preds = read_predictions(args.predictions)
    split = args.split or preds.provenance.get("split") or _split_of(args.predictions, preds.rows, items)
    chosen = [it for it in items if it.split == split]
    scores = score_open(chosen, preds, [it for it in items if it.split == "train"])
    unknown = sorted(set(preds.rows) - {it.id for it in items})
    print(f"# {args.predictions}: model={preds.model()} split={split} n={len(scores)} "
          f"answered={int(scores['answered'].sum())} unknown_ids={len(unknown)}")
    for name, table in open_summary(scores).items():
        print(f"\n## {name}\n{table.to_markdown(index=False, floatfmt='.4f')}")
    if args.scores_out:
        write_text_atomic(args.scores_out, scores.to_csv(index=False, lineterminator="\n"))
    return 0


def _split_of(path: str, rows: dict, items: list) -> str:
    splits = {it.split for it in items if it.id in rows}
    if len(splits) != 1:
        raise DataError(path, None, f"the predictions answer items of {len(splits)} splits {sorted(splits)}; "
                        "pass --split")
    return splits.pop()


def register(subparsers: argparse._SubParsersAction) -> None:
    top = subparsers.add_parser("open", help="open-ended MammoVQA: build items, baselines, score",
                                description="Open-ended questions (no options) built from a run's closed items, "
                                "scored with the offline clinical fact extractor (mammovqa.eval.clinical).")
    sub = top.add_subparsers(dest="open_command", metavar="STEP", required=True)
    run = run_arguments("run seed; also seeds the open wordings (default: %(default)s)")
    b = sub.add_parser("build", parents=[run], help="write data/<run>/qa/open_items.jsonl from the run's closed items")
    b.set_defaults(func=cmd_build)
    bl = sub.add_parser("baselines", parents=[run], help="write weight-free open baselines (random option text, majority answer)")
    bl.add_argument("--split", choices=SPLITS, default="test", help="split to answer (default: test)")
    bl.add_argument("--baseline", action="append", choices=OPEN_BASELINES, help="repeatable (default: both)")
    bl.add_argument("--baseline-seed", type=int, default=0, help="seed of the random baseline (default: 0)")
    bl.set_defaults(func=cmd_baselines)
    pr = sub.add_parser("predict", parents=[run], help="answer the open items of a split with a local transformers VLM")
    pr.add_argument("--model", required=True, help="registry id (data_manifest/models.yaml) or a checkpoint folder")
    pr.add_argument("--model-path", help="weights folder when --model is a name (default: the registry's lookup)")
    pr.add_argument("--split", choices=SPLITS, default="test", help="split to answer (default: test)")
    pr.add_argument("--max-new-tokens", type=int, default=32, help="answer length cap (default: 32; a "
                    "description needs about 25 tokens of the tiny VLM)")
    pr.add_argument("--batch-size", type=int, default=8, help="items per generate call (default: 8)")
    pr.add_argument("--max-items", type=int, help="answer only the first N items of the split, in id order")
    pr.add_argument("--out", help="prediction file (default: results/<run>/open/predictions/<model>/<split>.jsonl)")
    pr.set_defaults(func=cmd_predict)
    s = sub.add_parser("score", parents=[run], help="score an open prediction file per topic, dataset and fact")
    s.add_argument("predictions", help="prediction JSONL (mammovqa.predictions format) answering open items")
    s.add_argument("--split", choices=SPLITS, help="split to score (default: the one the predictions answer)")
    s.add_argument("--scores-out", help="write the per-item score table (CSV) here")
    s.set_defaults(func=cmd_score)
