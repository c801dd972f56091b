"""Fine-tune a chat VLM on QA items with transformers' Trainer: LoRA (the paper's recipe) or full fine-tune.

Failure handling users need on long runs: checkpoints every ``save_steps`` and automatic resume from the
latest; a non-finite loss stops the run *before* the optimiser step that would corrupt the weights, so the
last checkpoint on disk is the last good state; the final model (or LoRA adapter) is saved where the
prediction stage loads it like any other checkpoint.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch

from ..errors import MammoVQAError
from ..io import provenance, write_json_atomic, write_text_atomic
from ..paths import ROOT, portable_path
from ..qa.items import QAItem
from .data import VQADataset, collate
from .recipe import Recipe


class NonFiniteLossError(MammoVQAError):
    """Loss became NaN/inf; the checkpoint named in the message is the last good state."""


@dataclass
class TrainResult:
    model_dir: Path
    log_csv: Path
    train_seconds: float
    steps: int
    resumed_from: str | None


def _make_trainer_class():
    from transformers import Trainer

    class GuardedTrainer(Trainer):
        """Trainer that refuses to step on a non-finite loss."""

        def compute_loss(self, model, inputs, return_outputs=False, **kwargs):
            result = super().compute_loss(model, inputs, return_outputs=return_outputs, **kwargs)
            loss = result[0] if return_outputs else result
            if model.training and not torch.isfinite(loss.detach()).all():
                last = _latest_checkpoint(Path(self.args.output_dir))
                raise NonFiniteLossError(
                    f"non-finite training loss ({loss.item()}) at step {self.state.global_step + 1}; "
                    f"stopped before the optimiser step. Last good checkpoint: {last or 'none (no checkpoint yet)'}. "
                    "Lower the learning rate or check the inputs, then re-run to resume from it.")
            return result

    return GuardedTrainer


def _latest_checkpoint(out_dir: Path) -> Path | None:
    ckpts = sorted(out_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    return ckpts[-1] if ckpts else None


def load_for_training(model_path: Path, recipe: Recipe, resume_from: Path | None = None) -> tuple[Any, Any]:
    """Model + processor, with LoRA applied to the language model or the listed modules frozen.

    ``resume_from``: a checkpoint whose weights are loaded here, through ``from_pretrained``. Why not leave it to
    Trainer: transformers 5.x saves VLM checkpoints under legacy key names and Trainer's resume loads the state
    dict raw with ``strict=False``, so for LLaVA-type models it silently restores no weight at all (measured:
    0 of 64 keys match). Trainer still restores the optimiser, scheduler and step counter.
    """
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(model_path)
    dtype = torch.bfloat16 if (recipe.bf16 and torch.cuda.is_available()) else torch.float32
    full_from = resume_from if (resume_from is not None and recipe.method == "full") else model_path
    model = AutoModelForImageTextToText.from_pretrained(full_from, dtype=dtype)
    if recipe.method == "lora":
        from peft import LoraConfig, PeftModel, get_peft_model

        if resume_from is not None:
            model = PeftModel.from_pretrained(model, resume_from, is_trainable=True)
        else:
            cfg = LoraConfig(r=int(recipe.lora["r"]), lora_alpha=int(recipe.lora["alpha"]),
                             lora_dropout=float(recipe.lora["dropout"]), target_modules=recipe.lora["target_modules"],
                             bias="none")
            model = get_peft_model(model, cfg)  # base weights (vision tower, projector, LM) frozen by peft
    else:
        for name, param in model.named_parameters():
            if any(part in name for part in recipe.freeze):
                param.requires_grad_(False)
    if recipe.gradient_checkpointing and torch.cuda.is_available():
        model.gradient_checkpointing_enable()
    return model, processor


def count_parameters(model: Any) -> dict[str, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total": total, "trainable": trainable}


def train_vlm(recipe: Recipe, train_items: Sequence[QAItem], val_items: Sequence[QAItem], model_path: Path,
              out_dir: Path, seed: int = 0, epochs: float | None = None, max_steps: int = -1,
              resume: bool = True, max_images: int = 4, eval_max_items: int = 256,
              prompt_fn: Callable[[Any], str] | None = None, target_fn: Callable[[Any], str] | None = None,
              root: Path = ROOT) -> TrainResult:
    """Train and save ``out_dir/final`` (full model or adapter + processor) and ``out_dir/log_history.csv``.

    ``train_items`` are QA items by default; any objects with ``images`` work with ``prompt_fn``/``target_fn``
    (report generation passes report examples with a report prompt and the reference report as target).
    ``train_summary.json`` stores its paths relative to ``root`` (the run's repository root; ``~/`` under the home
    folder), never as machine paths: read them back with ``paths.resolve(value, root)``.
    """
    from transformers import TrainingArguments, set_seed

    if not train_items:
        raise MammoVQAError(f"no training items for recipe {recipe.name!r}: check the train split and levels")
    set_seed(seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    last = _latest_checkpoint(out_dir) if resume else None
    model, processor = load_for_training(Path(model_path), recipe, resume_from=last)
    tok = processor.tokenizer
    fns: dict[str, Any] = {k: v for k, v in (("prompt_fn", prompt_fn), ("target_fn", target_fn)) if v is not None}
    fns["cache"] = recipe.cache_encodings
    train_ds = VQADataset(train_items, processor, max_images, recipe.max_length, **fns)
    val_ds = VQADataset(list(val_items)[:eval_max_items], processor, max_images, recipe.max_length, **fns)
    use_cpu = not torch.cuda.is_available()
    args = TrainingArguments(
        output_dir=str(out_dir), per_device_train_batch_size=recipe.per_device_batch_size,
        per_device_eval_batch_size=recipe.per_device_batch_size,
        gradient_accumulation_steps=recipe.gradient_accumulation, num_train_epochs=epochs or recipe.epochs,
        max_steps=max_steps, learning_rate=recipe.learning_rate, lr_scheduler_type=recipe.lr_scheduler,
        warmup_steps=recipe.warmup_ratio, weight_decay=recipe.weight_decay, bf16=recipe.bf16 and not use_cpu,
        logging_steps=recipe.logging_steps, save_strategy="steps", save_steps=recipe.save_steps,
        save_total_limit=2, eval_strategy="steps" if len(val_ds) else "no", eval_steps=recipe.eval_steps,
        seed=seed, data_seed=seed, report_to="none", remove_unused_columns=False, dataloader_num_workers=0,
        use_cpu=use_cpu, disable_tqdm=False, max_grad_norm=1.0,
    )
    trainer = _make_trainer_class()(
        model=model, args=args, train_dataset=train_ds, eval_dataset=val_ds if len(val_ds) else None,
        data_collator=partial(collate, pad_token_id=tok.pad_token_id),
    )
    earlier = _earlier_seconds(out_dir) if last else 0.0
    t0 = time.perf_counter()
    trainer.train(resume_from_checkpoint=str(last) if last else None)
    seconds = time.perf_counter() - t0
    final = out_dir / "final"
    trainer.save_model(str(final))
    processor.save_pretrained(str(final))
    log_csv = write_log_history(trainer.state.log_history, out_dir / "log_history.csv")
    def stored(path: Path | str) -> str:
        return portable_path(path, root=root, home=True)

    write_json_atomic(out_dir / "train_summary.json", {
        "recipe": recipe.name, "recipe_file": stored(recipe.source) if recipe.source else recipe.source,
        "method": recipe.method, "base_model": recipe.base_model, "base_path": stored(model_path),
        "train_items": len(train_items), "val_items": len(val_ds), "steps": trainer.state.global_step,
        "train_seconds": round(earlier + seconds, 1), "seconds_this_call": round(seconds, 1),
        "resumed_from": stored(last) if last else None,
        "parameters": count_parameters(model), "provenance": provenance(seed=seed, model_id=recipe.name),
    })
    return TrainResult(final, log_csv, earlier + seconds, trainer.state.global_step, str(last) if last else None)


def _earlier_seconds(out_dir: Path) -> float:
    """Training seconds already spent on the checkpoints being resumed (the last finished call's summary).

    Why: a stage re-run resumes from the final checkpoint and trains 0 more steps in under a second; recording
    only that call made the manuscript say the model trained in 0.0 minutes. Seconds of a call interrupted
    before it wrote its summary are not known and not counted.
    """
    try:
        return float(json.loads((out_dir / "train_summary.json").read_text(encoding="utf-8"))["train_seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0


def write_log_history(history: list[dict[str, Any]], path: Path) -> Path:
    """Trainer's log history as a tidy CSV: step, epoch, train loss, eval loss, learning rate."""
    lines = ["step,epoch,loss,eval_loss,learning_rate"]
    for row in history:
        if "loss" not in row and "eval_loss" not in row:
            continue
        vals = [row.get("step"), row.get("epoch"), row.get("loss"), row.get("eval_loss"), row.get("learning_rate")]
        lines.append(",".join("" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v}" for v in vals))
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())
