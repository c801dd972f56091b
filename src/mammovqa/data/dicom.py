"""Decode DICOM and ordinary image files into stored values plus the rule that turns them into display values.

Why decoding and display are split: preparation reduces a 13-megapixel mammogram to a 512-pixel image, so it
decodes once, block-averages only the regions it writes, and applies the display transform (modality LUT,
VOI window, MONOCHROME1 inversion) to the small arrays. The transform is elementwise, so every output cut from
one image (breast image, lesion crop, normal crop) gets exactly the same intensity processing.

Transfer syntaxes covered (pydicom 3 with the pinned PyPI plug-ins):

* uncompressed: Implicit/Explicit VR Little Endian, Explicit VR Big Endian, Deflated Explicit VR Little Endian;
* RLE Lossless (1.2.840.10008.1.2.5) through pylibjpeg-rle (pydicom's own decoder is the fallback);
* JPEG 2000 and JPEG 2000 Lossless (1.2.840.10008.1.2.4.90/.91) through pylibjpeg-openjpeg, or, when the target
  size allows a reduced-resolution decode, through Pillow's OpenJPEG with ``Image.reduce`` set before ``load()``
  (about 20x faster for a 1024-pixel target; docs/dataset-sources.md §19);
* HTJ2K (1.2.840.10008.1.2.4.201/.202/.203) through pylibjpeg-openjpeg;
* JPEG Baseline 8-bit and Extended 12-bit (1.2.840.10008.1.2.4.50/.51) through Pillow.

Not covered: JPEG Lossless (.57/.70) and JPEG-LS (.80/.81) need pylibjpeg-libjpeg (GPL-3) or GDCM, neither of
which is pinned; such files raise a ``DataError`` that names the plug-in to install.

Ordinary files (PGM, TIFF, JPEG, PNG) are read with Pillow. 8-bit files are taken as already displayed
(value / 255); 16-bit files are min-max scaled like an unwindowed DICOM.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError

DICOM_SUFFIXES = (".dcm", ".dicom", ".dic", "")
J2K_SYNTAXES = ("1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91")
UNSUPPORTED_SYNTAXES = {
    "1.2.840.10008.1.2.4.57": "JPEG Lossless (install pylibjpeg-libjpeg or GDCM)",
    "1.2.840.10008.1.2.4.70": "JPEG Lossless SV1 (install pylibjpeg-libjpeg or GDCM)",
    "1.2.840.10008.1.2.4.80": "JPEG-LS Lossless (install pylibjpeg-libjpeg or GDCM)",
    "1.2.840.10008.1.2.4.81": "JPEG-LS Near-lossless (install pylibjpeg-libjpeg or GDCM)",
}
NeedFn = Callable[[tuple[int, int]], int]


@dataclass
class Display:
    """Elementwise map from stored values to [0, 1] display values (PS3.3 C.11.2.1.2 for the window).

    ``mode``: "window" (VOI window), "lut" (a VOI LUT was already applied to the stored values, then scaled by
    ``hi``), "minmax" (no VOI information: scaled between ``lo`` and ``hi``, fitted once per image), "scale"
    (8-bit display-ready files: divided by ``hi``).
    """

    mode: str
    slope: float = 1.0
    intercept: float = 0.0
    center: float = 0.0
    width: float = 1.0
    function: str = "LINEAR"
    lo: float = 0.0
    hi: float = 1.0
    invert: bool = False

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if self.slope != 1.0 or self.intercept != 0.0:
            x = x * np.float32(self.slope) + np.float32(self.intercept)
        if self.mode == "window":
            y = window(x, self.center, self.width, self.function)
        else:
            span = self.hi - self.lo
            y = (x - np.float32(self.lo)) / np.float32(span if span > 0 else 1.0)
            y = np.clip(y, 0.0, 1.0, out=y)
        return (1.0 - y) if self.invert else y

    def fit(self, sample: np.ndarray) -> None:
        """Fix ``lo``/``hi`` for min-max mode from a (block-averaged) sample of the whole image."""
        if self.mode != "minmax":
            return
        s = np.asarray(sample, dtype=np.float32) * np.float32(self.slope) + np.float32(self.intercept)
        self.lo, self.hi = float(s.min()), float(s.max())


def window(x: np.ndarray, center: float, width: float, function: str = "LINEAR") -> np.ndarray:
    """DICOM VOI window onto [0, 1]: LINEAR (the default), LINEAR_EXACT or SIGMOID."""
    x = np.asarray(x, dtype=np.float32)
    function = (function or "LINEAR").upper()
    if function == "SIGMOID":
        return (1.0 / (1.0 + np.exp(-4.0 * (x - center) / width))).astype(np.float32)
    if function == "LINEAR_EXACT":
        y = (x - np.float32(center)) / np.float32(width) + np.float32(0.5)
    else:
        w1 = max(float(width) - 1.0, 1e-6)
        y = (x - np.float32(center - 0.5)) / np.float32(w1) + np.float32(0.5)
    return np.clip(y, 0.0, 1.0, out=y)


@dataclass
class Decoded:
    """Stored values of one 2-D image, possibly at reduced resolution, with its display transform."""

    raw: np.ndarray
    scale: int  # source pixels per raw pixel along each axis (1 = full resolution)
    full_shape: tuple[int, int]
    display: Display
    meta: dict[str, Any] = field(default_factory=dict)


def _first(value: Any) -> float:
    try:
        return float(value[0]) if hasattr(value, "__len__") and not isinstance(value, str) else float(value)
    except (TypeError, ValueError, IndexError):
        return float("nan")


def is_dicom(path: Path) -> bool:
    """DICOM by preamble magic (``DICM`` at byte 128), so extension-less files are recognised too."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def _orientation(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else "\\".join(str(v) for v in value)


