"""The transformers adapter on tiny random checkpoints of every native family, and the tiny offline VLM.

Real transformers code paths (processors or the CPU composition of docs/protocol.md §9, generate), no mocks.
"""

import json

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from mammovqa.models.hf import HFModel, Request
from mammovqa.models.tiny import build_tiny_vlm
from mammovqa.models.tiny_families import BUILDERS, build_tiny_family
from mammovqa.qa.items import build_prompt

torch.set_num_threads(1)

PROMPT = build_prompt("Which breast is shown in this mammogram?", ["Right", "Left"], "single")
PROMPT2 = build_prompt("Which abnormalities are present in this mammogram image?", ["Mass", "Normal", "Asymmetry"],
                       "multiple")


def _images():
    return [Image.new("RGB", (48, 80), (120, 120, 120)), Image.new("RGB", (90, 60), (20, 200, 40)),
            Image.new("RGB", (64, 64), (250, 10, 10))]


# expected image-placeholder tokens per image for each tiny family (what the real processor would insert)
EXPECTED_IMAGE_TOKENS = {"llava": 16, "llava_interleave": 16, "gemma3": 4, "internvl": 4,
                         "blip2": 4, "instructblip": 4}


@pytest.fixture(scope="module")
def family_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("families")
    return {f: build_tiny_family(f, root / f, seed=0) for f in BUILDERS}


@pytest.mark.parametrize("family", list(BUILDERS))
def test_family_batched_generate_matches_one_by_one(family, family_dirs):
    m = HFModel(family_dirs[family], max_new_tokens=4, generate_kwargs={"min_new_tokens": 2})
    tok = m.tokenizer
    # random weights often pick special tokens; forbid them so the test sees real generated text
    m.generate_kwargs["suppress_tokens"] = sorted(set(tok.added_tokens_decoder) - {tok.eos_token_id})
    ims = _images()
    second = ims[1:] if m.multi_image else ims[1:2]
    reqs = [Request(PROMPT, ims[:1]), Request(PROMPT2, second)]
    enc = m.encode(reqs)
    assert enc["input_ids"].shape[0] == 2
    assert (enc["attention_mask"][:, -1] == 1).all(), "left padding: every row ends with a real token"
    image_id = m.model.config.image_token_id
    n_img = (enc["input_ids"] == image_id).sum(dim=1).tolist()
    if family in EXPECTED_IMAGE_TOKENS:
        per = EXPECTED_IMAGE_TOKENS[family]
        assert n_img == [per * 1, per * len(second)]
    elif family == "qwen2_5_vl":  # dynamic resolution: 14-px patches merged 2x2, aspect ratio kept
        per_image = (enc["image_grid_thw"].prod(dim=1) // 4).tolist()
        assert n_img == [per_image[0], sum(per_image[1:])] and len(per_image) == 1 + len(second)
    else:  # llava_next: any-resolution tiles, more tokens for more image area
        assert n_img[0] > 16 and n_img[1] > 16
    batched = m.generate(reqs)
    single = m.generate(reqs[:1]) + m.generate(reqs[1:])
    assert batched == single
    assert all(isinstance(t, str) and t for t in batched)
    if family in ("llava_next", "blip2", "instructblip"):
        assert not m.multi_image
        assert m.select_images(ims)[1] == ["single-image model: passed image 1 of 3"]
    else:
        assert m.multi_image


def test_family_without_processor_is_composed_by_hand(family_dirs):
    # Qwen2.5-VL and InternVL processors need torchvision here (docs/protocol.md §9); the adapter composes inputs
    for family in ("qwen2_5_vl", "internvl"):
        m = HFModel(family_dirs[family], max_new_tokens=2)
        try:
            import torchvision  # noqa: F401
        except ImportError:
            assert m.processor is None


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_vlm(tmp_path_factory.mktemp("tiny") / "tiny-vlm", seed=0)


def test_tiny_vlm_is_seeded_small_and_loads_like_a_checkpoint(tiny, tmp_path):
    meta = json.loads((tiny / "mammovqa_tiny.json").read_text())
    assert 500_000 < meta["parameters"] < 3_000_000 and meta["image_tokens"] <= 64
    again = build_tiny_vlm(tmp_path / "again", seed=0)
    other = build_tiny_vlm(tmp_path / "other", seed=1)
    a, b, c = (load_file(p / "model.safetensors") for p in (tiny, again, other))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    assert (tiny / "tokenizer.json").read_bytes() == (again / "tokenizer.json").read_bytes()
    m = HFModel(tiny, max_new_tokens=6)
    assert type(m.model).__name__ == "LlavaForConditionalGeneration" and m.processor is not None
    text = m.render(PROMPT, 2)
    assert text.count("<image>") == 2 and text.endswith("<|assistant|>") and PROMPT in text
    # the protocol vocabulary is cheap: whole option strings are one or two tokens
    for word in ("Right", "Left", "Calcification", "Malignant", "quadrant"):
        assert len(m.tokenizer.tokenize(" " + word)) <= 2, word
    report = "Breast Composition: ACR C. BIRADS: 4a. Findings: spiculated mass at 10 o'clock, 12 mm."
    assert m.tokenizer.decode(m.tokenizer(report, add_special_tokens=False)["input_ids"]) == report
    ims = _images()
    reqs = [Request(PROMPT, ims[:1]), Request(PROMPT2, ims[1:]), Request(PROMPT, ims[2:])]
    assert m.generate(reqs) == [m.generate([r])[0] for r in reqs]


def test_oom_halves_the_batch(tiny):
    m = HFModel(tiny, max_new_tokens=3)
    real = m._generate
    sizes = []

    def flaky(requests, max_new_tokens):
        sizes.append(len(requests))
        if len(requests) > 1:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(requests, max_new_tokens)

    m._generate = flaky
    ims = _images()
    reqs = [Request(PROMPT, [im]) for im in ims]
    out = m.generate(reqs)
    assert len(out) == 3 and sizes[0] == 3 and max(sizes[1:]) <= 2
    m._generate = real
    assert out == m.generate(reqs)
