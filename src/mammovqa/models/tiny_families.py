"""Tiny random checkpoints of every natively supported VLM family, saved like the real ones.

Why: the adapter's per-family code paths (chat templates, image placeholders, processors or their CPU
replacements, encoder-decoder outputs) must be tested without downloading 7B models. Each builder writes a
folder that ``HFModel`` loads exactly as it would load the real checkpoint: ``config.json`` with the real
``model_type``, a tokenizer with the family's special tokens and a chat template that emits the family's image
placeholder, and an image processor (the Pillow variant, since torchvision is absent here).
Sizes: hidden 32-64, 1-2 layers, images 32-56 px; seeded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .tiny import build_tokenizer

FAMILY_TEMPLATE = (
    "{% for message in messages %}{{ '<|' + message['role'] + '|>' }}"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}{{ IMG }}"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}"
    "{{ '<|end|>' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)


def _template(image_text: str) -> str:
    return FAMILY_TEMPLATE.replace("{{ IMG }}", "{{ '" + image_text + "' }}")


def _tok(specials: dict[str, str], image_text: str, vocab: int = 600) -> Any:
    tok = build_tokenizer(vocab_size=vocab, named_tokens=specials)
    tok.chat_template = _template(image_text)
    return tok


def _llama(tok: Any, hidden: int = 32, **kw: Any) -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=1,
                       num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=2048,
                       pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                       **kw)


def _qwen2(tok: Any, hidden: int = 32) -> Any:
    from transformers import Qwen2Config

    return Qwen2Config(vocab_size=len(tok), hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=1,
                       num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=2048,
                       pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)


def _clip(image_size: int = 32, patch: int = 8) -> Any:
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                            image_size=image_size, patch_size=patch, projection_dim=32)


def _siglip(image_size: int = 32, patch: int = 8) -> Any:
    from transformers import SiglipVisionConfig

    return SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                              image_size=image_size, patch_size=patch)


def _save(model: Any, out: Path, tok: Any, *parts: Any) -> Path:
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    model.save_pretrained(out)
    for p in parts:
        p.save_pretrained(out)
    return out


def _llava(out: Path) -> Path:
    """Plain LLaVA-1.5 layout: CLIP + Llama, ``<image>`` expanded to patches (CLS dropped)."""
    from transformers import CLIPImageProcessorPil, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor

    tok = _tok({"image_token": "<image>"}, "<image>")
    cfg = LlavaConfig(vision_config=_clip(), text_config=_llama(tok), image_token_id=tok.convert_tokens_to_ids("<image>"),
                      vision_feature_select_strategy="default", vision_feature_layer=-1)
    proc = LlavaProcessor(CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
                          tok, patch_size=8, vision_feature_select_strategy="default", num_additional_image_tokens=1,
                          chat_template=tok.chat_template)
    return _save(LlavaForConditionalGeneration(cfg), out, tok, proc)


def _llava_interleave(out: Path) -> Path:
    """LLaVA-NeXT-Interleave layout: SigLIP + Qwen2 text inside ``LlavaForConditionalGeneration``, multi-image."""
    from transformers import (
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        SiglipImageProcessorPil,
    )

    tok = _tok({"image_token": "<image>"}, "<image>\n")
    cfg = LlavaConfig(vision_config=_siglip(), text_config=_qwen2(tok), image_token_id=tok.convert_tokens_to_ids("<image>"),
                      vision_feature_select_strategy="full", vision_feature_layer=-1)
    proc = LlavaProcessor(SiglipImageProcessorPil(size={"height": 32, "width": 32}), tok, patch_size=8,
                          vision_feature_select_strategy="full", num_additional_image_tokens=0,
                          chat_template=tok.chat_template)
    return _save(LlavaForConditionalGeneration(cfg), out, tok, proc)


def _llava_next(out: Path) -> Path:
    """LLaVA-NeXT (v1.6) layout: any-resolution tiles plus a newline embedding per row."""
    from transformers import (
        LlavaNextConfig,
        LlavaNextForConditionalGeneration,
        LlavaNextImageProcessorPil,
        LlavaNextProcessor,
    )

    tok = _tok({"image_token": "<image>"}, "<image>\n")
    pins = [[32, 32], [32, 64], [64, 32]]
    cfg = LlavaNextConfig(vision_config=_clip(), text_config=_llama(tok), image_grid_pinpoints=pins,
                          image_token_id=tok.convert_tokens_to_ids("<image>"),
                          vision_feature_select_strategy="default", vision_feature_layer=-1)
    ip = LlavaNextImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
                                    image_grid_pinpoints=pins)
    proc = LlavaNextProcessor(ip, tok, patch_size=8, vision_feature_select_strategy="default",
                              num_additional_image_tokens=1, chat_template=tok.chat_template)
    return _save(LlavaNextForConditionalGeneration(cfg), out, tok, proc)


def _gemma3(out: Path) -> Path:
    """Gemma 3 / MedGemma layout: SigLIP, pooled to ``mm_tokens_per_image``, ``<start_of_image>`` placeholder."""
    from transformers import (
        Gemma3Config,
        Gemma3ForConditionalGeneration,
        Gemma3ImageProcessorPil,
        Gemma3Processor,
        Gemma3TextConfig,
    )

    specials = {"image_token": "<image_soft_token>", "boi_token": "<start_of_image>", "eoi_token": "<end_of_image>"}
    tok = _tok(specials, "<start_of_image>")
    text = Gemma3TextConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                            num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=2048,
                            sliding_window=64, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                            eos_token_id=tok.eos_token_id)
    cfg = Gemma3Config(text_config=text, vision_config=_siglip(), mm_tokens_per_image=4,
                       image_token_id=tok.convert_tokens_to_ids(specials["image_token"]),
                       boi_token_id=tok.convert_tokens_to_ids(specials["boi_token"]),
                       eoi_token_id=tok.convert_tokens_to_ids(specials["eoi_token"]))
    ip = Gemma3ImageProcessorPil(size={"height": 32, "width": 32})
    proc = Gemma3Processor(ip, tok, image_seq_length=4, chat_template=tok.chat_template)
    return _save(Gemma3ForConditionalGeneration(cfg), out, tok, proc)


def _blip2(out: Path) -> Path:
    """BLIP-2 (flan-t5) layout: Q-Former queries into an encoder-decoder T5; plain prompt, no chat template."""
    from transformers import (
        Blip2Config,
        Blip2ForConditionalGeneration,
        Blip2Processor,
        Blip2QFormerConfig,
        Blip2VisionConfig,
        BlipImageProcessorPil,
        T5Config,
    )

    tok = _tok({"image_token": "<image>"}, "<image>")
    vision = Blip2VisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                               image_size=32, patch_size=8)
    qformer = Blip2QFormerConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                 encoder_hidden_size=32, vocab_size=len(tok))
    text = T5Config(vocab_size=len(tok), d_model=32, d_kv=16, d_ff=64, num_layers=1, num_decoder_layers=1,
                    num_heads=2, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                    decoder_start_token_id=tok.pad_token_id)
    cfg = Blip2Config(vision_config=vision.to_dict(), qformer_config=qformer.to_dict(), text_config=text.to_dict(),
                      num_query_tokens=4, image_token_id=tok.convert_tokens_to_ids("<image>"))
    proc = Blip2Processor(BlipImageProcessorPil(size={"height": 32, "width": 32}), tok, num_query_tokens=4)
    return _save(Blip2ForConditionalGeneration(cfg), out, tok, proc)


def _instructblip(out: Path) -> Path:
    """InstructBLIP (vicuna) layout: instruction-aware Q-Former (its own tokenizer) into a Llama decoder."""
    from transformers import (
        BlipImageProcessorPil,
        InstructBlipConfig,
        InstructBlipForConditionalGeneration,
        InstructBlipProcessor,
        InstructBlipQFormerConfig,
        InstructBlipVisionConfig,
    )

    tok = _tok({"image_token": "<image>"}, "<image>")
    vision = InstructBlipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                      num_attention_heads=2, image_size=32, patch_size=8)
    qformer = InstructBlipQFormerConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                        num_attention_heads=2, encoder_hidden_size=32, vocab_size=len(tok),
                                        pad_token_id=tok.pad_token_id)
    cfg = InstructBlipConfig(vision_config=vision.to_dict(), qformer_config=qformer.to_dict(),
                             text_config=_llama(tok).to_dict(), num_query_tokens=4,
                             image_token_id=tok.convert_tokens_to_ids("<image>"))
    proc = InstructBlipProcessor(BlipImageProcessorPil(size={"height": 32, "width": 32}), tok, tok,
                                 num_query_tokens=4)
    return _save(InstructBlipForConditionalGeneration(cfg), out, tok, proc)


def _qwen2_5_vl(out: Path) -> Path:
    """Qwen2.5-VL layout: dynamic-resolution patches merged 2x2; ``<|image_pad|>`` expanded per image."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2VLImageProcessorPil

    specials = {"image_token": "<|image_pad|>", "vision_start_token": "<|vision_start|>",
                "vision_end_token": "<|vision_end|>", "video_token": "<|video_pad|>"}
    tok = _tok(specials, "<|vision_start|><|image_pad|><|vision_end|>")
    ids = {k: tok.convert_tokens_to_ids(v) for k, v in specials.items()}
    text = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=2048,
                rope_parameters={"rope_type": "default", "mrope_section": [2, 3, 3], "rope_theta": 10000.0},
                pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    vision = dict(depth=1, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=32, patch_size=14,
                  spatial_merge_size=2, temporal_patch_size=2, window_size=56, fullatt_block_indexes=[0])
    cfg = Qwen2_5_VLConfig(text_config=text, vision_config=vision, image_token_id=ids["image_token"],
                           video_token_id=ids["video_token"], vision_start_token_id=ids["vision_start_token"],
                           vision_end_token_id=ids["vision_end_token"])
    ip = Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=56 * 56, patch_size=14, merge_size=2,
                                  temporal_patch_size=2)
    return _save(Qwen2_5_VLForConditionalGeneration(cfg), out, tok, tok, ip)