def dicom_meta(ds: Any) -> dict[str, Any]:
    """Header fields that readers use (laterality, view, patient) and that describe the decode."""
    tsuid = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", ""))
    orient = ds.get("PatientOrientation")
    return {
        "transfer_syntax": tsuid,
        "photometric": str(ds.get("PhotometricInterpretation", "")),
        "bits_stored": int(ds.get("BitsStored", 0) or 0),
        "laterality": str(ds.get("ImageLaterality") or ds.get("Laterality") or "") or None,
        "view_position": str(ds.get("ViewPosition") or "") or None,
        "patient_orientation": _orientation(orient),
        "patient_id": str(ds.get("PatientID", "")) or None,
        "frames": int(ds.get("NumberOfFrames", 1) or 1),
    }


def _display_for(ds: Any, lut_applied: bool, lut_bits: int) -> Display:
    invert = str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1"
    slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    if lut_applied:
        return Display("lut", lo=0.0, hi=float(2**lut_bits - 1), invert=invert)
    wc, ww = ds.get("WindowCenter"), ds.get("WindowWidth")
    if wc is not None and ww is not None:
        c, w = _first(wc), _first(ww)
        if np.isfinite(c) and np.isfinite(w) and w > 0:
            fn = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR")
            return Display("window", slope, intercept, c, w, fn, invert=invert)
    return Display("minmax", slope, intercept, invert=invert)


def _to_gray(arr: np.ndarray) -> np.ndarray:
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):  # RGB (some DMID files): luminance, as Pillow's "L"
        rgb = arr[..., :3].astype(np.float32)
        return rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return arr


def _reduce_level(full_shape: tuple[int, int], need: int | None, max_level: int = 5) -> int:
    """Largest r with long side / 2**r still >= need (0 when no reduction is allowed)."""
    if not need:
        return 0
    long_side, r = max(full_shape), 0
    while r < max_level and long_side / 2 ** (r + 1) >= need:
        r += 1
    return r


def _j2k_reduced(ds: Any, index: int, level: int) -> np.ndarray | None:
    """Pillow decode of one JPEG 2000 frame at 1/2**level resolution; None when Pillow cannot."""
    from PIL import Image
    from pydicom.encaps import generate_frames

    try:
        nframes = int(ds.get("NumberOfFrames", 1) or 1)
        for i, frame in enumerate(generate_frames(ds.PixelData, number_of_frames=nframes)):
            if i == index:
                im = Image.open(io.BytesIO(frame))
                im.reduce = level
                im.load()
                return np.asarray(im)
    except Exception:  # noqa: BLE001 - any Pillow failure falls back to the full pydicom decode
        return None
    return None


