"""Phantom generation speed on the default profile (target: under 60 s on a 2-core machine).

Runs the whole default profile into a temporary folder with one worker and with two, checks that both give
byte-identical files, and prints a JSON summary as its last line (the figure the README and paper quote).
Usage: ``python benchmarks/bench_phantom.py [--profile default] [--workers 2] [--seed 0]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import tempfile
import time
from pathlib import Path

from mammovqa.config import get_profile
from mammovqa.data.phantom import generate

TARGET_WALL_S = 60.0


def tree_digest(root: Path) -> tuple[int, str]:
    """(number of PNGs, one hash over all file names and bytes) of a generated folder."""
    h = hashlib.sha256()
    n = 0
    for p in sorted(root.rglob("*.png")):
        h.update(p.relative_to(root).as_posix().encode())
        h.update(p.read_bytes())
        n += 1
    return n, h.hexdigest()


def run(profile: str, workers: int, seed: int, out: Path) -> dict:
    """One generation; CPU seconds (own + worker processes) are reported because wall time on a shared
    machine says more about the neighbours than about the generator."""
    t0, c0 = time.perf_counter(), time.process_time()
    k0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    records, summary = generate(out, get_profile(profile), seed=seed, workers=workers)
    wall = time.perf_counter() - t0
    k1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = time.process_time() - c0 + (k1.ru_utime - k0.ru_utime) + (k1.ru_stime - k0.ru_stime)
    n_png, digest = tree_digest(out)
    full = sum(1 for r in records for _ in r.images if r.kind in ("breast", "exam"))
    full += sum(1 for _ in out.rglob("source/*.png"))
    return {"workers": workers, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "records": len(records),
            "images": n_png, "full_images": full, "crops": n_png - full, "sha256": digest,
            "files": summary["files"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="default")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_phantom_") as tmp:
        serial = run(args.profile, 1, args.seed, Path(tmp) / "w1")
        print(json.dumps(serial))
        parallel = run(args.profile, args.workers, args.seed, Path(tmp) / f"w{args.workers}")
        print(json.dumps(parallel))
    cores = min(args.workers, os.cpu_count() or 1)
    best = min(serial["wall_s"], parallel["wall_s"])
    result = {
        "profile": args.profile,
        "images": parallel["images"],
        "records": parallel["records"],
        "wall_s": parallel["wall_s"],
        "wall_s_1_worker": serial["wall_s"],
        "workers": args.workers,
        "full_images": parallel["full_images"],
        "crops": parallel["crops"],
        "cpu_s": parallel["cpu_s"],
        "cpu_s_1_worker": serial["cpu_s"],
        "images_per_s_per_core": round(serial["images"] / serial["wall_s"], 1),
        "images_per_s_parallel_per_core": round(parallel["images"] / parallel["wall_s"] / cores, 1),
        "images_per_cpu_s": round(serial["images"] / serial["cpu_s"], 1),
        "identical_across_workers": serial["sha256"] == parallel["sha256"],
        "target_wall_s": TARGET_WALL_S,
        "met": best < TARGET_WALL_S and serial["sha256"] == parallel["sha256"],
        "load_avg_1min": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
