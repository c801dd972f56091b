"""Turn a reader's records (source images + labels) into prepared PNGs and ``records.jsonl``.

Why the work is grouped by *source image*: a breast record, its lesion crops, their normal counterparts and
every exam that lists the image all come from one decode, one display transform and one breast mask, so
lesion and normal crops cannot differ in intensity processing or channel count (the official shortcut,
docs/dataset-sources.md §2), and a 13-megapixel file is decoded once.

Finding records give their lesion as ``Record.box`` ([x0, y0, x1, y1), full-resolution source pixels, origin
top-left: readers convert e.g. MIAS's bottom-left origin), or ``extra["center"]`` + ``extra["radius"]``
(square box, clipped), or ``extra["roi_mask"]`` (path of a mask image; the box is its non-zero extent, rescaled
if the mask's size differs). The source image is ``Record.source_image`` or else ``Record.images[0]``;
``extra["frame"]`` selects a slice of a 3-D volume (0-based). Official crop files are not used: crops are cut
from the full image so that lesion and normal crops are processed identically.

For each lesion one normal crop of the same size is placed, seeded per lesion, uniformly among all positions
that lie wholly inside the breast mask and wholly outside every lesion box of that image (an exact enumeration
on the coarse grid, so it never loops); a lesion with no such position is counted with its reason.

File names are opaque hashes: no name carries a label, view, side or kind. Each finished source image leaves
``parts/<id>.json`` (written after its PNGs, atomically), which is what makes a re-run skip it; a failed image
leaves nothing and is retried next time. ``shard=(i, n)`` handles every n-th source image (SLURM arrays) and
writes ``records.shard-i-of-n.jsonl``; a run without ``shard`` writes ``records.jsonl`` from all parts.
"""

from __future__ import annotations

import errno
import hashlib
import json
import multiprocessing as mp
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, MammoVQAError
from ..io import dumps, write_bytes_atomic, write_json_atomic, write_jsonl_atomic
from ..paths import dataset_roots, portable, portable_path, relative_to_root
from ..seeding import rng_for
from .records import Record

PREP_VERSION = 2  # part in the output hash: bump when the image processing changes (2: normals one mask cell in)
NORMAL_LABELS = {"Pathology": ["Normal"], "Abnormality": ["Normal"], "Subtlety": ["Normal"]}


