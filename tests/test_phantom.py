"""The phantom benchmark: determinism, and every label -> pixel link measured from the written PNGs."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mammovqa.config import Profile, get_profile, load_datasets, load_topics
from mammovqa.data.phantom import PhantomSource, generate
from mammovqa.data.phantom.generate import part_size
from mammovqa.data.records import Record, Source
from mammovqa.paths import resolve


def _profile(size: int = 96, scale: float = 0.04, min_per_part: int = 8) -> Profile:
    return dataclasses.replace(get_profile("smoke"), name="test", image_size=size, scale=scale,
                               min_per_part=min_per_part)


def _only(*names: str, size: dict[str, int] | None = None):
    """Datasets manifest reduced to some phantom datasets (optionally resized) to keep tests fast."""
    ds = load_datasets()
    keep = {}
    for n in names:
        d = ds.phantom[n]
        if size and n in size:
            d = dataclasses.replace(d, parts={k: dataclasses.replace(p, size=size[n] if p.size else 0)
                                              for k, p in d.parts.items()})
        keep[n] = d
    return dataclasses.replace(ds, phantom=keep)


def _img(path: str) -> np.ndarray:
    with Image.open(resolve(path)) as im:
        assert im.mode == "L", f"{path}: mode {im.mode}"
        return np.asarray(im)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _strip(records: list[Record], root: Path) -> list[str]:
    """Records as JSON with the output folder removed, so two folders can be compared."""
    import json

    out = []
    for r in records:
        text = json.dumps(r.to_json(), sort_keys=True)
        out.append(text.replace(resolve(root).as_posix(), "<OUT>").replace(str(root), "<OUT>"))
    return out


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> tuple[Path, list[Record], dict]:
    out = tmp_path_factory.mktemp("phantom") / "smoke"
    records, summary = generate(out, get_profile("smoke"), seed=0)
    return out, records, summary


# ------------------------------------------------------------------ determinism and files


def test_same_seed_identical_bytes_other_seed_differs_workers_agree(smoke, tmp_path):
    out, records, _ = smoke
    again, _ = generate(tmp_path / "a", get_profile("smoke"), seed=0, workers=2)
    assert _files(out) == _files(tmp_path / "a")
    assert _strip(records, out) == _strip(again, tmp_path / "a")
    other, _ = generate(tmp_path / "b", get_profile("smoke"), seed=1)
    fa, fb = _files(out), _files(tmp_path / "b")
    common = set(fa) & set(fb)
    assert common and sum(fa[k] != fb[k] for k in common) > 0.9 * len(common)
    assert _strip(records, out) != _strip(other, tmp_path / "b")


def test_rerun_is_idempotent_and_repairs_missing_files(smoke, tmp_path):
    out = tmp_path / "r"
    generate(out, get_profile("smoke"), seed=0)
    before = _files(out)
    victim = sorted(out.rglob("*.png"))[3]
    victim.unlink()
    (out / "Phantom-MM").mkdir(exist_ok=True)
    _, summary = generate(out, get_profile("smoke"), seed=0)
    assert _files(out) == before  # no leftover temporary files, missing image restored
    assert summary["files"].get("png_written") == 1
    assert summary["files"]["png_unchanged"] == len(before) - 1


def test_record_structure_ids_sizes_and_summary(smoke):
    out, records, summary = smoke
    assert isinstance(PhantomSource(out, get_profile("smoke")), Source)
    ids = [r.record_id for r in records]
    assert len(ids) == len(set(ids))
    ds = load_datasets()
    by_ds = defaultdict(list)
    for r in records:
        by_ds[r.dataset].append(r)
    for d in ds.phantom.values():
        for part in d.parts.values():
            if part.part == "breast":
                assert len(by_ds[part.name]) == part_size(part, get_profile("smoke")), part.name
            if part.part == "finding":
                kinds = [r.kind for r in by_ds[part.name]]
                assert kinds and kinds.count("finding") == kinds.count("normal"), part.name
    assert summary["complete"] and summary["records_total"] == len(records)
    for r in records:
        for p in r.images:
            assert resolve(p).is_file(), p
        assert r.report is None and r.site in {f"site{k}" for k in range(8)}
    # CC and MLO of one breast share the patient, laterality and the truth behind the labels
    pats = defaultdict(list)
    for r in by_ds["Phantom-VinDr-breast"]:
        pats[r.patient_id].append(r)
    pairs = [v for v in pats.values() if len(v) == 2]
    assert pairs
    for a, b in pairs:
        assert {a.view, b.view} == {"CC", "MLO"} and a.laterality == b.laterality
        assert a.labels["ACR"] == b.labels["ACR"] and a.labels["Abnormality"] == b.labels["Abnormality"]


def test_external_sets_use_only_external_sites(smoke):
    _, records, _ = smoke
    ds = load_datasets()
    for r in records:
        sites = ds.part(r.dataset).sites
        assert int(r.site.removeprefix("site")) in sites
        if ds.part(r.dataset).role == "external":
            assert int(r.site.removeprefix("site")) >= 4


def test_every_label_is_a_valid_option_of_the_parts_topics(smoke):
    _, records, _ = smoke
    topics, ds = load_topics(), load_datasets()
    for r in records:
        assert set(r.labels) == set(ds.part(r.dataset).topics), r.record_id
        for topic, values in r.labels.items():
            assert isinstance(values, list) and values, (r.record_id, topic)
            for v in values:
                topics.check_option(topic, v, where=f"{r.record_id}.{topic}")
            if topics[topic].kind == "single":
                assert len(values) == 1
            else:
                assert values == sorted(values)


# ------------------------------------------------------------------ label -> pixel causality


@pytest.fixture(scope="module")
def vindr(tmp_path_factory) -> tuple[PhantomSource, list[Record]]:
    out = tmp_path_factory.mktemp("phantom") / "vindr"
    src = PhantomSource(out, _profile(96, scale=1.0), seed=3, datasets=_only("Phantom-VinDr", size={"Phantom-VinDr": 160}))
    return src, list(src.records())


def test_laterality_is_the_side_holding_the_breast(vindr):
    _, records = vindr
    for r in records:
        img = _img(r.images[0]).astype(float)
        half = img.shape[1] // 2
        left, right = img[:, :half].mean(), img[:, half:].mean()
        assert (left > right) == (r.labels["Laterality"] == ["Right"]), r.record_id
    assert {r.laterality for r in records} == {"Right", "Left"}


def test_pectoral_muscle_only_in_mlo(vindr):
    _, records = vindr
    corner = {"CC": [], "MLO": []}
    for r in records:
        img = _img(r.images[0]).astype(float)
        n = max(3, img.shape[0] // 20)
        region = img[:n, :n] if r.laterality == "Right" else img[:n, -n:]  # chest-wall top corner
        corner[r.labels["View"][0]].append(region.mean())
    assert corner["CC"] and corner["MLO"]
    assert max(corner["CC"]) < 60 < min(corner["MLO"]), (max(corner["CC"]), min(corner["MLO"]))


def test_dense_tissue_fraction_increases_with_density(vindr):
    _, records = vindr
    frac = defaultdict(list)
    for r in records:
        img = _img(r.images[0]).astype(float)
        h, w = img.shape
        # central band of the breast away from the skin line and the muscle
        xs = slice(int(0.08 * w), int(0.40 * w)) if r.laterality == "Right" else slice(int(0.60 * w), int(0.92 * w))
        band = img[int(0.35 * h):int(0.65 * h), xs]
        frac[r.labels["ACR"][0]].append(float((band > 0.5 * (band.max() + img[img > 30].min())).mean()))
    means = [np.mean(frac[f"Level {k}"]) for k in "ABCD" if frac[f"Level {k}"]]
    assert len(means) == 4, {k: len(v) for k, v in frac.items()}
    assert all(a < b for a, b in zip(means, means[1:])), means
    fg = [r.extra["fg_fraction"] for r in records]
    bright = [float(_img(r.images[0])[_img(r.images[0]) > 30].mean()) for r in records]
    assert np.corrcoef(fg, bright)[0, 1] > 0.5


def test_lesions_present_exactly_where_labelled(vindr):
    src, records = vindr
    by_level = defaultdict(list)
    n_lesion = 0
    for r in records:
        full, clean = src.render_record(r, True).astype(int), src.render_record(r, False).astype(int)
        assert np.array_equal(full, _img(r.images[0]))
        diff = np.abs(full - clean)
        lesions = r.extra["lesions"]
        assert (r.labels["Abnormality"] == ["Normal"]) == (not lesions)
        outside = np.ones_like(diff, dtype=bool)
        for les in lesions:
            x0, y0, x1, y1 = les["box"]
            outside[y0:y1, x0:x1] = False
            box = diff[y0:y1, x0:x1]
            if les["subtlety"] >= 2:
                assert box.max() >= 5, (r.record_id, les)
            by_level[les["subtlety"]].append(box.sum() / max(les["radius_px"], 1) ** 2)
            n_lesion += 1
        assert diff[outside].max(initial=0) == 0, r.record_id  # nothing drawn outside the labelled boxes
    assert n_lesion >= 20
    low, high = np.mean(by_level[1] + by_level[2]), np.mean(by_level[4] + by_level[5])
    assert high > 1.5 * low, (low, high)  # subtlety Level 1 is the faintest


def test_abnormality_pathology_birads_agree_with_lesions(vindr):
    _, records = vindr
    names = {"mass": "Mass", "calcification": "Calcification", "distortion": "Architectural distortion",
             "asymmetry": "Asymmetry"}
    for r in records:
        lesions = r.extra["lesions"]
        assert r.labels["Abnormality"] == (sorted({names[les["type"]] for les in lesions}) or ["Normal"])
        assert r.labels["Bi-Rads"] == [f"Bi-Rads {r.extra['birads'][0]}"]
        if not lesions:
            assert r.extra["birads"] in ("0", "1") and r.extra["pathology"] == "Normal"
        else:
            malignant = any(les["pathology"] == "Malignant" for les in lesions)
            assert r.extra["pathology"] == ("Malignant" if malignant else "Benign")


# ------------------------------------------------------------------ crops and exams


@pytest.fixture(scope="module")
def cbis(tmp_path_factory) -> list[Record]:
    out = tmp_path_factory.mktemp("phantom") / "cbis"
    src = PhantomSource(out, _profile(128, scale=1.0), seed=5,
                        datasets=_only("Phantom-CBIS", "Phantom-DBT", size={"Phantom-CBIS": 120, "Phantom-DBT": 40}))
    return list(src.records())


def test_normal_crops_disjoint_from_lesions_and_inside_breast(cbis):
    records = cbis
    crops = {r.record_id: r for r in records if r.kind in ("finding", "normal")}
    breast_lesions = {r.images[0]: [les["box"] for les in r.extra["lesions"]] for r in records if r.kind == "breast"}
    normals = [r for r in crops.values() if r.kind == "normal"]
    assert len(normals) >= 60 and {n.dataset for n in normals} == {"Phantom-CBIS-finding", "Phantom-DBT"}
    for n in normals:
        lesion = crops[n.extra["normal_of"]]
        assert lesion.source_image == n.source_image and lesion.kind == "finding"
        src = _img(n.source_image)
        x0, y0, x1, y1 = n.box
        lx0, ly0, lx1, ly1 = lesion.box
        assert (x1 - x0, y1 - y0) == (lx1 - lx0, ly1 - ly0)
        assert 0 <= x0 < x1 <= src.shape[1] and 0 <= y0 < y1 <= src.shape[0]
        boxes = breast_lesions.get(n.source_image, n.extra["lesion_boxes"])
        for b in boxes + [lesion.box]:
            assert x1 <= b[0] or b[2] <= x0 or y1 <= b[1] or b[3] <= y0, (n.record_id, n.box, b)
        air = np.median(src[:, -3:] if n.laterality == "Right" else src[:, :3])  # far from the chest wall
        crop_f = src[y0:y1, x0:x1].astype(float)
        k = 4  # average 4x4 blocks so that detector noise cannot pass for air
        blocks = crop_f[:crop_f.shape[0] // k * k, :crop_f.shape[1] // k * k]
        blocks = blocks.reshape(blocks.shape[0] // k, k, -1, k).mean(axis=(1, 3))
        assert blocks.min() > air + 8, (n.record_id, blocks.min(), air)  # all tissue, no air
        crop, lcrop = _img(n.images[0]), _img(lesion.images[0])
        assert crop.shape == lcrop.shape == (y1 - y0, x1 - x0)
        assert np.array_equal(crop, src[y0:y1, x0:x1]) and np.array_equal(lcrop, src[ly0:ly1, lx0:lx1])
        assert all(v == ["Normal"] for v in n.labels.values())
        assert lesion.labels.get("Pathology", ["x"]) != ["Normal"]


def test_exam_records_have_four_views_and_shared_density(smoke):
    _, records, _ = smoke
    exams = [r for r in records if r.kind == "exam"]
    assert len(exams) == part_size(load_datasets().part("Phantom-EMBED"), get_profile("smoke"))
    order = ["1", "2", "3", "0", "4", "5"]
    for e in exams:
        assert len(e.images) == 4 and len(set(e.images)) == 4 and e.exam_id and e.patient_id
        assert e.labels["ACR"] == [f"Level {e.extra['density']}"]
        assert {(v["laterality"], v["view"]) for v in e.extra["views"]} == {
            ("Right", "CC"), ("Left", "CC"), ("Right", "MLO"), ("Left", "MLO")}
        worst = max((v["birads"][0] for v in e.extra["views"]), key=order.index)
        assert e.labels["Bi-Rads"] == [f"Bi-Rads {worst}"]
        # shared density is visible: the four views' breast brightness is close
        bright = [float(_img(p)[_img(p) > 30].mean()) for p in e.images]
        assert max(bright) - min(bright) < 40


def test_dbt_external_set_yields_only_crops_from_its_own_sources(smoke):
    _, records, _ = smoke
    dbt = [r for r in records if r.dataset == "Phantom-DBT"]
    assert dbt and {r.kind for r in dbt} == {"finding", "normal"}
    assert all("/source/" in r.source_image and r.site == "site4" for r in dbt)
    assert set(dbt[0].labels) == {"Pathology"}


def test_bad_seed_rejected(tmp_path):
    with pytest.raises(ValueError, match="seed"):
        PhantomSource(tmp_path, get_profile("smoke"), seed=-1)


def test_masking_and_background_follow_the_dense_tissue(smoke):
    _, records, _ = smoke
    csaw = [r for r in records if r.dataset == "Phantom-CSAW"]
    level = [int(r.labels["Masking potential"][0].split()[-1]) for r in csaw]
    bright = [float(_img(r.images[0])[_img(r.images[0]) > 30].mean()) for r in csaw]
    assert np.corrcoef(level, [r.extra["fg_fraction"] for r in csaw])[0, 1] > 0.8
    assert np.corrcoef(level, bright)[0, 1] > 0.3  # visible in the pixels, through the site curves
    order = ["Fatty", "Fatty-glandular", "Dense-glandular"]
    mias = sorted((r for r in records if r.dataset == "Phantom-MIAS-breast"), key=lambda r: r.extra["fg_fraction"])
    ranks = [order.index(r.labels["Background tissue"][0]) for r in mias]
    assert ranks == sorted(ranks) and len(set(ranks)) >= 2
