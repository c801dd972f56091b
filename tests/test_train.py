"""Fine-tuning: recipe validation, the LoRA path on a tiny real LLaVA, resume, the non-finite-loss guard."""

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from mammovqa.errors import ConfigError
from mammovqa.models.tiny import build_tiny_vlm
from mammovqa.qa.items import QAItem
from mammovqa.train.recipe import load_recipe
from mammovqa.train.vlm import NonFiniteLossError, train_vlm

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.set_num_threads(1)
    return build_tiny_vlm(tmp_path_factory.mktemp("tiny") / "tiny-vlm", seed=0, image_size=32, patch_size=8,
                          text_hidden=64, vision_hidden=32)


@pytest.fixture(scope="module")
def items(tmp_path_factory):
    root = tmp_path_factory.mktemp("imgs")
    out = []
    for i in range(24):
        a = np.zeros((32, 32), np.uint8)
        a[:, : 16] = 200 if i % 2 else 0
        p = root / f"{i}.png"
        Image.fromarray(a).save(p)
        out.append(QAItem(id=f"r{i}#Laterality", topic="Laterality", kind="single", level="image", dataset="d",
                          part="breast", role="internal", split="train", record_id=f"r{i}", patient_id=f"p{i}",
                          images=[str(p)], question="Which breast?", options=["Left", "Right"],
                          answer=["Left" if i % 2 else "Right"], seed=0))
    return out


def _recipe(tmp_path, **over):
    raw = yaml.safe_load((REPO / "configs/train/tiny_cpu.yaml").read_text())
    raw.update({"per_device_batch_size": 4, "effective_batch_size": 4, "save_steps": 1, "eval_steps": 100,
                "logging_steps": 1}, **over)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_recipe(path)


def test_paper_recipe_is_the_protocol():
    r = load_recipe("llava_mammo.yaml")
    assert (r.method, r.lora["r"], r.lora["alpha"], r.lora["dropout"]) == ("lora", 8, 8, 0.05)
    assert (r.epochs, r.effective_batch_size, r.learning_rate, r.lr_scheduler, r.warmup_ratio) == (1, 16, 2e-5, "cosine", 0.03)
    assert r.levels == ("image", "exam") and r.target == "option_text" and r.bf16


def test_bad_recipe_names_file_and_key(tmp_path):
    with pytest.raises(ConfigError, match=r"recipe\.yaml: lora\.r: missing"):
        _recipe(tmp_path, method="lora", lora={"alpha": 8, "dropout": 0.0, "target_modules": "x"})
    with pytest.raises(ConfigError, match="unknown recipe key"):
        _recipe(tmp_path, learning_rat=1.0)


def test_lora_trains_language_model_only_and_saves_adapter(tiny, items, tmp_path):
    recipe = _recipe(tmp_path, method="lora", learning_rate=1e-3, lora={
        "r": 4, "alpha": 8, "dropout": 0.0,
        "target_modules": r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)$"})
    from mammovqa.train.vlm import load_for_training

    model, _ = load_for_training(tiny, recipe)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n and "language_model" in n for n in trainable)
    res = train_vlm(recipe, items, items[:4], tiny, tmp_path / "out", max_steps=2, resume=False)
    assert (res.model_dir / "adapter_config.json").exists()
    assert res.steps == 2


def test_resume_from_latest_checkpoint(tiny, items, tmp_path):
    recipe = _recipe(tmp_path, learning_rate=1e-3)
    first = train_vlm(recipe, items, items[:4], tiny, tmp_path / "out", max_steps=2)
    assert first.resumed_from is None and (tmp_path / "out" / "checkpoint-2").exists()
    second = train_vlm(recipe, items, items[:4], tiny, tmp_path / "out", max_steps=3)
    assert second.resumed_from.endswith("checkpoint-2") and second.steps == 3
    losses = [line for line in second.log_csv.read_text().splitlines()[1:] if line.split(",")[2]]
    assert len(losses) >= 3  # history carried over from the first run


def test_non_finite_loss_stops_without_writing_a_final_model(tiny, items, tmp_path):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    poisoned = tmp_path / "poisoned"
    model = AutoModelForImageTextToText.from_pretrained(tiny)
    with torch.no_grad():
        model.lm_head.weight.fill_(float("nan"))
    model.save_pretrained(poisoned)
    AutoProcessor.from_pretrained(tiny).save_pretrained(poisoned)
    with pytest.raises(NonFiniteLossError, match="non-finite training loss.*step 1"):
        train_vlm(_recipe(tmp_path), items, [], poisoned, tmp_path / "bad", max_steps=2)
    assert not (tmp_path / "bad" / "final").exists()


def test_full_finetune_learns_a_visible_label(tiny, items, tmp_path):
    """A genuine learning signal: loss falls on a label that is visible in the pixels."""
    recipe = _recipe(tmp_path, learning_rate=3e-3, logging_steps=1, save_steps=1000)
    res = train_vlm(recipe, items, [], tiny, tmp_path / "learn", epochs=6, resume=False)
    losses = [float(line.split(",")[2]) for line in res.log_csv.read_text().splitlines()[1:] if line.split(",")[2]]
    assert np.mean(losses[-3:]) < 0.5 * np.mean(losses[:3])


def test_resume_restores_the_checkpoint_weights(tiny, items, tmp_path):
    """A finished run resumed with no step left must save the trained weights, not the base model's."""
    from transformers import AutoModelForImageTextToText

    recipe = _recipe(tmp_path, learning_rate=1e-2)
    train_vlm(recipe, items, [], tiny, tmp_path / "out", max_steps=2)
    trained = AutoModelForImageTextToText.from_pretrained(tmp_path / "out" / "checkpoint-2").state_dict()
    again = train_vlm(recipe, items, [], tiny, tmp_path / "out", max_steps=2)
    final = AutoModelForImageTextToText.from_pretrained(again.model_dir).state_dict()
    base = AutoModelForImageTextToText.from_pretrained(tiny).state_dict()
    assert again.resumed_from.endswith("checkpoint-2")
    assert all(torch.equal(final[k], trained[k]) for k in trained)
    assert not all(torch.equal(final[k], base[k]) for k in base)


def test_a_resumed_finished_run_keeps_its_training_time(tiny, items, tmp_path):
    """Measured on the default run: a stage re-run resumed the final checkpoint, trained 0 steps in 0.4 s and
    recorded 0.4 s, so the manuscript said the model trained in 0.0 minutes."""
    import json

    recipe = _recipe(tmp_path, learning_rate=1e-2)
    first = train_vlm(recipe, items, [], tiny, tmp_path / "out", max_steps=2)
    again = train_vlm(recipe, items, [], tiny, tmp_path / "out", max_steps=2)
    summary = json.loads((tmp_path / "out" / "train_summary.json").read_text())
    assert again.train_seconds >= first.train_seconds > 0
    assert summary["train_seconds"] == round(again.train_seconds, 1)
    assert summary["seconds_this_call"] < summary["train_seconds"] or summary["train_seconds"] == 0.0


def test_topic_without_training_items_is_reported():
    from mammovqa.train.finetune import topics_without_training

    def item(topic, split, level="image"):
        return QAItem(id=f"{topic}{split}", topic=topic, kind="single", level=level, dataset="d", part="breast",
                      role="internal", split=split, record_id="r", patient_id="p", images=[], question="q",
                      options=["A", "B"], answer=["A"], seed=0)

    items = [item("View", "train"), item("View", "test"), item("Subtlety", "test"), item("ACR", "test", "exam")]
    assert topics_without_training(items, [items[0]]) == ["ACR (exam)", "Subtlety (image)"]
