"""Closed-set baselines: R50-Mammo and DINOv2-Mammo (linear probes, one head per topic on a shared frozen
backbone), ViLT-Mammo (a ViLT transformer over DINOv2 patch tokens and the question text, one head per topic)
and ViLT-Mammo-Expert (one ViLT per topic).

Why cache features: the backbone is frozen, so each image is embedded once and every head trains on the cached
tensors; this is what makes the baselines cheap enough to run in the CPU default profile.
They answer with exact option texts and go through the same prediction files and scorer as the VLMs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from tqdm import tqdm

from ..budgets import closed_set_epochs
from ..config import load_topics, load_yaml
from ..io import provenance, write_json_atomic
from ..paths import CONFIG_DIR, RunPaths, resolve
from ..predictions import PredictionWriter
from ..qa.items import QAItem, item_prompt, read_items
from ..runargs import run_arguments

MODELS = ("r50-mammo", "dinov2-mammo", "vilt-mammo", "vilt-mammo-expert")
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


# ------------------------------------------------------------------ backbones


@dataclass
class Backbone:
    name: str
    model: nn.Module
    pretrained: bool
    origin: str  # where the weights came from, in words


def _local_weights(hf_id: str) -> Path | None:
    from ..models.registry import local_overrides

    override = local_overrides().get(hf_id)
    if override and Path(override).exists():
        return Path(override)
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(hf_id, local_files_only=True))
    except Exception:  # noqa: BLE001 - any failure means "not available offline"
        return None


def load_backbone(kind: str, cfg: dict[str, Any], seed: int) -> Backbone:
    """Pretrained weights when present locally, else a small random-init config (stated in every output)."""
    from transformers import Dinov2Config, Dinov2Model, ResNetConfig, ResNetModel

    spec = cfg["backbones"][kind]
    cls, config_cls = (ResNetModel, ResNetConfig) if kind == "r50" else (Dinov2Model, Dinov2Config)
    path = _local_weights(spec["hf_id"])
    if path is not None:
        model = cls.from_pretrained(path)
        backbone = Backbone(kind, model, True, f"pretrained {spec['hf_id']} ({path})")
    else:
        torch.manual_seed(seed)
        model = cls(config_cls(**spec["fallback"]))
        backbone = Backbone(kind, model, False, f"random-init backbone ({spec['hf_id']} not found locally)")
    backbone.model.eval().requires_grad_(False)
    return backbone


def load_pixels(paths: Sequence[str], size: int) -> torch.Tensor:
    arrs = []
    for p in paths:
        with Image.open(resolve(p)) as im:
            a = np.asarray(im.convert("RGB").resize((size, size), Image.BILINEAR), dtype=np.float32) / 255.0
        arrs.append((a - IMAGENET_MEAN) / IMAGENET_STD)
    return torch.from_numpy(np.stack(arrs).transpose(0, 3, 1, 2).copy())


@torch.no_grad()
def embed_images(backbone: Backbone, paths: Sequence[str], size: int, batch: int = 32) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Pooled features (N, D) and, for DINOv2, patch tokens (N, P, D)."""
    pooled, tokens = [], []
    for i in range(0, len(paths), batch):
        out = backbone.model(pixel_values=load_pixels(paths[i:i + batch], size))
        if backbone.name == "r50":
            pooled.append(out.pooler_output.flatten(1))
        else:
            pooled.append(out.pooler_output)
            tokens.append(out.last_hidden_state[:, 1:])
    return torch.cat(pooled), (torch.cat(tokens) if tokens else None)


# ------------------------------------------------------------------ heads


class TopicHeads(nn.Module):
    """One linear head per topic over a shared feature vector."""

    def __init__(self, dim: int, n_options: dict[str, int]):
        super().__init__()
        self.heads = nn.ModuleDict({_key(t): nn.Linear(dim, k) for t, k in n_options.items()})

    def forward(self, feats: torch.Tensor, topic: str) -> torch.Tensor:
        return self.heads[_key(topic)](feats)


def _key(topic: str) -> str:
    return topic.replace(" ", "_").replace("-", "_")


