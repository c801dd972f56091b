"""The ``mammovqa`` command. Each area registers its own sub-commands (``<area>/cli.py: register``).

    mammovqa data build|inspect|prepare|verify ...   benchmark data (phantom or real datasets)
    mammovqa predict ...                             run a model (transformers, OpenAI-compatible server, baselines)
    mammovqa score PREDICTIONS.jsonl ...             score a prediction file (official or strict matcher)
    mammovqa train ...                               fine-tune (LoRA recipe, tiny VLM, closed-set baselines)
    mammovqa stats ...                               significance, equivalence, CIs, robustness
    mammovqa report ...                              report generation (AMRG)
    mammovqa stage zero-shot|finetune|closed-set|circular   the expensive steps `make` runs
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
from types import ModuleType

from .errors import MammoVQAError

# (area module, help line). A module missing here means that area is not installed in this build.
AREAS = (
    ("mammovqa.data.cli", "benchmark data: build, inspect, prepare, verify, import official JSON"),
    ("mammovqa.models.cli", "predict: run a model or baseline over QA items"),
    ("mammovqa.eval.cli", "score: score prediction files"),
    ("mammovqa.eval.open_cli", "open: open-ended MammoVQA items, baselines and scores (clinical fact extractor)"),
    ("mammovqa.train.cli", "train: fine-tuning and closed-set baselines"),
    ("mammovqa.stats.cli", "stats: tests against random guess, CIs, paired comparisons"),
    ("mammovqa.report.cli", "report: report generation data, training, metrics"),
    ("mammovqa.pipeline", "stage: run an expensive pipeline step (what make calls)"),
    ("mammovqa.export.cli", "export / import-predictions: Hugging Face, lmms-eval, VLMEvalKit"),
)


#: OS errors that are the user's to fix (a full disk, a read-only or foreign output folder): an orderly message
#: saying what to do, not a traceback. Outputs are written atomically, so nothing half-written is left behind.
DISK_ERRNOS = {
    errno.ENOSPC: "Free disk space, or point MAMMOVQA_ROOT at a disk with room, and run the command again.",
    errno.EDQUOT: "Your disk quota is exhausted: free space or point MAMMOVQA_ROOT elsewhere, then run again.",
    errno.EROFS: "That folder is on a read-only file system: point MAMMOVQA_ROOT (or --out) at a writable one.",
    errno.EACCES: "You may not write there: fix the folder's permissions or point MAMMOVQA_ROOT (or --out) elsewhere.",
    errno.EPERM: "You may not write there: fix the folder's permissions or point MAMMOVQA_ROOT (or --out) elsewhere.",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mammovqa",
        description="Reproducible mammography VQA (MammoVQA) and report generation (AMRG). "
        "Every command reads and writes files under the run folders of mammovqa.paths; "
        "`make help` shows the pipeline that calls these commands.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name, _help in AREAS:
        module = import_optional(module_name)
        if module is not None:
            module.register(sub)
    return parser


def import_optional(module_name: str) -> ModuleType | None:
    """The module, or None when that area is absent from this build; an import error *inside* it still raises."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            return None
        raise


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except MammoVQAError as exc:
        print(f"mammovqa: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno not in DISK_ERRNOS:
            raise
        print(f"mammovqa: error: cannot write {exc.filename or 'an output file'}: {exc.strerror}. "
              f"{DISK_ERRNOS[exc.errno]}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
