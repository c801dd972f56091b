"""A tiny vision-language model built offline from config, saved like a real Hugging Face checkpoint.

Why: the pipeline (predict, train, score, report) must run end to end on a CPU laptop with no model hub.
The tiny VLM is a ``LlavaForConditionalGeneration`` (CLIP vision tower + Llama text model, both a few layers
wide), chosen because in transformers 5.x every piece of it works without torchvision: ``LlavaProcessor``
composes a ``CLIPImageProcessorPil`` and a fast tokenizer, and the checkpoint loads back through the same
``AutoProcessor`` / ``AutoModelForImageTextToText`` path as a real LLaVA. Its tokenizer is a byte-level BPE
trained here on the protocol strings (prompts, wordings, options) plus a report vocabulary, so the protocol text
costs few tokens and any text still round-trips (byte-level: no unknown tokens).

``build_tiny_family`` builds equally tiny random checkpoints of the other natively supported families
(LLaVA-NeXT, LLaVA-Interleave, Qwen2.5-VL, InternVL, Gemma 3, BLIP-2, InstructBLIP) so the adapter's code
path for each is tested without downloading anything.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..config import load_topics

TINY_ID = "tiny-vlm"
IMAGE_TOKEN = "<image>"
SPECIAL_TOKENS = ("<pad>", "<s>", "</s>", "<unk>", IMAGE_TOKEN, "<|user|>", "<|assistant|>", "<|system|>", "<|end|>")

# Renders a list-of-parts message the way transformers' processors expect ({"type": "image"} / "text").
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{{ '<|' + message['role'] + '|>' }}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}{{ '<image>' }}"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}"
    "{{ '<|end|>' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)

# Words a later fine-tune needs to write mammography reports (AMRG-style sections) cheaply.
REPORT_VOCABULARY = """
Breast Composition ACR BIRADS BI-RADS Findings Impression Recommendation Conclusion Comparison History
right left bilateral breast breasts upper lower outer inner quadrant quadrants central retroareolar subareolar
axillary axilla tail nipple areola skin pectoral muscle chest wall region regions
o'clock oclock clock position 1 2 3 4 5 6 7 8 9 10 11 12 0 4a 4b 4c a b c d mm cm
almost entirely fatty scattered areas of fibroglandular density heterogeneously dense extremely which may obscure
small masses the sensitivity mammography is lowered there are is no evidence malignancy suspicious
mass masses calcification calcifications microcalcifications macrocalcifications cluster clustered grouped
linear branching pleomorphic amorphous coarse heterogeneous punctate round oval irregular shape margin margins
circumscribed obscured microlobulated indistinct spiculated density high equal low fat-containing
architectural distortion asymmetry focal global developing lymph node nodes intramammary
skin thickening retraction trabecular benign probably malignant highly suggestive negative normal
appearance appearances stable unchanged new increased decreased size measuring approximately located seen
noted identified visible within at in on of and or with without a an the to for from by as is are was were
follow-up short-interval biopsy recommended ultrasound correlation clinical routine screening diagnostic
annual months year years CC MLO view views craniocaudal mediolateral oblique projection
background tissue parenchyma fibroglandular glandular dense fatty-glandular dense-glandular
no significant abnormality detected findings consistent with postsurgical changes scar cyst fibroadenoma
carcinoma lesion lesions opacity opacities well-defined ill-defined poorly defined nodular nodule
""".split()


def protocol_corpus(extra: Iterable[str] = ()) -> list[str]:
    """Every string the model will read or write: prompts, wordings, options, letters, report words."""
    topics = load_topics()
    lines: list[str] = [topics.prompts["single"], topics.prompts["multiple"]]
    for topic in topics.topics.values():
        for wordings in topic.wordings.values():
            lines.extend(wordings)
        lines.extend(topic.options)
        letters = "ABCDEFGHIJ"[: len(topic.options)]
        lines.append(", ".join(f"{letter}: {opt}" for letter, opt in zip(letters, topic.options, strict=False)))
    lines.extend(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    lines.append(" ".join(REPORT_VOCABULARY))
    lines.extend(REPORT_VOCABULARY)
    lines.extend(extra)
    # Repeat so that BPE merges whole protocol words before sub-word pieces.
    return lines * 4


def build_tokenizer(vocab_size: int = 2048, named_tokens: dict[str, str] | None = None,
                    extra_text: Iterable[str] = ()) -> Any:
    """Train a byte-level BPE on the protocol corpus (deterministic) and wrap it as a fast tokenizer.

    ``named_tokens`` adds special tokens reachable as tokenizer attributes (``image_token`` -> ``<image>``), the
    way transformers processors look them up; they survive save/load.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    named = {"image_token": IMAGE_TOKEN, **(named_tokens or {})}
    specials = list(SPECIAL_TOKENS) + [t for t in named.values() if t not in SPECIAL_TOKENS]
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(protocol_corpus(extra_text), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="<|end|>", pad_token="<pad>",
                                   unk_token="<unk>", padding_side="left",
                                   extra_special_tokens=named)
    fast.chat_template = CHAT_TEMPLATE
    return fast


def _seed(seed: int) -> None:
    import torch

    torch.manual_seed(seed)


def build_tiny_vlm(out_dir: Path, seed: int = 0, image_size: int = 64, patch_size: int = 8, text_hidden: int = 192,
                   text_layers: int = 2, vision_hidden: int = 64, vision_layers: int = 2,
                   vocab_size: int = 2048) -> Path:
    """Build, save and return the path of the tiny LLaVA (CLIP + Llama) with its processor.

    ``(image_size / patch_size)**2`` image tokens per image (64 by default); about 1.5M parameters, so a
    LoRA or full fine-tune runs on CPU in minutes. Same seed -> identical weights and tokenizer.
    """
    from transformers import (
        CLIPImageProcessorPil,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(vocab_size)
    vision = CLIPVisionConfig(hidden_size=vision_hidden, intermediate_size=vision_hidden * 2,
                              num_hidden_layers=vision_layers, num_attention_heads=4, image_size=image_size,
                              patch_size=patch_size, projection_dim=vision_hidden)
    text = LlamaConfig(vocab_size=len(tokenizer), hidden_size=text_hidden, intermediate_size=text_hidden * 2,
                       num_hidden_layers=text_layers, num_attention_heads=4, num_key_value_heads=2,
                       max_position_embeddings=1024, bos_token_id=tokenizer.bos_token_id,
                       eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                       tie_word_embeddings=False)
    config = LlavaConfig(vision_config=vision, text_config=text,
                         image_token_id=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
                         vision_feature_layer=-1, vision_feature_select_strategy="default",
                         projector_hidden_act="gelu", pad_token_id=tokenizer.pad_token_id)
    _seed(seed)
    model = LlavaForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    image_processor = CLIPImageProcessorPil(size={"shortest_edge": image_size},
                                            crop_size={"height": image_size, "width": image_size})
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=patch_size,
                               vision_feature_select_strategy="default", num_additional_image_tokens=1,
                               chat_template=CHAT_TEMPLATE, image_token=IMAGE_TOKEN)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    (out_dir / "mammovqa_tiny.json").write_text(json.dumps(
        {"family": "llava", "seed": seed, "image_size": image_size, "patch_size": patch_size,
         "image_tokens": (image_size // patch_size) ** 2, "parameters": sum(p.numel() for p in model.parameters())},
        indent=1, sort_keys=True) + "\n")
    return out_dir
