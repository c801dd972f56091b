"""Model registry: the committed file loads with the paper's models; bad entries and missing weights fail clearly."""

from pathlib import Path

import pytest
import yaml

from mammovqa.config import load_yaml
from mammovqa.errors import ConfigError
from mammovqa.models.registry import (
    WeightsNotFound,
    availability,
    find_weights,
    get_model,
    load_models,
    parse_models,
)
from mammovqa.paths import LOCAL_MODELS_DIR, MANIFEST_DIR

REGISTRY = MANIFEST_DIR / "models.yaml"


def test_committed_registry_has_the_paper_models():
    models = load_models()
    zero_shot = [m for m in models.values() if m.role == "zero-shot"]
    assert len(zero_shot) == 12
    multi = {m.id for m in zero_shot if m.multi_image}
    # docs/protocol.md §6: multi-image capable models
    assert multi == {"llava-interleave-qwen-7b", "internvl3-8b", "qwen2.5-vl-7b", "radfm-14b", "med-flamingo-7b",
                     "medgemma-4b"}
    assert {m.id for m in zero_shot if not m.native} == {"minigpt4-7b", "llava-med-7b", "radfm-14b",
                                                        "med-flamingo-7b", "medvint-td-7b", "meddr-40b"}
    assert models["llava-next-vicuna-7b"].hf_id == "llava-hf/llava-v1.6-vicuna-7b-hf"
    assert models["phi-3.5-vision"].native is False
    assert get_model("google/medgemma-4b-it").id == "medgemma-4b"  # lookup by HF id too
    tiny = models["tiny-vlm"]
    assert tiny.native and (Path("/") / tiny.local_path).name == LOCAL_MODELS_DIR.joinpath("tiny-vlm").name


def _raw():
    return load_yaml(REGISTRY)


@pytest.mark.parametrize("mutate, key, text", [
    (lambda r: r["models"]["medgemma-4b"].update(family="gemma9"), "models.medgemma-4b.family", "gemma9"),
    (lambda r: r["models"]["medgemma-4b"].update(multi_image="yes"), "models.medgemma-4b.multi_image", "'yes'"),
    (lambda r: r["models"]["medgemma-4b"].pop("native"), "models.medgemma-4b.native", "missing"),
    (lambda r: r["models"]["medgemma-4b"].update(colour="red"), "models.medgemma-4b.colour", "unknown key"),
    (lambda r: r["models"]["minigpt4-7b"].update(native=True), "models.minigpt4-7b.native", "family"),
    (lambda r: r["models"].update(lora={"family": "llava_next", "multi_image": False, "native": True,
                                        "role": "adapter", "local_path": "x"}), "models.lora.base", "base"),
    (lambda r: r["models"].update(lora={"family": "llava_next", "multi_image": False, "native": True,
                                        "role": "adapter", "local_path": "x", "base": "nope"}),
     "models.lora.base", "'nope'"),
    # the trained: section and the file's root
    (lambda r: r["trained"]["r50-mammo"].update(role="teacher"), "trained.r50-mammo.role", "'teacher'"),
    (lambda r: r["trained"]["r50-mammo"].update(family="llava"), "trained.r50-mammo.family", "unknown key"),
    (lambda r: r["trained"].update({"medgemma-4b": {"name": "x", "role": "fine-tuned"}}), "trained.medgemma-4b",
     "one category"),
    (lambda r: r.update(extra={}), "extra", "unknown key"),
    (lambda r: r.update(models={}), "models", "at least 1"),
])
def test_bad_entries_name_file_key_and_value(mutate, key, text):
    raw = _raw()
    mutate(raw)
    with pytest.raises(ConfigError) as exc:
        parse_models(raw, REGISTRY)
    assert exc.value.key == key and str(REGISTRY) in str(exc.value) and text in str(exc.value)


def test_adapter_entry_is_accepted():
    raw = _raw()
    raw["models"]["llava-mammo"] = {"family": "llava_next", "multi_image": False, "native": True, "role": "adapter",
                                    "local_path": "results/x/train/adapter", "base": "llava-next-vicuna-7b"}
    assert parse_models(raw, REGISTRY)["llava-mammo"].base == "llava-next-vicuna-7b"
    # the older spelling adapter_of, an absent name (the id), defaults and a note kept as stripped text
    raw["models"]["llava-mammo"] = {"family": "llava_next", "multi_image": False, "native": True, "role": "adapter",
                                    "local_path": "x", "adapter_of": "llava-next-vicuna-7b", "note": " why \n"}
    spec = parse_models(raw, REGISTRY)["llava-mammo"]
    assert (spec.id, spec.name, spec.base, spec.note) == ("llava-mammo", "llava-mammo", "llava-next-vicuna-7b", "why")
    assert (spec.dtype, spec.chat_template, spec.hf_id, spec.family) == ("bfloat16", "processor", None, "llava_next")


