"""DICOM decoding: windowing matches pydicom, VOI LUT and MONOCHROME1 are applied, bad files are DataErrors."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mammovqa.data.dicom import decode, window, write_dicom
from mammovqa.data.imaging import load_image, prepare_breast, synthetic_mammogram
from mammovqa.errors import DataError


def _ramp(h: int = 64, w: int = 80) -> np.ndarray:
    return (np.arange(h * w).reshape(h, w) % 4096).astype(np.uint16)


def test_window_matches_pydicom(tmp_path: Path) -> None:
    import pydicom
    from pydicom.pixels import apply_voi_lut

    p = write_dicom(tmp_path / "w.dcm", _ramp(), window=(1500, 1000))
    ds = pydicom.dcmread(p)
    ref = apply_voi_lut(ds.pixel_array, ds, prefer_lut=False).astype(np.float64) / (2**16 - 1)
    ours, meta = load_image(p)
    assert meta["display"] == "window"
    np.testing.assert_allclose(ours, ref, atol=1e-4)
    np.testing.assert_allclose(window(np.array([0, 999, 1500, 2001, 4000]), 1500, 1000)[[0, 4]], [0, 1])


def test_voi_lut_applied(tmp_path: Path) -> None:
    lut = (np.sqrt(np.arange(4096) / 4095.0) * 65535).astype(np.uint16)  # strongly non-linear
    arr = _ramp()
    img, meta = load_image(write_dicom(tmp_path / "lut.dcm", arr, voi_lut=lut))
    assert meta["display"] == "lut"
    np.testing.assert_allclose(img, lut[arr] / 65535.0, atol=1e-4)
    plain, _ = load_image(write_dicom(tmp_path / "plain.dcm", arr))
    assert np.abs(plain - img).max() > 0.1  # the LUT really changed the image


def test_monochrome1_inverted(tmp_path: Path) -> None:
    arr = _ramp()
    m2, _ = load_image(write_dicom(tmp_path / "m2.dcm", arr, window=(2048, 4096)))
    m1, meta = load_image(write_dicom(tmp_path / "m1.dcm", arr, window=(2048, 4096), photometric="MONOCHROME1"))
    assert meta["photometric"] == "MONOCHROME1"
    np.testing.assert_allclose(m1, 1.0 - m2, atol=1e-6)


def test_rle_equals_uncompressed(tmp_path: Path) -> None:
    arr, _ = synthetic_mammogram((300, 200))
    a, _ = load_image(write_dicom(tmp_path / "u.dcm", arr))
    b, meta = load_image(write_dicom(tmp_path / "r.dcm", arr, rle=True))
    assert meta["transfer_syntax"] == "1.2.840.10008.1.2.5"
    np.testing.assert_array_equal(a, b)


def test_volume_selects_slice(tmp_path: Path) -> None:
    vol = np.stack([np.full((16, 16), v, np.uint16) for v in (100, 200, 300)])
    p = write_dicom(tmp_path / "v.dcm", vol)
    assert decode(p).raw.mean() == 200  # middle slice by default
    assert decode(p, frame=2).raw.mean() == 300
    with pytest.raises(DataError, match="frame"):
        decode(p, frame=3)


@pytest.mark.parametrize("lat", ["L", "R"])
def test_sides_not_flipped(tmp_path: Path, lat: str) -> None:
    arr, _ = synthetic_mammogram((600, 450), laterality=lat)
    u8, _ = prepare_breast(write_dicom(tmp_path / f"{lat}.dcm", arr, laterality=lat), 128)
    cols = u8.astype(float).mean(axis=0)
    left, right = cols[:64].sum(), cols[64:].sum()
    assert (left > right) if lat == "L" else (right > left)  # chest wall stays on the side it was acquired


def test_truncated_dicom_and_fake_png(tmp_path: Path) -> None:
    arr, _ = synthetic_mammogram((300, 200))
    good = write_dicom(tmp_path / "g.dcm", arr).read_bytes()
    bad = tmp_path / "trunc.dcm"
    bad.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match="trunc.dcm"):
        decode(bad)
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"this is not a png at all")
    with pytest.raises(DataError, match="fake.png"):
        decode(fake)
    with pytest.raises(DataError, match="not found"):
        decode(tmp_path / "missing.png")


def test_pillow_formats(tmp_path: Path) -> None:
    a = (np.arange(100 * 120).reshape(100, 120) % 256).astype(np.uint8)
    for ext in ("png", "pgm", "tiff"):
        Image.fromarray(a).save(tmp_path / f"x.{ext}")
        img, _ = load_image(tmp_path / f"x.{ext}")
        np.testing.assert_allclose(img, a / 255.0, atol=1e-6)
    Image.fromarray(np.stack([a] * 3, -1)).save(tmp_path / "x.jpg", quality=95)
    img, meta = load_image(tmp_path / "x.jpg")
    assert img.shape == (100, 120) and meta["format"] == "JPEG"
