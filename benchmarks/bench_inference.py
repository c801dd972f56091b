"""Items/s of batched inference vs batch size 1 (the official adapters' way), same tiny model, same items.

Run: ``.venv/bin/python benchmarks/bench_inference.py [--items 64] [--batch 32]``. The last line is JSON.
Both settings produce identical answers (checked); only throughput differs.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

from mammovqa.models.hf import HFModel, Request
from mammovqa.models.tiny import build_tiny_vlm
from mammovqa.qa.items import build_prompt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory() as tmp:
        model = HFModel(build_tiny_vlm(Path(tmp) / "tiny", seed=0), max_new_tokens=a.max_new_tokens)
        # force the full token budget so both settings do the same work
        model.generate_kwargs["min_new_tokens"] = a.max_new_tokens
        reqs = [Request(build_prompt("Which breast is shown in this mammogram?", ["Right", "Left"][:: 1 - 2 * (i % 2)],
                                     "single"), [Image.new("RGB", (64, 96), (i * 7 % 255,) * 3)])
                for i in range(a.items)]
        model.generate(reqs[:2])  # warm-up
        t0 = time.perf_counter()
        single = [model.generate([r])[0] for r in reqs]
        t_single = time.perf_counter() - t0
        t0 = time.perf_counter()
        batched = [o for s in range(0, len(reqs), a.batch) for o in model.generate(reqs[s:s + a.batch])]
        t_batch = time.perf_counter() - t0
    res = {"items": a.items, "batch_size": a.batch, "max_new_tokens": a.max_new_tokens, "threads": a.threads,
           "items_per_s_batch1": round(a.items / t_single, 2), "items_per_s_batched": round(a.items / t_batch, 2),
           "speedup": round(t_single / t_batch, 2), "same_outputs": single == batched, "device": "cpu"}
    print(json.dumps(res, sort_keys=True))


if __name__ == "__main__":
    main()
