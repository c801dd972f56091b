"""prepare_dataset: masking, crops and their normal pairs, bad inputs counted, resume, shards, opaque names."""

import json
import re
from pathlib import Path

import numpy as np
from PIL import Image

from mammovqa.data.dicom import write_dicom
from mammovqa.data.imaging import SourceImage, synthetic_mammogram
from mammovqa.data.prepare import place_normal, prepare_dataset
from mammovqa.data.records import Record
from mammovqa.io import read_jsonl
from mammovqa.paths import resolve


def _records(tmp: Path) -> list[Record]:
    recs = []
    for i, lat in enumerate("LR"):
        arr, _ = synthetic_mammogram((600, 450), laterality=lat, seed=i)
        p = str(write_dicom(tmp / "src" / f"img{i}.dcm", arr, window=(2000, 4000), laterality=lat))
        recs.append(Record(f"T-breast/{i}", "T-breast", "breast", [p], {"Laterality": [lat]}, f"P{i}",
                           laterality=lat, view="CC", extra={"row": i + 2}))
        cx = 60 if lat == "L" else 390
        recs.append(Record(f"T-finding/{i}a", "T-finding", "finding", [p], {"Pathology": ["Malignant"]}, f"P{i}",
                           source_image=p, box=[cx, 250, cx + 40, 290]))
        recs.append(Record(f"T-finding/{i}b", "T-finding", "finding", [p], {"Pathology": ["Benign"]}, f"P{i}",
                           source_image=p, extra={"center": [cx + 20, 380], "radius": 25}))
    recs.append(Record("T-exam/0", "T-exam", "exam", [recs[0].images[0], recs[3].images[0]], {}, "P0"))
    return recs


