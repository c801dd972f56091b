"""Throughput of the whole preparation vs a straightforward loop, on 16-bit 3328x4084 synthetic DICOMs.

Ours: decode, display transform, breast segmentation, text masking, crop, resize, PNG (prepare_dataset, 1 worker).
Straightforward: pydicom pixel_array, apply_voi_lut, min-max to 8 bit, Pillow resize to 512, PNG save.
Both run in their own fresh process on the same files (uncompressed and RLE), one core each; the peak RSS of
that process is the memory per worker. The LAST line printed is a JSON object with the figures.

    .venv/bin/python benchmarks/bench_prepare.py [--n 6] [--size 512]
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing as mp
import resource
import tempfile
import time
from pathlib import Path


def _make(folder: Path, n: int) -> dict[str, list[str]]:
    from mammovqa.data.dicom import write_dicom
    from mammovqa.data.imaging import synthetic_mammogram

    out: dict[str, list[str]] = {"uncompressed": [], "rle": []}
    arr, _ = synthetic_mammogram((4084, 3328), laterality="L", seed=0)
    for i in range(n):
        a = arr if i % 2 == 0 else arr[:, ::-1]  # both sides
        for kind in out:
            p = write_dicom(folder / kind / f"{i}.dcm", a, window=(2000, 4000), rle=kind == "rle",
                            patient_id=f"B{i}")
            out[kind].append(str(p))
    return out


def _peak_mb() -> float:
    """Peak resident memory of this process (VmHWM; unlike ru_maxrss it does not inherit the parent's peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _ours(files: list[str], out: str, size: int, q: mp.Queue) -> None:
    import mammovqa.data.imaging  # noqa: F401 - imports outside the timed part, as in the plain loop
    from mammovqa.data.prepare import prepare_dataset
    from mammovqa.data.records import Record

    recs = [Record(f"b/{i}", "bench", "breast", [f], {}, f"P{i}") for i, f in enumerate(files)]
    t = time.perf_counter()
    s = prepare_dataset(recs, Path(out), size=size, seed=0, workers=1, progress=False)
    q.put((time.perf_counter() - t, _peak_mb(), s["failed"]))


def _plain(files: list[str], out: str, size: int, q: mp.Queue) -> None:
    import numpy as np
    import pydicom
    from PIL import Image
    from pydicom.pixels import apply_voi_lut

    t = time.perf_counter()
    for i, f in enumerate(files):
        ds = pydicom.dcmread(f)
        a = apply_voi_lut(ds.pixel_array, ds, prefer_lut=False).astype(np.float32)
        a = (a - a.min()) / max(float(a.max() - a.min()), 1e-6) * 255
        im = Image.fromarray(a.astype(np.uint8))
        s = size / max(im.size)
        im = im.resize((round(im.width * s), round(im.height * s)), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        (Path(out) / f"{i}.png").write_bytes(buf.getvalue())
    q.put((time.perf_counter() - t, _peak_mb(), 0))


def _run(fn, files: list[str], out: Path, size: int) -> tuple[float, float, int]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    out.mkdir(parents=True, exist_ok=True)
    p = ctx.Process(target=fn, args=(files, str(out), size, q))
    p.start()
    res = q.get()
    p.join()
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=6)
    ap.add_argument("--size", type=int, default=512)
    args = ap.parse_args()
    figures: dict[str, object] = {"images_per_kind": args.n, "shape": [4084, 3328], "bits": 16, "size": args.size}
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        files = _make(tmp_path / "src", args.n)
        for kind, fs in files.items():
            t_ours, mem_ours, failed = _run(_ours, fs, tmp_path / f"ours_{kind}", args.size)
            t_plain, mem_plain, _ = _run(_plain, fs, tmp_path / f"plain_{kind}", args.size)
            figures[kind] = {"ours_img_per_s_per_core": round(len(fs) / t_ours, 2),
                             "plain_img_per_s_per_core": round(len(fs) / t_plain, 2),
                             "ratio_vs_plain": round(t_plain / t_ours, 2),
                             "ours_peak_rss_mb": round(mem_ours, 1), "plain_peak_rss_mb": round(mem_plain, 1),
                             "failed": failed}
            print(kind, figures[kind], flush=True)
    kinds = [figures[k] for k in files]
    figures["targets_met"] = all(k["ours_img_per_s_per_core"] >= 3 and k["ratio_vs_plain"] >= 1.0
                                 and k["ours_peak_rss_mb"] < 1536 for k in kinds)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
