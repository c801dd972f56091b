"""QA items -> supervised examples for a chat VLM: the prompt as the user turn, the gold option text(s) as the
assistant turn, loss on the assistant turn only (docs/protocol.md §6: "targets are the option text").

The user turn is built exactly as at inference time (models.hf.build_messages), so the model is trained on
the prompts it will be evaluated with.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from PIL import Image

from ..paths import resolve
from ..qa.items import QAItem, item_prompt

IGNORE_INDEX = -100


def target_text(item: QAItem) -> str:
    """Gold answer as the model should write it: the option text; several texts joined by ', '."""
    return ", ".join(item.answer)


def user_messages(prompt: str, n_images: int) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = [{"type": "image"} for _ in range(n_images)]
    content.append({"type": "text", "text": prompt})
    return [{"role": "user", "content": content}]


def load_images(item: Any, max_images: int) -> list[Image.Image]:
    return [Image.open(resolve(p)).convert("RGB") for p in item.images[:max_images]]


class VQADataset(torch.utils.data.Dataset):
    """Tokenised examples built lazily (images decoded per access: memory stays flat for large splits).

    Any example type works as long as it has ``images``; ``prompt_fn``/``target_fn`` give the user turn and the
    supervised assistant turn (defaults: the protocol prompt and the gold option text). Report generation uses
    the same class with a report prompt and the reference report as target.
    """

    def __init__(self, items: Sequence[Any], processor: Any, max_images: int = 4, max_length: int = 2048,
                 prompt_fn: Callable[[Any], str] = item_prompt, target_fn: Callable[[Any], str] = target_text,
                 cache: bool = False):
        self.items = list(items)
        self.processor = processor
        self.max_images = max_images
        self.max_length = max_length
        self.prompt_fn = prompt_fn
        self.target_fn = target_fn
        # Small models on CPU: epochs after the first reuse the encoding (a third of the step time). Off for
        # real VLMs, whose pixel tensors would not fit in memory for a whole split.
        self.cache = cache
        self._cache: dict[int, dict[str, torch.Tensor]] = {}

    def __getitem__(self, idx: int) -> dict[str, torch.Tensor]:
        if not self.cache:
            return self._encode(idx)
        if idx not in self._cache:
            self._cache[idx] = self._encode(idx)
        return self._cache[idx]

    def __len__(self) -> int:
        return len(self.items)

    def _encode(self, idx: int) -> dict[str, torch.Tensor]:
        item = self.items[idx]
        images = load_images(item, self.max_images)
        messages = user_messages(self.prompt_fn(item), len(images))
        tpl = self.processor.apply_chat_template
        prompt = tpl(messages, add_generation_prompt=True, tokenize=False)
        full = tpl(messages + [{"role": "assistant", "content": [{"type": "text", "text": self.target_fn(item)}]}],
                   tokenize=False)
        enc_full = self.processor(text=[full], images=images, return_tensors="pt")
        n_prompt = self.processor(text=[prompt], images=images, return_tensors="pt")["input_ids"].shape[1]
        input_ids = enc_full["input_ids"][0][: self.max_length]
        labels = input_ids.clone()
        labels[: min(n_prompt, len(labels))] = IGNORE_INDEX
        return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids), "labels": labels,
                "pixel_values": enc_full["pixel_values"]}


def collate(batch: list[dict[str, torch.Tensor]], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Right-pad token tensors; concatenate every example's images in order (LLaVA's expected layout)."""
    width = max(len(b["input_ids"]) for b in batch)

    def pad(key: str, value: int) -> torch.Tensor:
        out = torch.full((len(batch), width), value, dtype=batch[0][key].dtype)
        for i, b in enumerate(batch):
            out[i, : len(b[key])] = b[key]
        return out

    return {"input_ids": pad("input_ids", pad_token_id), "attention_mask": pad("attention_mask", 0),
            "labels": pad("labels", IGNORE_INDEX), "pixel_values": torch.cat([b["pixel_values"] for b in batch])}