def test_prepare_crops_normals_masking(tmp_path: Path) -> None:
    out = tmp_path / "out"
    s = prepare_dataset(_records(tmp_path), out, size=64, seed=3)
    rows = read_jsonl(out / "records.jsonl")
    assert s["failed"] == 0 and s["by_kind"] == {"breast": 2, "exam": 1, "finding": 4, "normal": 4}
    assert s["masked_components"] >= 2  # one burned-in marker per image
    for r in rows:
        for img in r["images"]:
            name = Path(img).name
            assert re.fullmatch(r"[0-9a-f]{20}\.png", name), name  # opaque: no label, side, view or kind
            im = Image.open(resolve(img))
            assert im.mode == "L" and im.size == (64, 64)  # same channel count and size for every kind
    by_id = {r["record_id"]: r for r in rows}
    for r in rows:
        if r["kind"] != "normal":
            continue
        lesion = by_id[r["extra"]["pair_of"]]
        assert r["labels"] == {"Pathology": ["Normal"]}
        nb = r["box"]
        assert nb[2] - nb[0] == lesion["box"][2] - lesion["box"][0]
        assert nb[3] - nb[1] == lesion["box"][3] - lesion["box"][1]
        src = SourceImage.open(r["source_image"])
        u = src.unit
        for other in (x for x in rows if x["kind"] == "finding" and x["source_image"] == r["source_image"]):
            ob = other["box"]
            assert nb[2] <= ob[0] or nb[0] >= ob[2] or nb[3] <= ob[1] or nb[1] >= ob[3], (nb, ob)
        ys, xs = np.mgrid[nb[1]: nb[3], nb[0]: nb[2]]
        assert src.seg.breast[np.minimum(ys // u, src.seg.breast.shape[0] - 1),
                               np.minimum(xs // u, src.seg.breast.shape[1] - 1)].all()
    exam = by_id["T-exam/0"]
    assert exam["images"] == [by_id["T-breast/0"]["image"], by_id["T-breast/1"]["image"]]


def test_bad_inputs_counted_and_run_goes_on(tmp_path: Path) -> None:
    recs = _records(tmp_path)[:3]
    good = Path(recs[0].images[0]).read_bytes()
    (tmp_path / "trunc.dcm").write_bytes(good[: len(good) // 3])
    (tmp_path / "fake.png").write_bytes(b"\x89PNX not really")
    for i, name in enumerate(("trunc.dcm", "fake.png", "missing.png")):
        recs.append(Record(f"T-breast/bad{i}", "T-breast", "breast", [str(tmp_path / name)], {}, "PX",
                           extra={"row": 10 + i}))
    out = tmp_path / "out"
    s = prepare_dataset(recs, out, size=32, seed=0)
    assert s["failed"] == 3 and s["records_failed"] == 3 and s["prepared"] == 1
    files = sorted(Path(e["file"]).name for e in s["errors"])
    assert files == ["fake.png", "missing.png", "trunc.dcm"]
    assert sorted(e["rows"][0] for e in s["errors"]) == [10, 11, 12]
    assert len(read_jsonl(out / "records.jsonl")) == 5  # the good image's breast, 2 findings, 2 normals
    assert not list(out.rglob("*.tmp")) and not list(out.rglob(".*"))  # nothing half-written


def test_resume_skips_prepared_and_is_deterministic(tmp_path: Path) -> None:
    recs = _records(tmp_path)
    out = tmp_path / "out"
    s1 = prepare_dataset(recs, out, size=48, seed=1)
    first = (out / "records.jsonl").read_bytes()
    pngs = {p: p.read_bytes() for p in out.rglob("*.png")}
    s2 = prepare_dataset(recs, out, size=48, seed=1)
    assert s1["prepared"] == 2 and s2["prepared"] == 0 and s2["skipped_existing"] == 2
    assert (out / "records.jsonl").read_bytes() == first
    victim = sorted(pngs)[0]
    victim.unlink()  # a lost image makes its source image be redone, with identical bytes
    s3 = prepare_dataset(recs, out, size=48, seed=1)
    assert s3["prepared"] == 1 and victim.read_bytes() == pngs[victim]
    fresh = tmp_path / "fresh"
    prepare_dataset(recs, fresh, size=48, seed=1, workers=2)
    assert sorted(p.read_bytes() for p in fresh.rglob("*.png")) == sorted(pngs.values())


def test_shards_then_merge(tmp_path: Path) -> None:
    recs = _records(tmp_path)
    out = tmp_path / "out"
    a = prepare_dataset(recs, out, size=32, seed=0, shard=(0, 2))
    b = prepare_dataset(recs, out, size=32, seed=0, shard=(1, 2))
    assert a["source_images"] == b["source_images"] == 1
    merged = prepare_dataset(recs, out, size=32, seed=0)
    assert merged["prepared"] == 0 and merged["rows_written"] == 11
    assert json.loads((out / "summary" / "records.shard-0-of-2.json").read_text())["shard"] == [0, 2]


def test_place_normal_reports_no_room() -> None:
    breast = np.zeros((20, 20), bool)
    breast[5:15, 5:15] = True
    rng = np.random.default_rng(0)
    box, why = place_normal(breast, 4, [], 60, 60, rng)
    assert box is None and why == "lesion_larger_than_breast"
    box, why = place_normal(breast, 4, [[20, 20, 60, 60]], 20, 20, rng)
    assert box is None and why == "no_room_outside_lesions"
    box, why = place_normal(breast, 4, [[20, 20, 40, 40]], 8, 8, rng)
    assert why is None and (box[2] <= 20 or box[0] >= 40 or box[3] <= 20 or box[1] >= 40)


def test_bad_lesion_box_costs_only_its_crop(tmp_path: Path, capsys) -> None:
    recs = _records(tmp_path)
    p = recs[0].images[0]
    recs.append(Record("T-finding/0z", "T-finding", "finding", [p], {"Pathology": ["Benign"]}, "P0",
                       source_image=p, box=[5000, 5000, 5100, 5100]))  # wholly outside the 600x450 image
    s = prepare_dataset(recs, tmp_path / "out", size=64, seed=3)
    rows = read_jsonl(tmp_path / "out" / "records.jsonl")
    ids = {r["record_id"] for r in rows}
    assert "T-breast/0" in ids and "T-finding/0a" in ids and "T-finding/0z" not in ids
    assert s["by_kind"]["finding"] == 4
    assert "T-finding/0z" in capsys.readouterr().err


def test_outputs_do_not_depend_on_where_the_data_lives(tmp_path: Path) -> None:
    """Same images and seed in two folders: the same records, image names and normal placements (a CI failure
    once came from a placement that hashed the absolute path of a temporary folder)."""
    outs = []
    for where in ("here", "elsewhere/deeper"):
        base = tmp_path / where
        prepare_dataset(_records(base), base / "out", size=64, seed=3, roots={"T": base / "src"})
        outs.append((base / "out" / "records.jsonl").read_text().replace(str(base / "out"), "OUT"))
    assert outs[0] == outs[1]
    assert "{T}/img0.dcm" in outs[0] and '"kind":"normal"' in outs[0]