class ViltOnPatches(nn.Module):
    """ViLT transformer whose image tokens are projected DINOv2 patch tokens; heads on the pooled output."""

    def __init__(self, patch_dim: int, vocab_size: int, n_options: dict[str, int], cfg: dict[str, Any], n_patches: int):
        super().__init__()
        from transformers import ViltConfig, ViltModel

        vc = ViltConfig(vocab_size=vocab_size, hidden_size=cfg["hidden_size"], num_hidden_layers=cfg["num_hidden_layers"],
                        num_attention_heads=cfg["num_attention_heads"], intermediate_size=cfg["intermediate_size"],
                        max_position_embeddings=cfg["max_text_tokens"], modality_type_vocab_size=2)
        self.vilt = ViltModel(vc)
        self.project = nn.Linear(patch_dim, cfg["hidden_size"])
        self.patch_pos = nn.Parameter(torch.zeros(1, n_patches, cfg["hidden_size"]))
        self.heads = TopicHeads(cfg["hidden_size"], n_options)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, patches: torch.Tensor, topic: str) -> torch.Tensor:
        image_embeds = self.project(patches) + self.patch_pos
        mask = torch.ones(image_embeds.shape[:2], dtype=torch.long)
        out = self.vilt(input_ids=input_ids, attention_mask=attention_mask, image_embeds=image_embeds, pixel_mask=mask)
        return self.heads(out.pooler_output, topic)


# ------------------------------------------------------------------ training and prediction


def _targets(items: Sequence[QAItem], options: Sequence[str], multiple: bool) -> torch.Tensor:
    if multiple:
        t = torch.zeros(len(items), len(options))
        for i, it in enumerate(items):
            for a in it.answer:
                t[i, options.index(a)] = 1.0
        return t
    return torch.tensor([options.index(it.answer[0]) for it in items])


def _decide(logits: torch.Tensor, options: Sequence[str], multiple: bool) -> list[list[str]]:
    if not multiple:
        return [[options[int(i)]] for i in logits.argmax(1)]
    out = []
    for row in torch.sigmoid(logits):
        chosen = [o for o, p in zip(options, row) if p > 0.5] or [options[int(row.argmax())]]
        out.append(sorted(chosen))
    return out


class Trainer:
    """Minimal seeded training loop for the heads (the backbone is frozen, features cached)."""

    def __init__(self, cfg: dict[str, Any], epochs: int, seed: int):
        self.cfg, self.epochs, self.seed = cfg, epochs, seed
        self.topics = load_topics()
        self.log: list[dict[str, Any]] = []

    def fit(self, model: nn.Module, items: Sequence[QAItem], forward) -> None:
        gen = torch.Generator().manual_seed(self.seed)
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=float(self.cfg["learning_rate"]))
        by_topic = _group(items)
        bs = int(self.cfg["batch_size"])
        batches = [(t, its[i:i + bs]) for t, its in by_topic.items() for i in range(0, len(its), bs)]
        model.train()
        for epoch in tqdm(range(self.epochs), desc="closed-set epochs", unit="epoch", file=sys.stderr, disable=None,
                          leave=False):
            order = torch.randperm(len(batches), generator=gen).tolist()
            total, n = 0.0, 0
            for b in order:
                topic, batch = batches[b]
                spec = self.topics[topic]
                multiple = spec.kind == "multiple"
                logits = forward(batch, topic)
                target = _targets(batch, spec.options, multiple)
                loss = (nn.functional.binary_cross_entropy_with_logits(logits, target) if multiple
                        else nn.functional.cross_entropy(logits, target))
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(batch)
                n += len(batch)
            self.log.append({"epoch": epoch + 1, "loss": total / max(n, 1)})
        model.eval()

    @torch.no_grad()
    def predict(self, items: Sequence[QAItem], forward) -> dict[str, list[str]]:
        out = {}
        for topic, its in _group(items).items():
            spec = self.topics[topic]
            for i in range(0, len(its), 256):
                batch = its[i:i + 256]
                for it, chosen in zip(batch, _decide(forward(batch, topic), spec.options, spec.kind == "multiple")):
                    out[it.id] = chosen
        return out


def _group(items: Sequence[QAItem]) -> dict[str, list[QAItem]]:
    groups: dict[str, list[QAItem]] = {}
    for it in sorted(items, key=lambda x: x.id):
        groups.setdefault(it.topic, []).append(it)
    return groups


def load_config(path: str | Path | None = None) -> dict[str, Any]:
    return load_yaml(path or CONFIG_DIR / "train" / "closed_set.yaml")