def read_dicom(path: str | Path, *, frame: int | None = None, need: NeedFn | None = None) -> Decoded:
    """Decode one frame of a DICOM file. ``need(full_shape)`` is the smallest long side the caller accepts;
    it only enables the reduced JPEG 2000 decode. 3-D volumes (DBT): ``frame`` (0-based) or the middle slice.
    """
    import pydicom
    from pydicom.pixels import apply_voi_lut, pixel_array

    path = Path(path)
    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for a damaged file
        raise DataError(path, None, f"unreadable DICOM ({type(exc).__name__}: {exc})") from None
    if "PixelData" not in ds:
        raise DataError(path, None, "DICOM has no PixelData")
    meta = dicom_meta(ds)
    tsuid = meta["transfer_syntax"]
    if tsuid in UNSUPPORTED_SYNTAXES:
        raise DataError(path, None, f"transfer syntax {tsuid} not covered: {UNSUPPORTED_SYNTAXES[tsuid]}")
    nframes = meta["frames"]
    index = (frame if frame is not None else nframes // 2) if nframes > 1 else 0
    if not 0 <= index < nframes:
        raise DataError(path, None, f"frame {index} out of range (volume has {nframes} frames)")
    meta["frame"] = index if nframes > 1 else None
    full_shape = (int(ds.Rows), int(ds.Columns))
    level = _reduce_level(full_shape, need(full_shape) if need else None)
    arr = None
    if (tsuid in J2K_SYNTAXES and level > 0 and int(ds.get("SamplesPerPixel", 1)) == 1
            and int(ds.get("PixelRepresentation", 0)) == 0 and "VOILUTSequence" not in ds):
        arr = _j2k_reduced(ds, index, level)
    scale = 1
    if arr is not None:
        scale = 2**level
    else:
        try:
            arr = pixel_array(ds, index=index if nframes > 1 else None)
        except Exception as exc:  # noqa: BLE001
            raise DataError(path, None, f"cannot decode pixel data ({type(exc).__name__}: {exc})") from None
    arr = _to_gray(arr)
    lut_applied, lut_bits = False, 16
    has_window = ds.get("WindowCenter") is not None and ds.get("WindowWidth") is not None
    if "VOILUTSequence" in ds and not has_window:
        if "ModalityLUTSequence" in ds:
            from pydicom.pixels import apply_modality_lut

            arr = apply_modality_lut(arr, ds)
        arr = apply_voi_lut(arr, ds, prefer_lut=True)
        lut_applied = True
        desc = ds.VOILUTSequence[0].get("LUTDescriptor", [0, 0, 16])
        lut_bits = int(desc[2]) if len(desc) > 2 else 16
        lut_bits = max(lut_bits, int(np.ceil(np.log2(float(arr.max()) + 1))) if arr.size else 1)
    elif "ModalityLUTSequence" in ds:
        from pydicom.pixels import apply_modality_lut

        arr = apply_modality_lut(arr, ds)
    display = _display_for(ds, lut_applied, lut_bits)
    if "ModalityLUTSequence" in ds:
        display.slope, display.intercept = 1.0, 0.0
    meta["decoder"] = "pillow-reduced" if scale > 1 else "pydicom"
    return Decoded(arr, scale, full_shape, display, meta)


def read_pillow(path: str | Path, *, need: NeedFn | None = None) -> Decoded:
    """PGM/TIFF/JPEG/PNG via Pillow; a JPEG is DCT-scaled (``draft``) when ``need`` allows it."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        im = Image.open(path)
        full_shape = (im.height, im.width)
        scale = 1
        if need and im.format == "JPEG":
            level = min(_reduce_level(full_shape, need(full_shape)), 3)
            if level:
                im.draft("L", (im.width // 2**level, im.height // 2**level))
                scale = round(full_shape[1] / im.size[0])
        im.load()
        fmt, mode = im.format, im.mode
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(path, None, f"not a readable image ({type(exc).__name__}: {exc})") from None
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im)
        display = Display("minmax")
    else:
        if im.mode not in ("L", "F"):
            im = im.convert("L")
        arr = np.asarray(im)
        display = Display("scale", lo=0.0, hi=255.0) if im.mode == "L" else Display("minmax")
    meta = {"format": fmt, "mode": mode, "decoder": "pillow"}
    return Decoded(arr, scale, full_shape, display, meta)


class ImageError(DataError):
    """An image file that cannot be decoded; ``kind`` says why in one word, so summaries can count reasons:
    ``missing``, ``empty`` (0 bytes), ``wrong_format`` (content is another format than the name says, or none),
    ``truncated`` (the pixel data end early), ``bad_header`` (the header is unreadable), ``unsupported``."""

    def __init__(self, file: object, kind: str, message: str):
        self.kind = kind
        super().__init__(file, None, f"{kind.replace('_', ' ')}: {message}")


MAGIC = ((b"\x89PNG", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"\xffO\xffQ", "JPEG 2000"),
         (b"\x00\x00\x00\x0cjP", "JPEG 2000"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"),
         (b"P5", "PGM"), (b"P2", "PGM"))


def sniff_format(path: Path) -> str | None:
    """The format the file's first bytes announce (DICOM by its ``DICM`` preamble), or None."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return None
    if head[128:132] == b"DICM":
        return "DICOM"
    return next((name for magic, name in MAGIC if head.startswith(magic)), None)


def _expected_format(path: Path) -> str | None:
    suffix = path.suffix.lower()
    table = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".jp2": "JPEG 2000", ".j2k": "JPEG 2000",
             ".tif": "TIFF", ".tiff": "TIFF", ".pgm": "PGM", ".dcm": "DICOM", ".dicom": "DICOM"}
    return table.get(suffix)


