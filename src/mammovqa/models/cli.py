"""``mammovqa predict`` and ``mammovqa models list|build-tiny|import``.

Defaults come from ``mammovqa.paths.RunPaths`` so Make, notebooks and the CLI agree on every file.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from ..paths import LOCAL_MODELS_DIR, RunPaths
from ..runargs import run_arguments


def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--split", default="test", choices=("train", "val", "test", "external"))
    p.add_argument("--level", default="image", choices=("image", "exam"))
    p.add_argument("--items", type=Path, help="QA items JSONL (default: the run's qa/items.jsonl)")
    p.add_argument("--out", type=Path, help="prediction file (default: results/<run>/predictions/<model>/...)")


def _items(args: argparse.Namespace) -> tuple[list[Any], Path]:
    from ..qa.items import read_items

    run = RunPaths(args.source, args.profile, args.seed)
    items = read_items(args.items or run.qa_items, split=args.split, level=args.level)
    out = args.out or run.predictions(args.model, args.split, args.level)
    return items, out


def cmd_predict(args: argparse.Namespace) -> int:
    from .predict import parse_shard, predict

    items, out = _items(args)
    if args.limit:
        items = items[: args.limit]
    summary = predict(args.model, items, out, backend=args.backend, batch_size=args.batch_size,
                      max_new_tokens=args.max_new_tokens, seed=args.seed, shard=parse_shard(args.shard),
                      base_url=args.base_url, model_path=args.model_path, served_model=args.served_model,
                      concurrency=args.concurrency, timeout_s=args.timeout, retries=args.retries,
                      device=args.device, progress=not args.quiet,
                      on_model_change="restart" if args.restart_if_model_changed else "error",
                      api_key=args.api_key or os.environ.get("OPENAI_API_KEY") or None)
    print(json.dumps({"out": str(out), **summary}, sort_keys=True))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from .registry import availability, load_models

    rows = []
    for spec in load_models().values():
        ok, where = availability(spec)
        rows.append({"id": spec.id, "name": spec.name, "family": spec.family, "native": spec.native,
                     "multi_image": spec.multi_image, "role": spec.role, "available": ok, "where": where})
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    for r in rows:
        flag = "yes" if r["available"] else "no "
        print(f"{r['id']:<26} {r['family']:<12} multi={str(r['multi_image']):<5} available={flag} {r['where']}")
    return 0


def cmd_build_tiny(args: argparse.Namespace) -> int:
    from .tiny import build_tiny_vlm

    path = build_tiny_vlm(args.out, seed=args.seed, image_size=args.image_size)
    print(path)
    return 0


def attach_official_keys(items: list[Any], benchmark: Path) -> int:
    """Give each item the key it has in an official-layout benchmark file, matched by item id (its sidecar).

    Why by id: the result JSON's keys "1".."N" are positions in one benchmark file; only that file's sidecar
    says which of our items each position is. A positional guess mapped a test file's answers onto external
    items. Returns how many items got a key.
    """
    from ..qa.official import read_official_json

    keys = {it.id: it.extra["official_key"] for it in read_official_json(benchmark)}
    n = 0
    for it in items:
        if it.id in keys:
            it.extra = dict(it.extra or {}) | {"official_key": keys[it.id]}
            n += 1
    return n


def cmd_import(args: argparse.Namespace) -> int:
    from .imported import import_predictions

    items, out = _items(args)
    fmt = args.format or ("official" if args.source_file.suffix.lower() == ".json" else None)
    if fmt == "official" and not any("official_key" in (it.extra or {}) for it in items):
        run = RunPaths(args.source, args.profile, args.seed)
        bench = args.benchmark or run.official_json(args.level, args.split)
        if bench.exists():
            attach_official_keys(items, bench)
    print(json.dumps(import_predictions(args.model, args.source_file, items, out, fmt=args.format, seed=args.seed)))
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "predict", parents=[run_arguments("run seed; also seeds decoding (default: %(default)s)")],
        help="run a model over QA items (transformers or an OpenAI-compatible server)",
        description="Answer every QA item of a split/level with one model and append to its prediction file. "
        "Resumable (ids already answered are skipped), shardable (--shard i/n), per-item errors recorded.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", required=True, help="registry id (data_manifest/models.yaml) or checkpoint folder")
    _run_args(p)
    p.add_argument("--backend", default="hf", choices=("hf", "openai"))
    p.add_argument("--base-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1 (backend openai)")
    p.add_argument("--served-model", help="model name on the server (default: the registry hf_id or --model)")
    p.add_argument("--api-key", default=None,
                   help="bearer token for an authenticated server (backend openai; default: $OPENAI_API_KEY; "
                   "never written to the prediction file)")
    p.add_argument("--model-path", help="checkpoint folder overriding the registry lookup (backend hf)")
    p.add_argument("--shard", default="0/1", help="process only items whose id hashes to shard i of n")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-new-tokens", type=int, default=16)
    p.add_argument("--concurrency", type=int, default=4, help="parallel requests (backend openai)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per request (backend openai)")
    p.add_argument("--retries", type=int, default=3, help="retries per request (backend openai)")
    p.add_argument("--device", help="cpu, cuda, cuda:1 (default: cuda when available)")
    p.add_argument("--limit", type=int, help="only the first N items (smoke tests)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--restart-if-model-changed", action="store_true",
                   help="if OUT was written by another source (weights, backend, served model, prompts or items), "
                   "start it over (default: stop with an error)")
    p.set_defaults(func=cmd_predict)

    m = subparsers.add_parser("models", help="model registry: list, build the tiny offline VLM, import predictions",
                              description="Inspect the model registry and manage local models.")
    msub = m.add_subparsers(dest="models_command", metavar="SUBCOMMAND")
    m.set_defaults(func=lambda a: (m.print_help(), 0)[1])
    ls = msub.add_parser("list", help="registry entries and whether their weights are available here")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=cmd_list)
    bt = msub.add_parser("build-tiny", help="build the tiny random-init VLM (offline) for pipeline tests",
                         formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    bt.add_argument("--out", type=Path, default=LOCAL_MODELS_DIR / "tiny-vlm")
    bt.add_argument("--seed", type=int, default=0)
    bt.add_argument("--image-size", type=int, default=64)
    bt.set_defaults(func=cmd_build_tiny)
    im = msub.add_parser("import", parents=[run_arguments()], help="import predictions made with a model's own code (docs/models.md)",
                         formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    im.add_argument("--model", required=True, help="registry id the predictions belong to")
    im.add_argument("source_file", type=Path, help="JSONL/CSV with id+output, or official result JSON")
    im.add_argument("--format", choices=("jsonl", "csv", "official"), help="default: from the file suffix")
    im.add_argument("--benchmark", type=Path,
                    help="format official: the official-layout benchmark file whose keys the result uses (its "
                    ".mammovqa.jsonl sidecar maps keys to item ids; default: the run's export for --split/--level)")
    _run_args(im)
    im.set_defaults(func=cmd_import)