def opaque_id(*parts: object) -> str:
    """Stable, label-free file id."""
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:20]


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"i/n"`` (0 <= i < n) -> (i, n); ``None`` stays ``None``."""
    if text in (None, ""):
        return None
    try:
        i, n = (int(v) for v in str(text).split("/"))
    except ValueError:
        raise MammoVQAError(f"--shard must look like i/n, got {text!r}") from None
    if n < 1 or not 0 <= i < n:
        raise MammoVQAError(f"--shard {text!r}: need 0 <= i < n")
    return i, n


# ------------------------------------------------------------------ grouping records by source image


@dataclass
class Unit:
    """Everything to be cut from one source image."""

    uid: str
    source: str
    frame: int | None
    breast: bool = False
    crops: list[dict[str, Any]] = field(default_factory=list)  # {"rid", "box" | "center"/"radius" | "roi_mask", "normal"}
    rows: list[Any] = field(default_factory=list)  # input row numbers, for error messages
    label_files: list[str] = field(default_factory=list)  # label files naming this image, for error messages
    record_ids: list[str] = field(default_factory=list)  # records cut from this image (lost with it)


def _source_of(rec: Record) -> str:
    if rec.kind in ("finding", "normal") and rec.source_image:
        return rec.source_image
    if not rec.images:
        raise DataError(rec.record_id, rec.extra.get("row"), "record has no image")
    return rec.images[0]


def _row_of(rec: Record) -> Any:
    return rec.extra.get("row", rec.extra.get("label_row"))


def build_units(records: list[Record], roots: Mapping[str, Path | str] | None = None
                ) -> dict[tuple[str, int | None], Unit]:
    """Records grouped by source image. A unit's id hashes the image's portable path (``{DATASET}/rel`` under a
    folder of ``roots``), so image names and normal-crop placements do not depend on where the data lives."""
    units: dict[tuple[str, int | None], Unit] = {}

    def unit(path: str, frame: int | None) -> Unit:
        key = (str(path), frame)
        if key not in units:
            units[key] = Unit(opaque_id("src", portable_path(path, roots or {}), frame), str(path), frame)
        return units[key]

    for rec in records:
        frame = _frame_of(rec)
        if rec.kind == "exam":
            for p in rec.images:
                unit(p, None).breast = True
            continue
        u = unit(_source_of(rec), frame)
        u.rows.append(_row_of(rec))
        u.record_ids.append(rec.record_id)
        if rec.extra.get("label_file") and rec.extra["label_file"] not in u.label_files:
            u.label_files.append(str(rec.extra["label_file"]))
        if rec.kind == "breast":
            u.breast = True
        else:
            u.crops.append({"rid": rec.record_id, "box": rec.box, "center": rec.extra.get("center"),
                            "radius": rec.extra.get("radius"), "roi_mask": rec.extra.get("roi_mask"),
                            "normal": rec.kind == "finding", "own_source": rec.source_image is not None})
    return units


# ------------------------------------------------------------------ boxes and normal placement


def _clip(box: list[float], shape: tuple[int, int]) -> list[int]:
    H, W = shape
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    return [max(0, x0), max(0, y0), min(W, x1), min(H, y1)]


def _frame_of(rec: Record) -> int | None:
    """Slice of a 3-D volume (0-based): ``extra["slice_index"]`` (DBT), or an integer ``extra["frame"]``."""
    for key in ("slice_index", "frame"):
        value = rec.extra.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def lesion_box(crop: dict[str, Any], shape: tuple[int, int]) -> list[int]:
    """The crop's box in full-resolution pixels (top-left origin), clipped to the image."""
    if crop.get("box") is not None:
        box = list(crop["box"])
    elif crop.get("center") is not None and crop.get("radius") is not None:
        (x, y), r = crop["center"], float(crop["radius"])
        box = [x - r, y - r, x + r, y + r]
    elif crop.get("roi_mask"):
        from .dicom import decode

        if not crop.get("own_source", True):
            raise DataError(crop["rid"], None, "ROI mask given but the full image (source_image) is missing")
        m = decode(crop["roi_mask"]).raw
        ys, xs = np.nonzero(m > m.max() / 2)  # JPEG copies of binary masks carry ringing
        if not len(xs):
            raise DataError(crop["roi_mask"], None, "ROI mask is empty")
        sy, sx = shape[0] / m.shape[0], shape[1] / m.shape[1]
        box = [xs.min() * sx, ys.min() * sy, (xs.max() + 1) * sx, (ys.max() + 1) * sy]
    else:
        raise DataError(crop["rid"], None, "finding record without box, center+radius or roi_mask")
    out = _clip(box, shape)
    if out[2] - out[0] < 2 or out[3] - out[1] < 2:
        raise DataError(crop["rid"], None, f"lesion box {box} is empty inside the image {list(shape)}")
    return out


def _erode_one_cell(mask: np.ndarray) -> np.ndarray:
    """The mask less its boundary cells (4-neighbourhood; outside the image counts as outside the breast).

    Why: the mask is coarse and its edge moves by up to a cell when the same image is segmented at another
    decode scale (a reduced decode for large images). One cell of margin keeps a normal crop inside the breast
    at every resolution, not only at the one it was placed with (a CI failure showed a corner 2 px outside).
    """
    m = np.pad(mask.astype(bool), 1, constant_values=False)
    return m[1:-1, 1:-1] & m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]


