"""`mammovqa export hf`: the real `datasets` library reads the export back item for item, pixels included,
and restricted datasets carry keys instead of pixels."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from mammovqa.export.common import terms_of
from mammovqa.export.hf import export_hf, row_item
from mammovqa.paths import RunPaths
from mammovqa.qa.items import item_prompt, read_items
from test_export_helpers import build_phantom_root

datasets = pytest.importorskip("datasets", reason="datasets is pinned in requirements.lock; run make venv")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_phantom_root(tmp_path_factory.mktemp("export_hf"))


def _load(out: Path, tmp: Path):  # noqa: ANN202
    return datasets.load_dataset("parquet", data_dir=str(out), cache_dir=str(tmp / "hf_cache"))


def test_round_trip_gives_items_back_exactly(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "hf"
    summary = export_hf("phantom", "smoke", out, root=root)
    run = RunPaths("phantom", "smoke", 0, root)
    items = read_items(run.qa_items)
    ds = _load(out, tmp_path)
    assert set(ds) == set(summary["rows"]) == {it.split for it in items}
    by_id = {it.id: it for it in items}
    seen = []
    for split in ds:
        for row in ds[split]:
            it = by_id[row["id"]]
            back = row_item(row)
            back.images = it.images
            assert back == it
            assert row["prompt"] == item_prompt(it)
            assert len(row["images"]) == len(it.images) and row["redistributable"]
            for img, path in zip(row["images"], it.images, strict=True):
                want = Image.open(io.BytesIO((root / path).read_bytes()))
                assert img.size == want.size and img.tobytes() == want.tobytes()
            seen.append(row["id"])
    assert sorted(seen) == sorted(by_id)
    # file order inside each split is the run's order
    assert [r["id"] for r in ds["test"]] == [it.id for it in items if it.split == "test"]


def test_card_has_yaml_header_and_terms(root: Path, tmp_path: Path) -> None:
    import yaml

    out = tmp_path / "hf"
    export_hf("phantom", "smoke", out, root=root)
    text = (out / "README.md").read_text()
    head = yaml.safe_load(text.split("---")[1])
    names = [f["name"] for f in head["dataset_info"]["features"]]
    assert {"id", "question", "options", "answer", "prompt", "images", "patient_id"} <= set(names)
    assert {c["split"] for c in head["configs"][0]["data_files"]} == {"train", "val", "test", "external"}
    assert "Synthetic phantom data" in text
    ds = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "c2"))  # the card's configs work too
    assert ds["test"].num_rows == sum(1 for it in read_items(RunPaths("phantom", "smoke", 0, root).qa_items) if it.split == "test")


def test_restricted_dataset_gets_keys_not_pixels(root: Path, tmp_path: Path) -> None:
    assert not terms_of("VinDr-Mammo-breast").redistributable
    assert not terms_of("EMBED").redistributable and not terms_of("RSNA").redistributable
    assert terms_of("Phantom-CBIS-breast").redistributable
    run = RunPaths("phantom", "smoke", 0, root)
    lines = run.qa_items.read_text().splitlines()
    rows = [json.loads(x) for x in lines]
    for r in rows[:10]:
        r["dataset"] = "VinDr-Mammo-breast"  # pretend these items came from a credentialed dataset
    fake = RunPaths("phantom", "restricted", 0, root)
    fake.qa_dir.mkdir(parents=True)
    fake.qa_items.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "hf"
    summary = export_hf("phantom", "restricted", out, root=root)
    assert summary["withheld_images"] == ["VinDr-Mammo"]
    ds = _load(out, tmp_path)
    got = {r["id"]: r for s in ds for r in ds[s]}
    for r in rows[:10]:
        assert got[r["id"]]["images"] == [] and not got[r["id"]]["redistributable"]
        assert got[r["id"]]["image_keys"] == [p.split(f"data/{run.name}/", 1)[1] for p in r["images"]]
    assert all(got[r["id"]]["images"] for r in rows[10:])
    card = (out / "README.md").read_text()
    assert "| VinDr-Mammo | no:" in card and "physionet.org" in card


def test_missing_run_is_a_user_error(tmp_path: Path) -> None:
    from mammovqa.errors import MammoVQAError

    with pytest.raises(MammoVQAError, match="mammovqa data build"):
        export_hf("phantom", "nosuch", tmp_path / "o", root=tmp_path)
