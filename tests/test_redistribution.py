"""Dataset terms: images and report text of restricted datasets stay out of galleries, manuscript and notebooks.

Measured before: a real-data run embedded gallery images of every dataset in the manuscript, although the
terms of VinDr-Mammo, EMBED, CSAW-M, INbreast and RSNA forbid redistribution.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from mammovqa.config import load_datasets
from mammovqa.data.records import Record
from mammovqa.errors import ConfigError
from mammovqa.outputs import may_show, notice_tile, redact_images, redact_report_rows, withheld_note
from mammovqa.paths import MANIFEST_DIR
from mammovqa.qa import summary


def test_every_real_dataset_states_its_terms() -> None:
    ds = load_datasets()
    for d in ds.real.values():
        assert d.terms_source.startswith("http"), d.name
    for name in ("VinDr-Mammo", "EMBED", "CSAW-M", "INbreast", "RSNA"):
        assert ds.real[name].redistributable is False, name
    for name in ("CBIS-DDSM", "DMID", "MM"):  # CC BY: sharing with attribution allowed
        assert ds.real[name].redistributable is True, name
    assert all(d.redistributable for d in ds.phantom.values())


def test_a_dataset_without_the_flag_is_a_config_error(tmp_path: Path) -> None:
    raw = yaml.safe_load((MANIFEST_DIR / "datasets.yaml").read_text(encoding="utf-8"))
    del raw["datasets"]["RSNA"]["redistributable"]
    bad = tmp_path / "datasets.yaml"
    bad.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"datasets\.RSNA\.redistributable"):
        load_datasets(bad, MANIFEST_DIR / "topics.yaml")


def test_may_show_by_dataset_and_sub_dataset() -> None:
    assert may_show("CBIS-DDSM-finding") and may_show("DMID-breast", "report") and may_show("Phantom-VinDr-breast")
    assert not may_show("VinDr-Mammo-finding") and not may_show("EMBED") and not may_show("CSAW-M")
    assert not may_show("no-such-dataset")  # when in doubt, leave it out
    with pytest.raises(ValueError):
        may_show("CBIS-DDSM-breast", "pixels")


def _png(path: Path, value: int) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((32, 32), value, np.uint8)).save(path)
    return str(path)


def test_gallery_of_a_real_run_shows_no_restricted_image(tmp_path: Path) -> None:
    recs = []
    for i, (ds, lat, view) in enumerate([("VinDr-Mammo-breast", "Left", "CC"), ("CBIS-DDSM-breast", "Right", "CC"),
                                         ("RSNA", "Left", "MLO"), ("DMID-breast", "Right", "MLO")]):
        recs.append(Record(f"{ds}/{i}", ds, "breast", [_png(tmp_path / f"{i}.png", 40 * i)], {"ACR": ["Level B"]},
                           f"P{i}", laterality=lat, view=view, report="verbatim report" if ds == "DMID-breast" else
                           ("restricted report" if ds == "RSNA" else None)))
    pairs = summary.gallery_records(recs)
    assert {r.dataset for r, _ in pairs} == {r.dataset for r in recs}
    tile = notice_tile(tmp_path / "tile.png")
    shown, withheld = redact_images([r for r, _ in pairs], tile)
    assert withheld == ["RSNA", "VinDr-Mammo-breast"]
    restricted = {p for r in recs if r.dataset in withheld for p in r.images}
    assert not restricted & {p for r in shown for p in r.images}
    by_id = {r.record_id: r for r in shown}
    assert by_id["CBIS-DDSM-breast/1"].images == recs[1].images  # allowed images are kept as they are
    assert by_id["RSNA/2"].images == [str(tile)] and by_id["RSNA/2"].report is None
    assert by_id["DMID-breast/3"].report == "verbatim report"
    note = withheld_note(withheld)
    assert "RSNA" in note and "VinDr-Mammo-breast" in note and "not shown" in note
    assert withheld_note([]) == ""


def test_reference_report_text_of_restricted_datasets_is_replaced() -> None:
    rows = [{"id": "DMID-breast/1", "generated": "g1", "reference": "DMID text"},
            {"id": "VinDr-Mammo-breast/2", "generated": "g2", "reference": "VinDr text"},
            {"id": "x", "dataset": "EMBED", "report": "EMBED text"}]
    out, withheld = redact_report_rows(rows)
    assert withheld == ["EMBED", "VinDr-Mammo-breast"]
    assert out[0] == rows[0] and "VinDr text" not in str(out) and "EMBED text" not in str(out)
    assert out[1]["generated"] == "g2"