def test_missing_weights_error_names_model_and_places(tmp_path):
    spec = get_model("medgemma-4b")
    with pytest.raises(WeightsNotFound) as exc:
        find_weights(spec, local_config=tmp_path / "local.yaml", cache_dir=tmp_path / "hub")
    msg = str(exc.value)
    assert "medgemma-4b" in msg and str(tmp_path / "hub") in msg and "google/medgemma-4b-it" in msg
    ok, why = availability(get_model("radfm-14b"))
    assert not ok and "not native" in why


def test_local_yaml_then_hf_cache(tmp_path):
    spec = get_model("qwen2.5-vl-7b")
    # an HF cache laid out as huggingface_hub writes it
    snap = tmp_path / "hub" / "models--Qwen--Qwen2.5-VL-7B-Instruct" / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (snap / "config.json").write_text("{}")
    (snap.parents[1] / "refs").mkdir()
    (snap.parents[1] / "refs" / "main").write_text("abc123")
    assert find_weights(spec, local_config=tmp_path / "none.yaml", cache_dir=tmp_path / "hub") == snap
    # local.yaml wins over the cache
    local = tmp_path / "ckpt"
    local.mkdir()
    (local / "config.json").write_text("{}")
    cfg = tmp_path / "local.yaml"
    cfg.write_text(yaml.safe_dump({"models": {"qwen2.5-vl-7b": str(local)}}))
    assert find_weights(spec, local_config=cfg, cache_dir=tmp_path / "hub") == local
    # a local.yaml path without weights is reported, not silently skipped
    cfg.write_text(yaml.safe_dump({"models": {"qwen2.5-vl-7b": str(tmp_path / "gone")}}))
    with pytest.raises(WeightsNotFound, match="gone"):
        find_weights(spec, local_config=cfg, cache_dir=tmp_path / "empty")


def test_category_comes_from_the_registry_role():
    from mammovqa.models.registry import category, load_trained
    from mammovqa.pipeline import FINETUNED_ID
    from mammovqa.train.closed_set import MODELS as CLOSED_SET_MODELS
    from mammovqa.train.recipe import load_recipe

    assert category("baseline/random") == "baseline"
    assert category("tiny-vlm") == "architecture check"
    assert {category(m.id) for m in load_models().values() if m.role == "zero-shot"} == {"zero-shot"}
    # every model a run trains is registered under its role, so no category is guessed from a name
    assert {m: category(m) for m in CLOSED_SET_MODELS} == {m: "closed-set" for m in CLOSED_SET_MODELS}
    for recipe in ("tiny_cpu.yaml", "llava_mammo.yaml"):
        assert category(load_recipe(recipe).name) == "fine-tuned"
    assert category(FINETUNED_ID) == "fine-tuned"
    assert set(load_trained()) == {*CLOSED_SET_MODELS, "tiny-vlm-mammo", "llava-mammo"}
    assert category("some-unregistered-mammo") == "zero-shot"  # a name alone no longer makes a category


def test_local_yaml_is_validated(tmp_path):
    from mammovqa.models.registry import local_overrides

    cfg = tmp_path / "local.yaml"
    assert local_overrides(cfg) == {}  # no file: no overrides
    cfg.write_text("datasets: {MIAS: /data/mias}\nmodels: {medgemma-4b: /w/medgemma}\n")
    assert local_overrides(cfg) == {"medgemma-4b": "/w/medgemma"}
    cfg.write_text("model: {medgemma-4b: /w/medgemma}\n")  # misspelt section: an error, not silence
    with pytest.raises(ConfigError, match=r"local\.yaml: model: unknown key 'model' \(allowed: datasets, models\)"):
        local_overrides(cfg)
    cfg.write_text("models: [a, b]\n")
    with pytest.raises(ConfigError, match=r"local\.yaml: models: .*dictionary, got \['a', 'b'\]"):
        local_overrides(cfg)