def run_closed_set(run: RunPaths, models: Sequence[str] = MODELS, seed: int = 0, epochs: int | None = None,
                   config_path: str | Path | None = None, eval_splits: Sequence[str] = ("test", "external")) -> dict[str, Any]:
    """Train every requested baseline on the run's image-level train split and write prediction files."""
    cfg = load_config(config_path)
    epochs = epochs or closed_set_epochs(run.profile, cfg["epochs"])  # configs/profiles.yaml, section closed_set
    items = [it for it in read_items(run.qa_items) if it.level == "image"]
    train = [it for it in items if it.split == "train"]
    evaluate = [it for it in items if it.split in eval_splits]
    paths = sorted({it.images[0] for it in items})
    index = {p: i for i, p in enumerate(paths)}
    size = int(cfg["image_size"])
    summary: dict[str, Any] = {"epochs": epochs, "train_items": len(train), "models": {}}
    feats: dict[str, tuple[torch.Tensor, torch.Tensor | None, Backbone]] = {}
    for kind in ("r50", "dinov2"):
        if any(m.startswith("r50" if kind == "r50" else ("dinov2", "vilt")) for m in models):
            bb = load_backbone(kind, cfg, seed)
            pooled, tokens = embed_images(bb, paths, size)
            feats[kind] = (pooled, tokens, bb)
    n_options = {t: len(spec.options) for t, spec in load_topics().topics.items()}
    for name in models:
        torch.manual_seed(seed)
        trainer = Trainer(cfg, epochs, seed)
        if name in ("r50-mammo", "dinov2-mammo"):
            pooled, _, bb = feats["r50" if name == "r50-mammo" else "dinov2"]
            model = TopicHeads(pooled.shape[1], n_options)

            def fwd(batch, topic, model=model, pooled=pooled):
                return model(pooled[[index[it.images[0]] for it in batch]], topic)

            trainer.fit(model, train, fwd)
            decisions = trainer.predict(evaluate, fwd)
        else:
            _, tokens, bb = feats["dinov2"]
            decisions = _run_vilt(name, tokens, index, train, evaluate, cfg, trainer, n_options, seed)
        for split in eval_splits:
            sel = [it for it in evaluate if it.split == split]
            if sel:
                _write(run, name, split, sel, decisions, bb, seed)
        summary["models"][name] = {"backbone": bb.origin, "pretrained": bb.pretrained, "train_log": trainer.log}
    write_json_atomic(run.train / "closed_set" / "summary.json", summary)
    return summary


@lru_cache(maxsize=1)
def _question_tokenizer() -> Any:
    """The offline BPE of the tiny VLM: covers every question wording; trained once per process."""
    from ..models.tiny import build_tokenizer

    return build_tokenizer()


def _run_vilt(name, tokens, index, train, evaluate, cfg, trainer, n_options, seed) -> dict[str, list[str]]:
    tok = _question_tokenizer()
    max_len = int(cfg["vilt"]["max_text_tokens"])

    def text(batch):
        enc = tok([it.question for it in batch], padding="max_length", truncation=True, max_length=max_len,
                  return_tensors="pt")
        return enc["input_ids"], enc["attention_mask"]

    def make():
        torch.manual_seed(seed)
        return ViltOnPatches(tokens.shape[2], len(tok), n_options, cfg["vilt"], tokens.shape[1])

    def forward_for(model):
        def fwd(batch, topic):
            ids, mask = text(batch)
            return model(ids, mask, tokens[[index[it.images[0]] for it in batch]], topic)
        return fwd

    if name == "vilt-mammo":
        model = make()
        fwd = forward_for(model)
        trainer.fit(model, train, fwd)
        return trainer.predict(evaluate, fwd)
    decisions: dict[str, list[str]] = {}
    for topic in sorted({it.topic for it in train}):
        model = make()
        fwd = forward_for(model)
        trainer.fit(model, [it for it in train if it.topic == topic], fwd)
        decisions.update(trainer.predict([it for it in evaluate if it.topic == topic], fwd))
    return decisions


def _write(run: RunPaths, name: str, split: str, items: Sequence[QAItem], decisions: dict[str, list[str]],
           bb: Backbone, seed: int) -> None:
    path = run.predictions(name, split, "image")
    if path.exists():
        path.unlink()  # closed-set predictions are recomputed whole: cheap and deterministic
    prov = provenance(seed=seed, model_id=name, backbone=bb.origin, pretrained_backbone=bb.pretrained)
    with PredictionWriter(path, prov) as w:
        for it in items:
            chosen = decisions.get(it.id)
            w.write(id=it.id, model=name, prompt=item_prompt(it), options=it.options,
                    output=", ".join(chosen) if chosen else None, latency_s=0.0,
                    error=None if chosen else "topic not trained (no training items)")


def _cli(args: argparse.Namespace) -> int:
    run = RunPaths(args.source, args.profile, args.seed)
    summary = run_closed_set(run, args.models, args.seed, args.epochs)
    print(json.dumps({m: v["backbone"] for m, v in summary["models"].items()}, indent=1))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("closed-set", parents=[run_arguments()], help="train R50-/DINOv2-Mammo probes and ViLT-Mammo(-Expert) heads",
                       description="Closed-set baselines on frozen backbones (pretrained when present locally, "
                       "otherwise random-init and stated so). Writes prediction files for the test and external splits.")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    p.set_defaults(func=_cli)