def _internvl(out: Path) -> Path:
    """InternVL (HF format) layout: pixel-shuffled ViT tokens between ``<img>``/``</img>``, Qwen2 text."""
    from transformers import (
        GotOcr2ImageProcessorPil,
        InternVLConfig,
        InternVLForConditionalGeneration,
        InternVLVisionConfig,
    )

    specials = {"context_image_token": "<IMG_CONTEXT>", "start_image_token": "<img>", "end_image_token": "</img>",
                "video_token": "<video>"}
    tok = _tok(specials, "<IMG_CONTEXT>\n")
    vision = InternVLVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                  image_size=[32, 32], patch_size=[8, 8])
    cfg = InternVLConfig(vision_config=vision.to_dict(), text_config=_qwen2(tok).to_dict(),
                         image_token_id=tok.convert_tokens_to_ids("<IMG_CONTEXT>"), image_seq_length=4,
                         downsample_ratio=0.5, vision_feature_layer=-1)
    ip = GotOcr2ImageProcessorPil(size={"height": 32, "width": 32}, crop_to_patches=False)
    return _save(InternVLForConditionalGeneration(cfg), out, tok, tok, ip)


BUILDERS: dict[str, Callable[[Path], Path]] = {
    "llava": _llava, "llava_interleave": _llava_interleave, "llava_next": _llava_next, "gemma3": _gemma3,
    "blip2": _blip2, "instructblip": _instructblip, "qwen2_5_vl": _qwen2_5_vl, "internvl": _internvl,
}


def build_tiny_family(family: str, out_dir: str | Path, seed: int = 0) -> Path:
    """Build and save a tiny random checkpoint of ``family`` (a key of ``BUILDERS``); returns its folder."""
    import torch

    if family not in BUILDERS:
        raise KeyError(f"unknown family {family!r} (known: {', '.join(BUILDERS)})")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    return BUILDERS[family](out)
