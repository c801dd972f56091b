"""A bad image (zero bytes, truncated, wrong format, bad header) costs that image and its crops, never the dataset.

Measured before the fix: one zero-byte MIAS image carrying a lesion stopped ``data inspect`` and ``data prepare``
for all of MIAS (rc 2, nothing written), and a malformed PGM header gave a raw ``ValueError`` traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fixtures_sources import make_mias
from mammovqa.data.dicom import ImageError, decode, write_dicom
from mammovqa.data.imaging import synthetic_mammogram
from mammovqa.data.prepare import prepare_dataset
from mammovqa.data.records import Record
from mammovqa.data.sources import get_reader
from mammovqa.io import read_jsonl


def _real_pgm(path: Path, seed: int) -> None:
    arr, _ = synthetic_mammogram((1024, 1024), laterality="L", seed=seed, bits=8)
    Image.fromarray(arr.astype(np.uint8)).save(path)


@pytest.fixture()
def mias(tmp_path: Path) -> Path:
    root = make_mias(tmp_path / "mias")
    for i, p in enumerate(sorted((root / "all-mias").glob("*.pgm"))):
        _real_pgm(p, i)
    (root / "all-mias" / "mdb001.pgm").write_bytes(b"")  # lesion image, zero bytes
    (root / "all-mias" / "mdb002.pgm").write_bytes(b"P5\n# GIMP\nabc def\n255\n")  # lesion image, bad header
    return root


def test_reader_drops_only_the_bad_images(mias: Path) -> None:
    reader = get_reader("MIAS", mias)
    recs = list(reader.records())
    refs = {r.extra["image_id"] for r in recs}
    assert "mdb001" not in refs and "mdb002" not in refs and {"mdb003", "mdb005", "mdb117"} <= refs
    s = reader.summary
    assert s["dropped"] == {"unreadable image": 2}
    rows = {(d["row"], Path(d["file"]).name) for d in s["dropped_rows"]}
    assert {r for r, _ in rows} == {18, 19} and {f for _, f in rows} == {"Info.txt"}
    assert any("0 bytes" in d["value"] for d in s["dropped_rows"])


def test_cli_inspect_and_prepare_go_on(mias: Path, tmp_path: Path) -> None:
    exe = [sys.executable, "-m", "mammovqa.cli"]
    ins = subprocess.run([*exe, "data", "inspect", "MIAS", str(mias), "--summary"], capture_output=True, text=True)
    assert ins.returncode == 0, ins.stderr
    assert "Traceback" not in ins.stderr and "mdb001.pgm" in ins.stderr and "row 18" in ins.stderr
    out = tmp_path / "out"
    prep = subprocess.run([*exe, "data", "prepare", "MIAS", str(mias), "--out", str(out), "--size", "32"],
                          capture_output=True, text=True)
    assert "Traceback" not in prep.stderr, prep.stderr
    assert prep.returncode == 0, prep.stderr
    rows = read_jsonl(out / "records.jsonl")
    kinds = {r["kind"] for r in rows}
    assert kinds == {"breast", "finding", "normal"} and len(rows) > 10
    summary = json.loads(prep.stdout)
    assert summary["reader"]["dropped"] == {"unreadable image": 2}


def _bad_files(tmp: Path) -> dict[str, Path]:
    arr, _ = synthetic_mammogram((400, 300), seed=1)
    good = write_dicom(tmp / "good.dcm", arr).read_bytes()
    png = tmp / "ok.png"
    Image.fromarray((arr >> 4).astype(np.uint8)).save(png)
    files = {"empty": tmp / "empty.dcm", "truncated": tmp / "trunc.dcm", "wrong_format": tmp / "png_named.dcm",
             "bad_header": tmp / "header.pgm"}
    files["empty"].write_bytes(b"")
    files["truncated"].write_bytes(good[: len(good) // 2])
    files["wrong_format"].write_bytes(png.read_bytes())
    files["bad_header"].write_bytes(b"P5\n12x 40\n255\n" + bytes(100))
    return files


def test_decode_names_the_damage_without_raw_exceptions(tmp_path: Path) -> None:
    for kind, path in _bad_files(tmp_path).items():
        with pytest.raises(ImageError) as err:
            decode(path)
        assert err.value.kind == kind and path.name in str(err.value), (kind, str(err.value))


def test_prepare_loses_each_bad_image_and_its_crops_only(tmp_path: Path, capsys) -> None:
    arr, _ = synthetic_mammogram((400, 300), seed=2)
    good = str(write_dicom(tmp_path / "src" / "fine.dcm", arr))
    recs = [Record("T-breast/fine", "T-breast", "breast", [good], {}, "P0", extra={"label_row": 2,
                                                                                  "label_file": "labels.csv"}),
            Record("T-finding/fine", "T-finding", "finding", [good], {"Pathology": ["Benign"]}, "P0",
                   source_image=good, box=[20, 150, 60, 190], extra={"label_row": 2, "label_file": "labels.csv"})]
    for i, (kind, path) in enumerate(_bad_files(tmp_path).items()):
        extra = {"label_row": 10 + i, "label_file": "labels.csv"}
        recs.append(Record(f"T-breast/{kind}", "T-breast", "breast", [str(path)], {}, f"P{i + 1}", extra=extra))
        recs.append(Record(f"T-finding/{kind}", "T-finding", "finding", [str(path)], {"Pathology": ["Malignant"]},
                           f"P{i + 1}", source_image=str(path), box=[10, 10, 40, 40], extra=extra))
    s = prepare_dataset(recs, tmp_path / "out", size=32, seed=0, progress=False)
    assert s["failed"] == 4 and s["prepared"] == 1
    assert s["failed_by_kind"] == {"bad_header": 1, "empty": 1, "truncated": 1, "wrong_format": 1}
    assert s["records_failed"] == 8
    for e in s["errors"]:
        assert e["records_lost"] == 2 and e["label_files"] == ["labels.csv"] and len(e["rows"]) == 1
    ids = {r["record_id"] for r in read_jsonl(tmp_path / "out" / "records.jsonl")}
    assert ids == {"T-breast/fine", "T-finding/fine", "T-finding/fine~n"}
    err = capsys.readouterr().err
    assert "Traceback" not in err and "label rows [13] of labels.csv" in err
