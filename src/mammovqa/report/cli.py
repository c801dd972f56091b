"""``mammovqa report ...``: the report-generation stage (AMRG) and scoring of any generations file.

    mammovqa report stage --source phantom --profile default --seed 0   data -> train -> generate -> metrics
        (what `mammovqa stage report` runs, with options: another recipe, METEOR backend, --force)
    mammovqa report score GENERATIONS.jsonl [--meteor 1.5|nltk|none]    metrics of one generations file
    mammovqa report grid [--grid report_lora_grid.yaml]                 the LoRA rank/alpha grid as recipes
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..paths import RunPaths
from ..runargs import run_arguments


def _stage(args: argparse.Namespace) -> int:
    from ..train.recipe import load_recipe
    from .stage import caps_for, clean_stage, run_report_stage

    run = RunPaths(args.source, args.profile, args.seed)
    if args.force:
        clean_stage(run, load_recipe(args.recipe).name)
    caps = caps_for(args.profile)
    if args.max_new_tokens:
        caps = caps.model_copy(update={"max_new_tokens": args.max_new_tokens})
    result = run_report_stage(run, args.recipe, base_path=args.base_path, caps=caps, meteor=args.meteor,
                              force=args.force, max_steps=args.max_steps)
    print(json.dumps({k: result[k] for k in ("run", "counts", "seconds", "meteor_impl", "variables")}, indent=1))
    return 0


def score_file(path: str, meteor: str = "auto", n_boot: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Metrics (value and patient-clustered 95% CI) of one generations JSONL."""
    import numpy as np

    from ..stats.report_intervals import value_interval
    from .stage import choose_meteor, score_systems
    from .train import read_generations

    _, rows = read_generations(path)
    refs = [{"id": r["id"], "patient_id": r.get("patient_id", r["id"]), "report": r["reference"]} for r in rows]
    backend = choose_meteor(meteor)
    sc = score_systems({"file": [r["generated"] for r in rows]}, refs, backend, n_boot, seed)["file"]
    metrics = {}
    for key, value in sc.corpus.items():  # the interval of each reported value itself, not of a pair mean
        ci = value_interval(sc, key, n_boot, seed)
        ok = np.isfinite(ci["ci_low"])
        metrics[key] = {"value": value, "ci_low": ci["ci_low"] if ok else None,
                        "ci_high": ci["ci_high"] if ok else None}
    return {"file": str(path), "pairs": sc.counts["pairs"], "meteor": sc.implementations["meteor"],
            "metrics": metrics, "counts": sc.counts}


def _score(args: argparse.Namespace) -> int:
    out = score_file(args.generations, args.meteor, args.n_boot, args.seed)
    if args.json:
        print(json.dumps(out, indent=1, default=float))
        return 0
    print(f"{out['file']}: {out['pairs']} pairs; METEOR = {out['meteor']}")
    for key, m in out["metrics"].items():
        ci = "" if m["ci_low"] is None else f"  [{m['ci_low']:.4f}, {m['ci_high']:.4f}]"
        print(f"  {key:<18} {m['value']:.4f}{ci}")
    return 0


def _grid(args: argparse.Namespace) -> int:
    from .train import load_grid

    for r in load_grid(args.grid):
        print(f"{r.name}: base {r.base_model}, r={r.lora['r']}, alpha={r.lora['alpha']}, lr={r.learning_rate}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report", help="report generation (AMRG): stage, score, grid", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="report_command", metavar="SUBCOMMAND")

    s = sub.add_parser("stage", parents=[run_arguments()], help="build report data, fine-tune, generate, score against baselines")
    s.add_argument("--recipe", default="report_tiny_cpu.yaml", help="configs/train/*.yaml (report_lora.yaml: GPU)")
    s.add_argument("--base-path", default=None, help="base weights folder (default: registry / tiny VLM)")
    s.add_argument("--meteor", default="auto", choices=("auto", "1.5", "nltk", "none"))
    s.add_argument("--max-new-tokens", type=int, default=None, help="override the profile's generation budget")
    s.add_argument("--max-steps", type=int, default=-1, help="stop training after this many steps (debugging)")
    s.add_argument("--force", action="store_true", help="retrain and regenerate even if the outputs exist")
    s.set_defaults(func=_stage)

    c = sub.add_parser("score", help="metrics of a generations JSONL (id, generated, reference[, patient_id])")
    c.add_argument("generations")
    c.add_argument("--meteor", default="auto", choices=("auto", "1.5", "nltk", "none"))
    c.add_argument("--n-boot", type=int, default=2000)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=_score)

    g = sub.add_parser("grid", help="list the LoRA rank/alpha grid recipes")
    g.add_argument("--grid", default="report_lora_grid.yaml")
    g.set_defaults(func=_grid)
    p.set_defaults(func=lambda _a: p.print_help() or 0)
