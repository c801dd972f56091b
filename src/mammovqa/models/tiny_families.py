"""Tiny random checkpoints of every natively supported VLM family, saved like the real ones.

Why: the adapter's per-family code paths (chat templates, image placeholders, processors or their CPU
replacements, encoder-decoder outputs) must be tested without downloading 7B models. Each builder writes a
folder that ``HFModel`` loads exactly as it would load the real checkpoint: ``config.json`` with the real
``model_type``, a tokenizer with the family's special tokens and a chat template that emits the family's image
placeholder, and an image processor (the Pillow variant, since torchvision is absent here).
Sizes: width 32, 1-2 layers, images 32-56 px; seeded. Layouts shared by several families (LLaVA, Q-Former) are
built by one function each.
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


# Every tiny tower (vision, Q-Former, text): width 32, one layer, two heads; vision towers see 32 px in 8 px patches.
TOWER: dict[str, int] = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2}
PATCHES: dict[str, int] = {"image_size": 32, "patch_size": 8}


def _square(px: int = 32) -> dict[str, int]:
    """An image processor's output size (a fresh dict: processors keep what they are given)."""
    return {"height": px, "width": px}


def _hf(name: str) -> Any:
    """A transformers class by name: the families name their classes alike (``Blip2Config``, ``Blip2Processor``,
    ``InstructBlipConfig`` ...), so one builder serves a layout shared by several families."""
    import transformers

    return getattr(transformers, name)


def _decoder(tok: Any, **kw: Any) -> dict[str, Any]:
    """Keyword arguments of every tiny text decoder (Llama, Qwen2, Gemma 3, Qwen2.5-VL): ``TOWER`` with one
    key/value head, sized to ``tok`` and using its special ids; ``kw`` adds or overrides (Gemma's two layers)."""
    return {**TOWER, "vocab_size": len(tok), "num_key_value_heads": 1, "max_position_embeddings": 2048,
            "pad_token_id": tok.pad_token_id, "bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id,
            **kw}


def _llama(tok: Any) -> Any:
    return _hf("LlamaConfig")(**_decoder(tok))


def _qwen2(tok: Any) -> Any:
    return _hf("Qwen2Config")(**_decoder(tok))


def _clip() -> Any:
    return _hf("CLIPVisionConfig")(**TOWER, **PATCHES, projection_dim=32)


def _siglip() -> Any:
    return _hf("SiglipVisionConfig")(**TOWER, **PATCHES)


def _save(model: Any, out: Path, tok: Any, *parts: Any) -> Path:
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    model.save_pretrained(out)
    for p in parts:
        p.save_pretrained(out)
    return out


def _llava_layout(out: Path, prefix: str, image_text: str, vision: Any, text: Any, image_processor: Any,
                  cls_token: bool, **config: Any) -> Path:
    """The LLaVA layouts (``prefix`` ``Llava`` or ``LlavaNext``): ``<image>`` expanded to the vision tower's
    patches. A CLIP tower's CLS token is dropped (strategy "default", one additional image token); a SigLIP
    tower has none (strategy "full"). ``image_text`` is what the chat template writes for an image."""
    tok = _tok({"image_token": "<image>"}, image_text)
    strategy = "default" if cls_token else "full"
    cfg = _hf(f"{prefix}Config")(vision_config=vision, text_config=text(tok),
                                 image_token_id=tok.convert_tokens_to_ids("<image>"),
                                 vision_feature_select_strategy=strategy, vision_feature_layer=-1, **config)
    proc = _hf(f"{prefix}Processor")(image_processor, tok, patch_size=8, vision_feature_select_strategy=strategy,
                                     num_additional_image_tokens=int(cls_token), chat_template=tok.chat_template)
    return _save(_hf(f"{prefix}ForConditionalGeneration")(cfg), out, tok, proc)


def _llava(out: Path) -> Path:
    """Plain LLaVA-1.5 layout: CLIP + Llama, ``<image>`` expanded to patches (CLS dropped)."""
    ip = _hf("CLIPImageProcessorPil")(size={"shortest_edge": 32}, crop_size=_square())
    return _llava_layout(out, "Llava", "<image>", _clip(), _llama, ip, cls_token=True)


def _llava_interleave(out: Path) -> Path:
    """LLaVA-NeXT-Interleave layout: SigLIP + Qwen2 text inside ``LlavaForConditionalGeneration``, multi-image."""
    ip = _hf("SiglipImageProcessorPil")(size=_square())
    return _llava_layout(out, "Llava", "<image>\n", _siglip(), _qwen2, ip, cls_token=False)


def _llava_next(out: Path) -> Path:
    """LLaVA-NeXT (v1.6) layout: any-resolution tiles plus a newline embedding per row."""
    pins = [[32, 32], [32, 64], [64, 32]]
    ip = _hf("LlavaNextImageProcessorPil")(size={"shortest_edge": 32}, crop_size=_square(), image_grid_pinpoints=pins)
    return _llava_layout(out, "LlavaNext", "<image>\n", _clip(), _llama, ip, cls_token=True, image_grid_pinpoints=pins)