def place_normal(breast: np.ndarray, unit: int, lesions: list[list[int]], h: int, w: int,
                 rng: np.random.Generator) -> tuple[list[int] | None, str | None]:
    """A box of h x w full-res pixels wholly inside ``breast`` (coarse mask, ``unit`` px per cell; one cell in
    from its edge) and wholly outside every lesion box; chosen uniformly among all such positions.
    Returns (box, None) or (None, reason).
    """
    breast = _erode_one_cell(breast)
    hc, wc = -(-h // unit), -(-w // unit)
    ch, cw = breast.shape
    if hc > ch or wc > cw:
        return None, "lesion_larger_than_image"
    ii = np.zeros((ch + 1, cw + 1), np.int64)
    ii[1:, 1:] = breast.astype(np.int64).cumsum(0).cumsum(1)
    inside = (ii[hc:, wc:] - ii[:-hc, wc:] - ii[hc:, :-wc] + ii[:-hc, :-wc]) == hc * wc
    if not inside.any():
        return None, "lesion_larger_than_breast"
    for x0, y0, x1, y1 in lesions:
        cx0, cy0, cx1, cy1 = x0 // unit, y0 // unit, -(-x1 // unit), -(-y1 // unit)
        inside[max(0, cy0 - hc + 1): cy1, max(0, cx0 - wc + 1): cx1] = False
    ys, xs = np.nonzero(inside)
    if not len(ys):
        return None, "no_room_outside_lesions"
    j = int(rng.integers(len(ys)))
    y, x = int(ys[j]) * unit, int(xs[j]) * unit
    return [x, y, x + w, y + h], None


# ------------------------------------------------------------------ the work on one source image


def _image_path(out_dir: Path, key: str) -> Path:
    return out_dir / "images" / key[:2] / f"{key}.png"


def process_unit(unit: Unit, out_dir: Path, size: int, seed: int,
                 roots: dict[str, Path] | None = None) -> dict[str, Any]:
    """Decode once, write every output PNG of the unit, then its part file. Raises DataError on bad input."""
    from .imaging import SourceImage, png_bytes

    need_crop = list(unit.crops)

    def need(shape: tuple[int, int]) -> int:
        boxes = [b for b in (_box_or_error(c, shape)[0] for c in need_crop) if b is not None]
        longs = [max(shape) * size / max(1, max(b[2] - b[0], b[3] - b[1])) for b in boxes]
        return int(max([2 * size, *longs]))

    src = SourceImage.open(unit.source, frame=unit.frame, need=need, size=size)
    bbox = src.breast_box()
    if src.dec.scale > 1 and src.region_long_side(bbox) < size:  # breast smaller than assumed: decode fully
        src = SourceImage.open(unit.source, frame=unit.frame, size=size)
        bbox = src.breast_box()
    result: dict[str, Any] = {"uid": unit.uid, "source": unit.source, "frame": unit.frame,
                              "shape": list(src.full_shape), "breast_box": bbox, "crops": {}, "normals": {},
                              "masked_components": src.seg.masked_components if src.seg else 0,
                              "decoder": src.dec.meta.get("decoder"), "size": size}
    writes: list[tuple[Path, bytes]] = []
    if unit.breast:
        path = _image_path(out_dir, opaque_id(PREP_VERSION, size, unit.uid, "breast"))
        writes.append((path, png_bytes(src.render(bbox, size))))
        result["breast_image"] = relative_to_root(path)
    # A bad box costs only its own crop (reported), never the image or its other crops.
    lesions, result["crop_errors"] = {}, {}
    for c in unit.crops:
        box, err = _box_or_error(c, src.full_shape)
        if box is None:
            result["crop_errors"][c["rid"]] = err
        else:
            lesions[c["rid"]] = box
    for c in unit.crops:
        if c["rid"] not in lesions:
            continue
        box = lesions[c["rid"]]
        path = _image_path(out_dir, opaque_id(PREP_VERSION, size, unit.uid, c["rid"], "crop"))
        writes.append((path, png_bytes(src.render(box, size))))
        result["crops"][c["rid"]] = {"image": relative_to_root(path), "box": box}
        if not c["normal"]:
            continue
        rng = rng_for(seed, "normal-crop", unit.uid, c["rid"])
        h, w = box[3] - box[1], box[2] - box[0]
        nbox, reason = place_normal(src.seg.breast, src.unit, list(lesions.values()), h, w, rng)
        if nbox is None:
            result["normals"][c["rid"]] = {"error": reason}
            continue
        path = _image_path(out_dir, opaque_id(PREP_VERSION, size, seed, unit.uid, c["rid"], "pair"))
        writes.append((path, png_bytes(src.render(nbox, size))))
        result["normals"][c["rid"]] = {"image": relative_to_root(path), "box": nbox}
    for path, data in writes:
        write_bytes_atomic(path, data)
    write_json_atomic(_part_path(out_dir, unit, size, seed), portable(result, roots or {}))
    return result


def _box_or_error(crop: dict[str, Any], shape: tuple[int, int]) -> tuple[list[int] | None, str | None]:
    try:
        return lesion_box(crop, shape), None
    except DataError as exc:
        return None, str(exc)


def _part_path(out_dir: Path, unit: Unit, size: int, seed: int) -> Path:
    return out_dir / "parts" / f"{opaque_id(PREP_VERSION, size, seed, unit.uid)}.json"


def _load_part(out_dir: Path, unit: Unit, size: int, seed: int) -> dict[str, Any] | None:
    """A finished unit's result, if its part file and every image it names still exist."""
    p = _part_path(out_dir, unit, size, seed)
    if not p.exists():
        return None
    try:
        res = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    from ..paths import resolve

    images = [res.get("breast_image")] + [v.get("image") for d in ("crops", "normals") for v in res[d].values()]
    return res if all(resolve(i).exists() for i in images if i) else None


#: Errors of the folder written to (full disk, quota, read-only): they stop the run with the CLI's message.
OUTPUT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


def _work(args: tuple[Unit, Path, int, int, dict[str, Path]]
          ) -> tuple[str, dict[str, Any] | None, tuple[str, str] | None]:
    """(uid, result, None) or (uid, None, (kind, message)): a bad image costs itself and its crops only."""
    unit, out_dir, size, seed, roots = args
    try:
        return unit.uid, process_unit(unit, out_dir, size, seed, roots), None
    except DataError as exc:
        return unit.uid, None, (getattr(exc, "kind", "bad_input"), str(exc))
    except OSError as exc:
        if exc.errno in OUTPUT_ERRNOS:  # the output disk, not this image: every later image would fail the same
            raise
        return unit.uid, None, ("error", f"{unit.source}: {type(exc).__name__}: {exc}")
    except Exception as exc:  # noqa: BLE001 - one bad image must not stop the run
        return unit.uid, None, ("error", f"{unit.source}: {type(exc).__name__}: {exc}")


# ------------------------------------------------------------------ rows of records.jsonl


def _rows_for(rec: Record, results: dict[tuple[str, int | None], dict[str, Any]],
              counts: Counter) -> list[dict[str, Any]]:
    if rec.kind == "exam":
        res = [results.get((p, None)) for p in rec.images]
        if any(r is None or "breast_image" not in r for r in res):
            counts["exam_incomplete"] += 1
            return []
        row = rec.to_json() | {"images": [r["breast_image"] for r in res], "source_images": list(rec.images)}
        return [row]
    src = _source_of(rec)
    res = results.get((src, _frame_of(rec)))
    if res is None:
        return []
    if rec.kind == "breast":
        extra = dict(rec.extra, breast_box=res["breast_box"])
        return [rec.to_json() | {"images": [res["breast_image"]], "image": res["breast_image"],
                                 "source_image": src, "extra": extra}]
    crop = res["crops"].get(rec.record_id)
    if crop is None:
        err = res.get("crop_errors", {}).get(rec.record_id, "no crop")
        print(f"[prepare] {rec.dataset} {rec.record_id}: crop skipped: {err}", file=sys.stderr)
        counts["crop_bad_box"] += 1
        return []
    rows = [rec.to_json() | {"images": [crop["image"]], "image": crop["image"], "source_image": src,
                             "box": crop["box"]}]
    normal = res["normals"].get(rec.record_id)
    if rec.kind == "finding" and normal is not None:
        if "error" in normal:
            counts[f"normal_unplaced:{normal['error']}"] += 1
        else:
            labels = {k: NORMAL_LABELS[k] for k in rec.labels if k in NORMAL_LABELS}
            nrec = Record(record_id=f"{rec.record_id}~n", dataset=rec.dataset, kind="normal",
                          images=[normal["image"]], labels=labels, patient_id=rec.patient_id,
                          exam_id=rec.exam_id, laterality=rec.laterality, view=rec.view, site=rec.site,
                          source_image=src, box=normal["box"], extra={"pair_of": rec.record_id})
            rows.append(nrec.to_json() | {"image": normal["image"]})
            counts["normal_placed"] += 1
    return rows


def prepare_dataset(records: Iterable[Record], out_dir: Path, size: int, seed: int, workers: int = 1,
                    shard: tuple[int, int] | None = None, progress: bool = True,
                    roots: dict[str, Path] | None = None) -> dict[str, Any]:
    """Prepare every image and crop of ``records`` under ``out_dir``; returns (and writes) the run summary.

    Bad inputs are reported on stderr with their file (and row), counted in the summary, and skipped.
    Source paths in the files written are portable (``{DATASET}/rel`` under a folder of ``roots``, default
    data_manifest/local.yaml; repository-relative otherwise), never the machine's absolute paths.
    """
    out_dir = Path(out_dir)
    roots = dataset_roots() if roots is None else roots
    records = list(records)
    units = build_units(records, roots)
    keys = list(units)
    if shard is not None:
        keys = [k for n, k in enumerate(keys) if n % shard[1] == shard[0]]
    results: dict[tuple[str, int | None], dict[str, Any]] = {}
    todo: list[tuple[str, int | None]] = []
    for k in keys:
        done = _load_part(out_dir, units[k], size, seed)
        if done is None:
            todo.append(k)
        else:
            results[k] = done
    errors: list[dict[str, Any]] = []
    by_uid = {units[k].uid: k for k in todo}
    jobs = [(units[k], out_dir, size, seed, roots) for k in todo]
    bar = _progress(len(jobs), progress)
    if workers > 1 and len(jobs) > 1:
        with mp.get_context("spawn").Pool(workers) as pool:
            outcomes = list(_track(pool.imap(_work, jobs, chunksize=1), bar))
    else:
        outcomes = list(_track(map(_work, jobs), bar))
    for uid, res, err in outcomes:
        k = by_uid[uid]
        if res is not None:
            results[k] = res
        else:
            u = units[k]
            rows = sorted({r for r in u.rows if r is not None}, key=str)
            kind, msg = err
            errors.append({"file": u.source, "kind": kind, "label_files": u.label_files, "rows": rows,
                           "records_lost": len(u.record_ids), "record_ids": u.record_ids[:20], "error": msg})
            where = f" (label rows {rows}" + (f" of {', '.join(u.label_files)}" if u.label_files else "") + ")"
            print(f"[prepare] skipped image, {len(u.record_ids)} record(s) lost: {msg}" + (where if rows else ""),
                  file=sys.stderr)
    counts: Counter = Counter()
    rows: list[dict[str, Any]] = []
    key_set = set(keys)
    for rec in records:
        if shard is not None and rec.kind != "exam" and (_source_of(rec), _frame_of(rec)) not in key_set:
            continue
        if shard is not None and rec.kind == "exam":
            continue  # exams span shards: assembled by the final run without --shard
        new = _rows_for(rec, results, counts)
        if not new and rec.kind != "exam":
            counts["records_failed"] += 1
        rows += new
    name = "records.jsonl" if shard is None else f"records.shard-{shard[0]}-of-{shard[1]}.jsonl"
    write_jsonl_atomic(out_dir / name, (portable(r, roots) for r in rows))
    summary = {
        "source_images": len(keys), "prepared": len(todo) - len(errors), "skipped_existing": len(keys) - len(todo),
        "failed": len(errors), "failed_by_kind": dict(sorted(Counter(e["kind"] for e in errors).items())),
        "errors": errors, "rows_written": len(rows),
        "by_kind": dict(sorted(Counter(r["kind"] for r in rows).items())),
        "normal_placed": counts["normal_placed"],
        "normal_unplaced": {k.split(":", 1)[1]: v for k, v in sorted(counts.items()) if k.startswith("normal_unplaced")},
        "records_failed": counts["records_failed"], "exam_incomplete": counts["exam_incomplete"],
        "masked_components": int(sum(r.get("masked_components", 0) for r in results.values())),
        "size": size, "seed": seed, "shard": list(shard) if shard else None, "records": relative_to_root(out_dir / name),
    }
    write_text = dumps(portable(summary, roots))
    (out_dir / "summary").mkdir(parents=True, exist_ok=True)
    write_json_atomic(out_dir / "summary" / (name.replace(".jsonl", ".json")), json.loads(write_text))
    return summary


def _progress(total: int, enabled: bool) -> Any:
    if not enabled or total == 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="prepare", unit="img", file=sys.stderr, disable=None)


def _track(it: Iterable[Any], bar: Any) -> Iterable[Any]:
    for x in it:
        if bar is not None:
            bar.update(1)
        yield x
    if bar is not None:
        bar.close()