def _classify(path: Path, exc: DataError) -> ImageError:
    text = str(exc).removeprefix(f"{path}: ")
    found, expected = sniff_format(path), _expected_format(path)
    if any(k in text.lower() for k in ("truncated", "expected length", "less than expected", "end of file")):
        return ImageError(path, "truncated", f"{text} (an interrupted download? re-download this file)")
    if "not covered" in text:
        return ImageError(path, "unsupported", text)
    if found is None or (expected and found != expected and not (expected == "DICOM" and found is None)):
        what = f"content is {found}" if found else "content is no known image format"
        return ImageError(path, "wrong_format", f"{what}, name says {expected or path.suffix or 'nothing'}: {text}")
    return ImageError(path, "bad_header", text)


def decode(path: str | Path, *, frame: int | None = None, need: NeedFn | None = None) -> Decoded:
    """Decode any supported file; DICOM is recognised by its magic bytes or its suffix.

    Every failure is an ``ImageError`` (a ``DataError``) naming the file and the kind of damage, never a raw
    reader exception, so one bad file costs that image only and summaries count reasons.
    """
    path = Path(path)
    if not path.exists():
        raise ImageError(path, "missing", "file not found")
    if path.stat().st_size == 0:
        raise ImageError(path, "empty", "file has 0 bytes (an interrupted download? re-download it)")
    try:
        if is_dicom(path) or path.suffix.lower() in (".dcm", ".dicom"):
            return read_dicom(path, frame=frame, need=need)
        return read_pillow(path, need=need)
    except ImageError:
        raise
    except DataError as exc:
        raise _classify(path, exc) from None
    except (OSError, ValueError, SyntaxError, MemoryError) as exc:
        raise _classify(path, DataError(path, None, f"{type(exc).__name__}: {exc}")) from None


def write_dicom(path: str | Path, arr: np.ndarray, *, photometric: str = "MONOCHROME2",
                window: tuple[float, float] | None = None, voi_lut: np.ndarray | None = None,
                laterality: str | None = None, view: str | None = None, rle: bool = False,
                patient_id: str = "SYNTH") -> Path:
    """Write a minimal, valid MG DICOM (tests and benchmarks: real headers, synthetic pixels).

    ``arr`` is 2-D uint16 (or 3-D frames x rows x cols for a volume); ``voi_lut`` is a 1-D LUT over stored values.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, RLELossless, generate_uid

    path = Path(path)
    arr = np.ascontiguousarray(arr, dtype=np.uint16)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.2"  # Digital Mammography X-Ray, for presentation
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[str(path.name), patient_id])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientID = "MG", patient_id
    if laterality:
        ds.ImageLaterality = laterality
    if view:
        ds.ViewPosition = view
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    if arr.ndim == 3:
        ds.NumberOfFrames = arr.shape[0]
    ds.Rows, ds.Columns = arr.shape[-2], arr.shape[-1]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = float(window[0]), float(window[1])
    if voi_lut is not None:
        item = Dataset()
        item.LUTDescriptor = [len(voi_lut), 0, 16]
        item.add_new(0x00283006, "OW", np.asarray(voi_lut, dtype="<u2").tobytes())  # LUT Data
        ds.VOILUTSequence = [item]
    ds.PixelData = arr.tobytes()
    if rle:
        ds.compress(RLELossless)  # pylibjpeg-rle when installed, else pydicom
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path
