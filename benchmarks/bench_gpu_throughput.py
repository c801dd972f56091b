"""GPU throughput of MammoVQA inference at 7B scale, without downloading anything (run on a GPU machine).

What it measures, with random weights (throughput does not depend on the weight values):

1. ``hf``: a Qwen2-VL model with the 7B dimensions (28 layers, hidden 3584, 32-layer ViT) built from its
   config in bf16 on the GPU; ``generate`` with the protocol's shape (one 448x448 image -> 256 visual tokens, a
   ~110-token prompt, 16 new tokens, greedy, as ``mammovqa predict --max-new-tokens 16`` does), batch 1 against
   batched (``--batch-sizes``). Inputs are synthetic token ids and pixel values: the transformers processor and
   tokenizer would need the Hub, so the adapter's own pre-processing (a CPU cost, overlapped in practice) is not
   in these numbers.
2. ``vllm`` (when vLLM is installed): the same architecture served with ``load_format="dummy"`` from a local
   folder holding only ``config.json`` + a tokenizer, if one is found (``--tokenizer-dir``); items/s of
   offline ``LLM.generate`` with the same prompt shape; this is the engine behind our OpenAI backend
   (``mammovqa predict --backend openai``). Skipped with the reason otherwise.

Items per second and projected hours for the full benchmark (565,092 QA pairs) are reported; the last line
printed is a JSON object.

    python benchmarks/bench_gpu_throughput.py [--batch-sizes 1 8 32] [--n-items 64] [--tokenizer-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

N_BENCHMARK = 565_092
PROMPT_TOKENS = 110
IMAGE_SIDE = 448
NEW_TOKENS = 16


def qwen2vl_7b_config() -> Any:
    from transformers import Qwen2VLConfig

    text = {"hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28, "num_attention_heads": 28,
            "num_key_value_heads": 4, "vocab_size": 152064, "max_position_embeddings": 32768,
            "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]}}
    vision = {"depth": 32, "embed_dim": 1280, "hidden_size": 3584, "num_heads": 16, "patch_size": 14,
              "spatial_merge_size": 2, "temporal_patch_size": 2}
    return Qwen2VLConfig(text_config=text, vision_config=vision, dtype="bfloat16")


def synthetic_batch(cfg: Any, batch: int, device: str) -> dict[str, Any]:
    """Token ids with the image placeholder run, pixel patches and grid for one 448x448 image per item."""
    import torch

    grid = IMAGE_SIDE // cfg.vision_config.patch_size  # 32 x 32 patches
    n_patches = grid * grid
    n_visual = n_patches // cfg.vision_config.spatial_merge_size ** 2  # 256 tokens after merging
    gen = torch.Generator().manual_seed(0)
    text = torch.randint(100, 150000, (batch, PROMPT_TOKENS), generator=gen)
    img = torch.full((batch, n_visual), cfg.image_token_id)
    start = torch.full((batch, 1), cfg.vision_start_token_id)
    end = torch.full((batch, 1), cfg.vision_end_token_id)
    ids = torch.cat([text[:, :8], start, img, end, text[:, 8:]], dim=1)
    patch_dim = 3 * cfg.vision_config.temporal_patch_size * cfg.vision_config.patch_size ** 2
    pixels = torch.randn(batch * n_patches, patch_dim, generator=gen).to(torch.bfloat16)
    thw = torch.tensor([[1, grid, grid]] * batch)
    return {"input_ids": ids.to(device), "attention_mask": torch.ones_like(ids).to(device),
            "pixel_values": pixels.to(device), "image_grid_thw": thw.to(device)}


def bench_hf(batch_sizes: list[int], n_items: int) -> dict[str, Any]:
    import torch
    from transformers import Qwen2VLForConditionalGeneration

    cfg = qwen2vl_7b_config()
    t = time.perf_counter()
    with torch.device("cuda"):
        model = Qwen2VLForConditionalGeneration._from_config(cfg, dtype=torch.bfloat16)
    model.eval()
    build_s = time.perf_counter() - t
    n_params = sum(p.numel() for p in model.parameters())
    out: dict[str, Any] = {"params_b": round(n_params / 1e9, 2), "build_s": round(build_s, 1), "batches": {}}
    for bs in batch_sizes:
        inputs = synthetic_batch(cfg, bs, "cuda")
        kw = {"max_new_tokens": NEW_TOKENS, "min_new_tokens": NEW_TOKENS, "do_sample": False}
        with torch.inference_mode():
            model.generate(**inputs, **kw)  # warm-up (kernels, caches)
            torch.cuda.synchronize()
            steps = max(1, n_items // bs)
            t = time.perf_counter()
            for _ in range(steps):
                model.generate(**inputs, **kw)
            torch.cuda.synchronize()
        dt = time.perf_counter() - t
        ips = steps * bs / dt
        out["batches"][str(bs)] = {"items_per_s": round(ips, 2), "hours_full_benchmark": round(N_BENCHMARK / ips / 3600, 1),
                                   "peak_mem_gb": round(torch.cuda.max_memory_allocated() / 2**30, 1)}
    del model
    torch.cuda.empty_cache()
    return out


def bench_vllm(tokenizer_dir: Path | None, n_items: int) -> dict[str, Any]:
    try:
        from vllm import LLM, SamplingParams
    except ImportError as exc:
        return {"skipped": f"vllm not installed ({exc.name})"}
    if tokenizer_dir is None or not tokenizer_dir.exists():
        return {"skipped": "vLLM needs a tokenizer even with load_format='dummy'; pass --tokenizer-dir with a "
                           "Qwen2-VL tokenizer folder (no Hub access here)"}
    import shutil

    import numpy as np
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        qwen2vl_7b_config().save_pretrained(folder)
        for f in tokenizer_dir.iterdir():
            if f.is_file() and f.name != "config.json" and not f.name.endswith((".safetensors", ".bin")):
                shutil.copy(f, folder / f.name)
        llm = LLM(model=str(folder), load_format="dummy", dtype="bfloat16", max_model_len=2048,
                  limit_mm_per_prompt={"image": 1}, seed=0)
        img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (IMAGE_SIDE, IMAGE_SIDE, 3), dtype=np.uint8))
        prompt = ("<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>" + "word " * PROMPT_TOKENS
                  + "<|im_end|>\n<|im_start|>assistant\n")
        reqs = [{"prompt": prompt, "multi_modal_data": {"image": img}} for _ in range(n_items)]
        params = SamplingParams(max_tokens=NEW_TOKENS, min_tokens=NEW_TOKENS, temperature=0)
        llm.generate(reqs[:8], params)  # warm-up
        t = time.perf_counter()
        llm.generate(reqs, params)
        ips = n_items / (time.perf_counter() - t)
    return {"items_per_s": round(ips, 2), "hours_full_benchmark": round(N_BENCHMARK / ips / 3600, 1)}


def main() -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--n-items", type=int, default=64, help="items timed per batch size")
    ap.add_argument("--tokenizer-dir", type=Path)
    ap.add_argument("--skip-vllm", action="store_true")
    args = ap.parse_args()
    import torch

    if not torch.cuda.is_available():
        result = {"skipped": "no CUDA device; run this on a GPU machine"}
    else:
        result = {"device": torch.cuda.get_device_name(0), "hf": bench_hf(args.batch_sizes, args.n_items)}
        if not args.skip_vllm:
            result["vllm"] = bench_vllm(args.tokenizer_dir, max(args.n_items, 256))
    result["shape"] = {"image": IMAGE_SIDE, "prompt_tokens": PROMPT_TOKENS, "new_tokens": NEW_TOKENS,
                       "n_benchmark": N_BENCHMARK}
    print(json.dumps(result, sort_keys=True))
    return result


if __name__ == "__main__":
    main()
