"""Generic transformers adapter: one batched, greedy ``generate`` for every natively supported VLM family.

Why one adapter instead of one per model (as the official code has): the same prompt, chat template handling,
decoding and batching for all models make their comparison fair and fast. Decisions, each on purpose:

- greedy decoding (``do_sample=False``), ``max_new_tokens`` small (16): the answer is an option, and the official
  1,024-token budget only lets a model ramble; the budget is recorded in the provenance.
- left padding, so every row of a batch ends where generation starts.
- bf16 on GPU, fp32 on CPU (CPU bf16 matmuls are slow and lossy).
- exam items pass *all* their images to multi-image models; single-image models get the first image and the
  caller records a note (the official exam adapters pass only the first image to every model).
- processors that need torchvision (Qwen2.5-VL, InternVL video processors) are replaced on CPU by composing the
  inputs from the image processor and tokenizer (docs/protocol.md §9): image placeholders are expanded to the number of
  image tokens the model expects, exactly as the processor would.
- CUDA out of memory halves the batch and retries, down to one item.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

log = logging.getLogger(__name__)

MANUAL_FAMILIES = ("qwen2_5_vl", "qwen2_vl", "internvl")
SINGLE_IMAGE_FAMILIES = ("llava_next", "blip2", "instructblip")
MODEL_TYPE_TO_FAMILY = {"llava": "llava", "llava_next": "llava_next", "qwen2_5_vl": "qwen2_5_vl",
                        "qwen2_vl": "qwen2_5_vl", "internvl": "internvl", "gemma3": "gemma3", "blip-2": "blip2",
                        "instructblip": "instructblip"}


@dataclass
class Request:
    """One model call: the exact prompt and the images it is about (already opened, RGB)."""

    prompt: str
    images: list[Image.Image]
    notes: list[str] = field(default_factory=list)


def load_rgb(path: str | Path) -> Image.Image:
    """Open an image as RGB (mammograms are grayscale; every VLM expects three channels)."""
    with Image.open(path) as im:
        im.load()
        return im.convert("RGB")


def _is_oom(exc: BaseException) -> bool:
    import torch

    oom = getattr(torch, "OutOfMemoryError", None)
    if oom is not None and isinstance(exc, oom):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


class HFModel:
    """A local transformers VLM checkpoint wrapped for batched, deterministic question answering."""

    def __init__(self, path: str | Path, *, family: str | None = None, multi_image: bool | None = None,
                 device: str | None = None, dtype: str | None = None, max_new_tokens: int = 16,
                 chat_template: str = "processor", seed: int = 0, generate_kwargs: dict[str, Any] | None = None):
        import torch
        from transformers import AutoConfig

        self.path = Path(path)
        self.seed = seed
        self.max_new_tokens = max_new_tokens
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        config = AutoConfig.from_pretrained(self.path)
        self.model_type = config.model_type
        self.family = family or MODEL_TYPE_TO_FAMILY.get(config.model_type, config.model_type)
        self.multi_image = multi_image if multi_image is not None else self.family not in SINGLE_IMAGE_FAMILIES
        self.generate_kwargs = dict(generate_kwargs or {})
        self.use_chat = chat_template == "processor" and self.family not in ("blip2", "instructblip")
        torch_dtype = getattr(torch, dtype) if dtype else (torch.bfloat16 if self.device.startswith("cuda")
                                                           else torch.float32)
        if self.device == "cpu":
            torch_dtype = torch.float32
        self.dtype = torch_dtype
        self._load_processor()
        self.model = self._load_model(config, torch_dtype)
        self.model.eval()
        self.model.to(self.device)

    # ------------------------------------------------------------------ loading

    def _load_model(self, config: Any, torch_dtype: Any) -> Any:
        import transformers
        from transformers import AutoModelForImageTextToText

        try:
            return AutoModelForImageTextToText.from_pretrained(self.path, dtype=torch_dtype)
        except ValueError:  # families only registered under their own class
            arch = (config.architectures or [None])[0]
            cls = getattr(transformers, arch) if arch else None
            if cls is None:
                raise
            return cls.from_pretrained(self.path, dtype=torch_dtype)

    def _load_processor(self) -> None:
        """The checkpoint's processor, or on CPU without torchvision its tokenizer + image processor."""
        from transformers import AutoImageProcessor, AutoProcessor, AutoTokenizer

        self.processor = None
        try:
            self.processor = AutoProcessor.from_pretrained(self.path)
            self.tokenizer = self.processor.tokenizer
            self.image_processor = getattr(self.processor, "image_processor", None)
            _patch_blip_image_token(self.processor)
        except Exception as exc:  # noqa: BLE001 - any failure here means: compose inputs by hand
            if self.family not in MANUAL_FAMILIES:
                raise
            log.info("processor for %s unavailable (%s); composing inputs by hand", self.path, exc)
            self.tokenizer = AutoTokenizer.from_pretrained(self.path)
            self.image_processor = AutoImageProcessor.from_pretrained(self.path)
        self.tokenizer.padding_side = "left"
        qformer_tok = getattr(self.processor, "qformer_tokenizer", None)
        if qformer_tok is not None:  # BERT-style absolute positions: the Q-Former text must start at position 0
            qformer_tok.padding_side = "right"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self._chat_template = self._find_chat_template()

    def _find_chat_template(self) -> str | None:
        for owner in (self.processor, self.tokenizer):
            tpl = getattr(owner, "chat_template", None) if owner is not None else None
            if tpl:
                return tpl
        for name in ("chat_template.jinja", "chat_template.json"):
            p = self.path / name
            if p.exists():
                text = p.read_text(encoding="utf-8")
                return json.loads(text)["chat_template"] if name.endswith(".json") else text
        return None

    # ------------------------------------------------------------------ inputs

    def select_images(self, images: Sequence[Image.Image]) -> tuple[list[Image.Image], list[str]]:
        """All images for multi-image models; the first one (with a note) otherwise."""
        if len(images) > 1 and not self.multi_image:
            return [images[0]], [f"single-image model: passed image 1 of {len(images)}"]
        return list(images), []

    def render(self, prompt: str, n_images: int) -> str:
        """Prompt text with the model's own image placeholders, through its chat template when it has one."""
        if not self.use_chat or not self._chat_template:
            return prompt
        content: list[dict[str, str]] = [{"type": "image"} for _ in range(n_images)]
        content.append({"type": "text", "text": prompt})
        messages = [{"role": "user", "content": content}]
        owner = self.processor if self.processor is not None else self.tokenizer
        return owner.apply_chat_template(messages, add_generation_prompt=True, tokenize=False,
                                         chat_template=self._chat_template)

    def encode(self, requests: Sequence[Request]) -> dict[str, Any]:
        texts = [self.render(r.prompt, len(r.images)) for r in requests]
        images = [im for r in requests for im in r.images]
        if self.processor is not None:
            kwargs: dict[str, Any] = {"text": texts, "padding": True, "return_tensors": "pt"}
            if images:
                # Processors differ: some want a flat list, Gemma 3 and Llava-Next accept nested; flat works for all
                # once the text carries one placeholder per image.
                kwargs["images"] = [list(r.images) for r in requests] if self.family == "gemma3" else images
            enc = dict(self.processor(**kwargs))
            qformer_tok = getattr(self.processor, "qformer_tokenizer", None)
            if qformer_tok is not None:
                # The processor pads the Q-Former text like the LLM text (left); its absolute positions need right.
                q = qformer_tok([r.prompt for r in requests], padding=True, padding_side="right", return_tensors="pt")
                enc["qformer_input_ids"], enc["qformer_attention_mask"] = q["input_ids"], q["attention_mask"]
            return enc
        return self._encode_manual(texts, images)

    def _encode_manual(self, texts: list[str], images: list[Image.Image]) -> dict[str, Any]:
        """Processor-free composition for Qwen2.5-VL and InternVL (docs/protocol.md §9)."""
        out: dict[str, Any] = {}
        if self.family == "qwen2_5_vl":
            token = getattr(self.tokenizer, "image_token", None) or "<|image_pad|>"
            counts: list[int] = []
            if images:
                enc = self.image_processor(images=images, return_tensors="pt")
                out.update(pixel_values=enc["pixel_values"], image_grid_thw=enc["image_grid_thw"])
                merge = int(getattr(self.image_processor, "merge_size", 2))
                counts = [int(g.prod()) // merge**2 for g in enc["image_grid_thw"]]
            texts = _expand(texts, token, [token * n for n in counts])
        elif self.family == "internvl":
            cfg = self.model_config
            ctx = getattr(self.tokenizer, "context_image_token", None) or "<IMG_CONTEXT>"
            start = getattr(self.tokenizer, "start_image_token", None) or "<img>"
            end = getattr(self.tokenizer, "end_image_token", None) or "</img>"
            seq = int(getattr(cfg, "image_seq_length", 256))
            reps: list[str] = []
            if images:
                enc = self.image_processor(images=images, return_tensors="pt")
                out["pixel_values"] = enc["pixel_values"]
                patches = enc.get("num_patches")
                patches = [1] * len(images) if patches is None else [int(p) for p in patches]
                reps = [f"{start}{ctx * seq * p}{end}" for p in patches]
            texts = _expand(texts, ctx, reps)
        else:  # pragma: no cover - guarded by MANUAL_FAMILIES
            raise ValueError(f"no manual input composition for family {self.family!r}")
        tok = self.tokenizer(texts, padding=True, return_tensors="pt", add_special_tokens=False)
        out.update(input_ids=tok["input_ids"], attention_mask=tok["attention_mask"])
        return out

    @property
    def model_config(self) -> Any:
        return self.model.config

    # ------------------------------------------------------------------ generation

    def generate(self, requests: Sequence[Request], max_new_tokens: int | None = None) -> list[str]:
        """Raw text answers, one per request, greedy; halves the batch on out-of-memory."""
        if not requests:
            return []
        try:
            return self._generate(requests, max_new_tokens or self.max_new_tokens)
        except Exception as exc:
            if not _is_oom(exc) or len(requests) == 1:
                raise
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            half = len(requests) // 2
            log.warning("out of memory at batch %d; retrying as %d + %d", len(requests), half, len(requests) - half)
            return self.generate(requests[:half], max_new_tokens) + self.generate(requests[half:], max_new_tokens)

    def _generate(self, requests: Sequence[Request], max_new_tokens: int) -> list[str]:
        import torch

        torch.manual_seed(self.seed)
        enc = self.encode(requests)
        enc = {k: (v.to(self.device) if hasattr(v, "to") else v) for k, v in enc.items()}
        for k in ("pixel_values",):
            if k in enc and enc[k].is_floating_point():
                enc[k] = enc[k].to(self.dtype)
        if self.family != "gemma3":  # only Gemma 3 consumes token_type_ids (image-token mask)
            enc.pop("token_type_ids", None)
        pad = self.tokenizer.pad_token_id
        eos = self.tokenizer.eos_token_id
        with torch.inference_mode():
            out = self.model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                                      pad_token_id=pad, eos_token_id=eos, **self.generate_kwargs)
        ids = enc["input_ids"]
        if out.shape[1] >= ids.shape[1] and torch.equal(out[:, : ids.shape[1]], ids):
            out = out[:, ids.shape[1]:]
        texts = self.tokenizer.batch_decode(out, skip_special_tokens=True)
        return [t.strip() for t in texts]


def _patch_blip_image_token(processor: Any) -> None:
    """BLIP-2/InstructBLIP processors call ``image_token.content`` but get a plain str from tokenizers that name
    their image token (transformers 5.x); wrap it so those checkpoints work."""
    from tokenizers import AddedToken

    if type(processor).__name__ in ("Blip2Processor", "InstructBlipProcessor"):
        tok = getattr(processor, "image_token", None)
        if isinstance(tok, str):
            processor.image_token = AddedToken(tok, normalized=False, special=True)


def _expand(texts: list[str], placeholder: str, replacements: list[str]) -> list[str]:
    """Replace each occurrence of ``placeholder`` (in reading order, across the batch) by its expansion."""
    it = iter(replacements)
    pattern = re.compile(re.escape(placeholder))
    out = []
    for t in texts:
        out.append(pattern.sub(lambda _m: next(it), t))
    left = sum(1 for _ in it)
    if left:
        raise ValueError(f"{left} image(s) without a {placeholder!r} placeholder in the prompt")
    return out
