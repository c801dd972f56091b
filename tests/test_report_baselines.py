"""Report dataset (patient-grouped splits, checksum, encodings) and the weight-free baselines."""

import random
import warnings

import numpy as np
import pytest
from PIL import Image

from mammovqa.data.records import Record
from mammovqa.errors import DataError
from mammovqa.report.baselines import (
    NearestNeighbourBaseline,
    intensity_embedding,
    majority_birads_report,
    mode_report,
    run_baselines,
)
from mammovqa.report.data import (
    build_report_dataset,
    patient_split,
    read_report_dataset,
    read_report_text,
    write_report_dataset,
)
from mammovqa.report.parse import parse_birads, parse_density


def _records(n=60, seed=0):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        lesions = [{"type": rng.choice(("mass", "calcification")), "center": [200, 100], "radius_px": 8,
                    "pathology": "benign"}] if i % 3 else []
        out.append(Record(f"R/{i:03d}", "Phantom-DMID-breast", "breast", [f"img/{i}.png"], {}, f"P{i // 3:02d}",
                          laterality="Left", view="CC",
                          extra={"lesions": lesions, "birads": "2" if lesions else "1", "density": "BC"[i % 2],
                                 "image_size": 512}))
    return out


def test_patient_split_grouped_seeded_and_proportional():
    patients = [f"p{i}" for i in range(100)]
    a = patient_split(patients, seed=3)
    assert a == patient_split(list(reversed(patients)), seed=3)
    assert a != patient_split(patients, seed=4)
    counts = {s: sum(v == s for v in a.values()) for s in ("train", "val", "test")}
    assert counts == {"train": 70, "val": 10, "test": 20}
    small = patient_split(["a", "b", "c"], seed=0)
    assert sorted(small.values()) == ["test", "train", "val"]


def test_build_dataset_rows_checksum_and_problems(tmp_path):
    recs = _records()
    recs.append(Record("R/none", "Phantom-DMID-breast", "breast", ["x.png"], {}, "Pz"))  # no report, no phantom
    ds = build_report_dataset(recs, seed=1, phantom_seed=0)
    assert len(ds.rows) == len(recs)  # phantom fills every report
    ds2 = build_report_dataset(recs[:-1], seed=1)  # no phantom: records lack reports -> listed, left out
    assert ds2.rows == [] and len(ds2.problems) == len(recs) - 1
    by_patient = {}
    for r in ds.rows:
        by_patient.setdefault(r["patient_id"], set()).add(r["split"])
    assert all(len(s) == 1 for s in by_patient.values())  # no patient in two splits
    row = ds.rows[0]
    assert {"id", "patient_id", "split", "images", "report", "birads", "density"} <= set(row)
    assert row["birads"] == parse_birads(row["report"])
    # the report-less record parses as "1" with no density: listed, not dropped
    assert any(p["id"] == "R/none" and "density" in p["problem"] for p in ds.problems)
    path, meta = write_report_dataset(ds, tmp_path / "reports.jsonl")
    back = read_report_dataset(path)
    assert back.checksum == ds.checksum and back.rows == ds.rows
    assert build_report_dataset(recs, seed=1, phantom_seed=0).checksum == ds.checksum
    assert build_report_dataset(recs, seed=1, phantom_seed=5).checksum != ds.checksum
    path.write_text(path.read_text(encoding="utf-8").replace("BIRADS", "BIRAD", 1), encoding="utf-8")
    with pytest.raises(DataError, match="checksum"):
        read_report_dataset(path)


def test_read_report_text_encoding_fallback(tmp_path):
    good = tmp_path / "IMG001.txt"
    good.write_text("Findings: caf\u00e9 \u2013 ok", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_report_text(good) == "Findings: caf\u00e9 \u2013 ok"
    bad = tmp_path / "IMG002.txt"
    bad.write_bytes("BIRADS: 4a \u2013 r\u00e9sum\u00e9 \u201cquoted\u201d".encode("cp1252"))
    with pytest.warns(UserWarning, match="IMG002.txt.*cp1252"):
        text = read_report_text(bad)
    assert "\u201cquoted\u201d" in text and parse_birads(text) == "4a"
    latin = tmp_path / "IMG003.txt"
    latin.write_bytes(b"BIRADS: 2 \x81\x8d")  # bytes undefined in cp1252
    with pytest.warns(UserWarning, match="latin-1"):
        assert parse_birads(read_report_text(latin)) == "2"


def test_mode_report_ties_are_deterministic():
    assert mode_report(["b", "a", "b", "a", "c"]) == "a"  # tie between a and b -> smaller text
    assert mode_report(["z", "z", "a"]) == "z"
    with pytest.raises(ValueError):
        mode_report([])


def test_majority_birads_report_states_majority():
    train = ["BIRADS: 1\nACR B", "BIRADS: 1\nACR C", "BIRADS: 2\nACR C", "BIRADS: 4a\nACR D"]
    text = majority_birads_report(train)
    assert parse_birads(text) == "1" and parse_density(text) == "C"
    assert majority_birads_report(["BIRADS: 3", "BIRADS: 2"]).count("BIRADS: 2") == 1  # tie -> lower category


def _write_images(tmp_path, n):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        arr = (rng.random((64, 48)) * 40).astype(np.uint8)
        arr[8 * (i % 6): 8 * (i % 6) + 10, :] += 200  # a bright band whose position identifies the image group
        p = tmp_path / f"im{i}.png"
        Image.fromarray(arr).save(p)
        paths.append(str(p))
    return paths


def test_nearest_neighbour_retrieves_the_similar_image(tmp_path):
    paths = _write_images(tmp_path, 12)
    train = [{"id": f"t{i}", "images": [paths[i]], "report": f"report {i % 6}"} for i in range(6)]
    test = [{"id": f"q{i}", "images": [paths[i]], "report": ""} for i in range(6, 12)]
    nn = NearestNeighbourBaseline(train)
    assert nn.predict(test) == [f"report {i % 6}" for i in range(6, 12)]
    assert nn.predict(test) == NearestNeighbourBaseline(list(reversed(train))).predict(test)
    v = intensity_embedding(paths[0])
    assert v.shape == (16 * 16 + 32,) and np.isclose(np.linalg.norm(v), 1.0)
    assert np.array_equal(v, intensity_embedding(np.asarray(Image.open(paths[0])).astype(float)))


def test_nearest_neighbour_accepts_a_plugged_encoder_and_breaks_ties_by_id():
    train = [{"id": "b", "images": ["x"], "report": "B"}, {"id": "a", "images": ["y"], "report": "A"}]
    constant = NearestNeighbourBaseline(train, embed=lambda img: np.ones(4))
    assert constant.predict([{"id": "q", "images": ["z"]}]) == ["A"]


def test_run_baselines_deterministic(tmp_path):
    paths = _write_images(tmp_path, 8)
    train = [{"id": f"t{i}", "images": [paths[i]], "report": f"BIRADS: {1 + i % 2}\nACR B"} for i in range(5)]
    test = [{"id": f"q{i}", "images": [paths[i]], "report": ""} for i in range(5, 8)]
    a, b = run_baselines(train, test), run_baselines(train, test)
    assert a == b and set(a) == {"mode report", "majority BI-RADS", "nearest neighbour"}
    assert all(len(v) == 3 for v in a.values())
    assert set(run_baselines(train, test, embed=None)) == {"mode report", "majority BI-RADS"}
