"""``mammovqa train ...``: fine-tune a VLM with a recipe (configs/train/*.yaml), or the closed-set baselines."""

from __future__ import annotations

import argparse
import json

from ..runargs import run_arguments


def _train_vqa(args: argparse.Namespace) -> int:
    from .finetune import finetune

    summary = finetune(args.recipe, args.source, args.profile, args.seed, base_path=args.base_path,
                       max_steps=args.max_steps, epochs=args.epochs)
    print(json.dumps(summary, indent=1, default=str))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="fine-tuning (LoRA recipe, tiny VLM) and closed-set baselines",
                              description="Fine-tune models on a run's train split.")
    sub = p.add_subparsers(dest="train_command", metavar="TRAIN_COMMAND")
    v = sub.add_parser("vqa", parents=[run_arguments()], help="fine-tune a chat VLM on QA items (targets = option text)",
                       description="Train with a recipe: configs/train/llava_mammo.yaml is the paper's LoRA recipe "
                       "(GPU; launch under `accelerate launch`), configs/train/tiny_cpu.yaml the CPU default on the "
                       "tiny offline VLM. Checkpoints go to results/<run>/train/<recipe name>/ and a re-run resumes "
                       "from the latest one; the final model is registered for `mammovqa predict --model <name>`.")
    v.add_argument("--recipe", default="tiny_cpu.yaml", help="recipe YAML (path or name under configs/train/)")
    v.add_argument("--base-path", default=None, help="weights of the base model (default: registry lookup)")
    v.add_argument("--epochs", type=float, default=None, help="override the profile/recipe epochs")
    v.add_argument("--max-steps", type=int, default=-1, help="stop after this many optimiser steps (smoke checks)")
    v.set_defaults(func=_train_vqa)
    try:
        from .closed_set import register as register_closed_set
    except ImportError:
        pass
    else:
        register_closed_set(sub)
    p.set_defaults(func=lambda a: p.print_help() or 0)