def _gemma3(out: Path) -> Path:
    """Gemma 3 / MedGemma layout: SigLIP, pooled to ``mm_tokens_per_image``, ``<start_of_image>`` placeholder."""
    specials = {"image_token": "<image_soft_token>", "boi_token": "<start_of_image>", "eoi_token": "<end_of_image>"}
    tok = _tok(specials, "<start_of_image>")
    text = _hf("Gemma3TextConfig")(**_decoder(tok, num_hidden_layers=2, head_dim=16, sliding_window=64))
    cfg = _hf("Gemma3Config")(text_config=text, vision_config=_siglip(), mm_tokens_per_image=4,
                              image_token_id=tok.convert_tokens_to_ids(specials["image_token"]),
                              boi_token_id=tok.convert_tokens_to_ids(specials["boi_token"]),
                              eoi_token_id=tok.convert_tokens_to_ids(specials["eoi_token"]))
    ip = _hf("Gemma3ImageProcessorPil")(size=_square())
    proc = _hf("Gemma3Processor")(ip, tok, image_seq_length=4, chat_template=tok.chat_template)
    return _save(_hf("Gemma3ForConditionalGeneration")(cfg), out, tok, proc)


def _q_former_layout(out: Path, prefix: str, text: Any, instruction_aware: bool) -> Path:
    """The Q-Former layouts (``prefix`` ``Blip2`` or ``InstructBlip``): a ViT, four learned queries, a language
    model, a plain prompt (no chat template). InstructBLIP's Q-Former also reads the instruction, with its own
    tokenizer (here the same one) and pad id."""
    tok = _tok({"image_token": "<image>"}, "<image>")
    qformer_pad = {"pad_token_id": tok.pad_token_id} if instruction_aware else {}
    vision = _hf(f"{prefix}VisionConfig")(**TOWER, **PATCHES)
    qformer = _hf(f"{prefix}QFormerConfig")(**TOWER, encoder_hidden_size=32, vocab_size=len(tok), **qformer_pad)
    cfg = _hf(f"{prefix}Config")(vision_config=vision.to_dict(), qformer_config=qformer.to_dict(),
                                 text_config=text(tok).to_dict(), num_query_tokens=4,
                                 image_token_id=tok.convert_tokens_to_ids("<image>"))
    tokenizers = (tok, tok) if instruction_aware else (tok,)
    proc = _hf(f"{prefix}Processor")(_hf("BlipImageProcessorPil")(size=_square()), *tokenizers, num_query_tokens=4)
    return _save(_hf(f"{prefix}ForConditionalGeneration")(cfg), out, tok, proc)


def _t5(tok: Any) -> Any:
    """BLIP-2's flan-t5 text model: encoder-decoder, decoding starts from the pad token."""
    return _hf("T5Config")(vocab_size=len(tok), d_model=32, d_kv=16, d_ff=64, num_layers=1, num_decoder_layers=1,
                           num_heads=2, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                           decoder_start_token_id=tok.pad_token_id)


def _blip2(out: Path) -> Path:
    """BLIP-2 (flan-t5) layout: Q-Former queries into an encoder-decoder T5; plain prompt, no chat template."""
    return _q_former_layout(out, "Blip2", _t5, instruction_aware=False)


def _instructblip(out: Path) -> Path:
    """InstructBLIP (vicuna) layout: instruction-aware Q-Former (its own tokenizer) into a Llama decoder."""
    return _q_former_layout(out, "InstructBlip", _llama, instruction_aware=True)


def _qwen2_5_vl(out: Path) -> Path:
    """Qwen2.5-VL layout: dynamic-resolution patches merged 2x2; ``<|image_pad|>`` expanded per image."""
    specials = {"image_token": "<|image_pad|>", "vision_start_token": "<|vision_start|>",
                "vision_end_token": "<|vision_end|>", "video_token": "<|video_pad|>"}
    tok = _tok(specials, "<|vision_start|><|image_pad|><|vision_end|>")
    ids = {k: tok.convert_tokens_to_ids(v) for k, v in specials.items()}
    text = _decoder(tok, rope_parameters={"rope_type": "default", "mrope_section": [2, 3, 3], "rope_theta": 10000.0})
    vision = dict(depth=1, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=32, patch_size=14,
                  spatial_merge_size=2, temporal_patch_size=2, window_size=56, fullatt_block_indexes=[0])
    cfg = _hf("Qwen2_5_VLConfig")(text_config=text, vision_config=vision, image_token_id=ids["image_token"],
                                  video_token_id=ids["video_token"], vision_start_token_id=ids["vision_start_token"],
                                  vision_end_token_id=ids["vision_end_token"])
    ip = _hf("Qwen2VLImageProcessorPil")(min_pixels=56 * 56, max_pixels=56 * 56, patch_size=14, merge_size=2,
                                         temporal_patch_size=2)
    return _save(_hf("Qwen2_5_VLForConditionalGeneration")(cfg), out, tok, tok, ip)


def _internvl(out: Path) -> Path:
    """InternVL (HF format) layout: pixel-shuffled ViT tokens between ``<img>``/``</img>``, Qwen2 text."""
    specials = {"context_image_token": "<IMG_CONTEXT>", "start_image_token": "<img>", "end_image_token": "</img>",
                "video_token": "<video>"}
    tok = _tok(specials, "<IMG_CONTEXT>\n")
    vision = _hf("InternVLVisionConfig")(**TOWER, image_size=[32, 32], patch_size=[8, 8])
    cfg = _hf("InternVLConfig")(vision_config=vision.to_dict(), text_config=_qwen2(tok).to_dict(),
                                image_token_id=tok.convert_tokens_to_ids("<IMG_CONTEXT>"), image_seq_length=4,
                                downsample_ratio=0.5, vision_feature_layer=-1)
    ip = _hf("GotOcr2ImageProcessorPil")(size=_square(), crop_to_patches=False)
    return _save(_hf("InternVLForConditionalGeneration")(cfg), out, tok, tok, ip)


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
