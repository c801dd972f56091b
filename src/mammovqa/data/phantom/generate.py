"""Generation of the phantom benchmark: patients -> breast images / exams -> lesion and normal crops.

Randomness is keyed, never sequential: every draw comes from a generator seeded by
``(seed, dataset, role of the draw, index)``, so an image does not depend on which images were generated
before it. That makes the output identical for any worker count and any generation order, and lets one
image be re-rendered alone (the tests re-render an image without its lesions to measure them).
"""

from __future__ import annotations

import dataclasses
import io
import multiprocessing
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from ...config import Datasets, Part, Profile, load_datasets
from ...errors import ConfigError
from ...io import atomic_path
from ...paths import relative_to_root
from ...seeding import seed_sequence as _seed_sequence
from ..prepare import opaque_id
from ..records import Record
from .anatomy import Geometry, render_anatomy, sample_geometry
from .lesions import (
    ABNORMALITY,
    Lesion,
    birads_option,
    boxes_overlap,
    draw,
    place,
    sample_lesions,
    worst_birads,
)
from .sites import apply_site, get_site

DENSITIES = ("A", "B", "C", "D")
DENSITY_P = (0.12, 0.40, 0.36, 0.12)
FG_RANGE = {"A": (0.04, 0.20), "B": (0.22, 0.44), "C": (0.48, 0.68), "D": (0.72, 0.90)}
PREVALENCE = 0.5  # share of breasts with at least one lesion
EXAM_VIEWS = (("Right", "CC"), ("Left", "CC"), ("Right", "MLO"), ("Left", "MLO"))
PNG_COMPRESS = 1  # fast zlib level; deterministic for a given zlib build


# ------------------------------------------------------------------ keyed randomness


#: Version of the phantom's pixels and labels, recorded in the data summary. 3: keyed randomness through the
#: package's one scheme (``seeding.rng_for``, SHA-256 keys) instead of a crc32 scheme of its own (issue 15).
PHANTOM_VERSION = 3


def seed_sequence(seed: int, *keys: object) -> np.random.SeedSequence:
    """Seed for one named draw of the phantom (``seeding.seed_sequence``); a negative seed is refused."""
    if int(seed) < 0:
        raise ValueError(f"phantom seed must be >= 0, got {seed!r}")
    return _seed_sequence(int(seed), *keys)


def rng_for(seed: int, *keys: object) -> np.random.Generator:
    return np.random.default_rng(seed_sequence(seed, *keys))


# ------------------------------------------------------------------ breast-level state


@dataclass
class Breast:
    """What is true of one breast, whichever view images it: the labels' common cause."""

    laterality: str
    density: str
    fg: float  # fibroglandular fraction (drives density, background tissue, masking)
    lesions: list[Lesion]
    no_lesion_birads: str  # assessment when nothing is seen: mostly 1, sometimes 0 (recall)

    @property
    def background(self) -> str:
        return "Fatty" if self.fg < 0.30 else ("Fatty-glandular" if self.fg < 0.60 else "Dense-glandular")

    @property
    def birads(self) -> str:
        return worst_birads([les.birads for les in self.lesions]) if self.lesions else self.no_lesion_birads

    @property
    def pathology(self) -> str:
        if not self.lesions:
            return "Normal"
        return "Malignant" if any(les.pathology == "Malignant" for les in self.lesions) else "Benign"

    @property
    def abnormality(self) -> list[str]:
        return sorted({ABNORMALITY[les.type] for les in self.lesions}) or ["Normal"]


def sample_density(rng: np.random.Generator) -> tuple[str, float]:
    density = DENSITIES[int(rng.choice(4, p=DENSITY_P))]
    return density, float(rng.uniform(*FG_RANGE[density]))


def masking_level(fg: float, rng: np.random.Generator) -> int:
    """CSAW-M-like masking potential 1..8: rises with the fibroglandular fraction, plus reader noise."""
    x = (fg - 0.04) / 0.86
    return int(np.clip(round(1 + 7 * x + rng.normal(0.0, 0.6)), 1, 8))


def sample_breast(rng: np.random.Generator, laterality: str, density: str, fg: float, force_lesion: bool) -> Breast:
    lesions = sample_lesions(rng, PREVALENCE, force=force_lesion)
    return Breast(laterality, density, fg, lesions, "0" if rng.random() < 0.08 else "1")


# ------------------------------------------------------------------ rendering


@dataclass
class Rendered:
    pixels: np.ndarray  # uint8, final frame
    tissue: np.ndarray  # bool, final frame: breast minus pectoral, away from the skin line
    lesions: list[Lesion]  # placed copies, final frame coordinates
    geometry: Geometry
    spacing_mm: float


def render_image(size: int, breast: Breast, view: str, site: int, seed: int, key: tuple,
                 with_lesions: bool = True) -> Rendered:
    """Render one view of a breast. ``with_lesions=False`` gives the same image minus its lesions.

    Geometry, anatomy and site noise draw from three separate child generators, so leaving the lesions out
    changes no other pixel: the difference of the two renderings is the lesion signal alone.
    """
    rng_geom, rng_anat, rng_site = (np.random.default_rng(s) for s in seed_sequence(seed, *key).spawn(3))
    st = get_site(site)
    spacing = st.pixel_spacing_mm(size)
    geom = sample_geometry(size, view, rng_geom)
    anat = render_anatomy(geom, breast.fg, rng_anat)
    lesions = [dataclasses.replace(les, extra={}) for les in breast.lesions]
    place(lesions, geom, spacing)
    att = anat.attenuation
    if with_lesions:
        for les in lesions:
            draw(att, anat.thickness, les, spacing)
    pixels = apply_site(att, st, rng_site)
    tissue = anat.breast & ~anat.pectoral & (anat.thickness > 0.4)
    if breast.laterality == "Left":  # canonical frame is a right breast; mirror for the left
        pixels, tissue = pixels[:, ::-1].copy(), tissue[:, ::-1].copy()
        for les in lesions:
            x0, y0, x1, y1 = les.box
            les.box = (size - x1, y0, size - x0, y1)
            les.center = (size - 1 - les.center[0], les.center[1])
    return Rendered(pixels, tissue, lesions, geom, spacing)


def png_bytes(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buf, format="PNG", compress_level=PNG_COMPRESS)
    return buf.getvalue()


def write_png(path: Path, pixels: np.ndarray) -> bool:
    """Atomically write an 8-bit PNG; returns False (and leaves the file alone) when it already holds these bytes."""
    data = png_bytes(pixels)
    if path.exists() and path.stat().st_size == len(data) and path.read_bytes() == data:
        return False
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return True


def normal_box(tissue: np.ndarray, side_w: int, side_h: int, avoid: list[tuple[int, int, int, int]],
               rng: np.random.Generator, tries: int = 512) -> tuple[int, int, int, int] | None:
    """A box of the lesion crop's size wholly inside breast tissue and disjoint from every lesion box.

    Candidates are drawn with the record's own generator and tested all at once on a summed-area table,
    which is both seeded (the official pipeline's normal crops were not) and fast.
    """
    size = tissue.shape[0]
    if side_w > size or side_h > size:
        return None
    sat = np.zeros((size + 1, size + 1), dtype=np.int32)
    sat[1:, 1:] = tissue.astype(np.int32).cumsum(0).cumsum(1)
    xs = rng.integers(0, size - side_w + 1, tries)
    ys = rng.integers(0, size - side_h + 1, tries)
    inside = (sat[ys + side_h, xs + side_w] - sat[ys, xs + side_w] - sat[ys + side_h, xs] + sat[ys, xs]) \
        == side_w * side_h
    for x, y in zip(xs[inside], ys[inside]):
        box = (int(x), int(y), int(x) + side_w, int(y) + side_h)
        if not any(boxes_overlap(box, a) for a in avoid):
            return box
    return None


# ------------------------------------------------------------------ jobs (one per breast image / exam / DBT source)


@dataclass(frozen=True)
class Job:
    dataset: str  # phantom dataset, e.g. "Phantom-CBIS"
    part: str  # breast | exam | finding (a finding-only set rendering its own source images)
    name: str  # official name of the part whose records this job yields first
    topics: tuple[str, ...]
    finding_name: str | None  # sub-dataset that receives this image's crops
    finding_topics: tuple[str, ...]
    role: str
    sites: tuple[int, ...]
    index: int
    size: int
    seed: int
    out_dir: str


@dataclass
class JobResult:
    records: list[Record]
    crops: list[Record]
    stats: Counter


def _labels(values: dict[str, list[str]], topics: tuple[str, ...]) -> dict[str, list[str]]:
    return {t: values[t] for t in topics}


def _breast_labels(breast: Breast, view: str, masking: int) -> dict[str, list[str]]:
    return {"Laterality": [breast.laterality], "View": [view], "ACR": [f"Level {breast.density}"],
            "Bi-Rads": [birads_option(breast.birads)], "Background tissue": [breast.background],
            "Masking potential": [f"Level {masking}"], "Pathology": [breast.pathology],
            "Abnormality": breast.abnormality}


def _breast_extra(breast: Breast, r: Rendered, masking: int, site: int) -> dict[str, Any]:
    return {"lesions": [les.describe() for les in r.lesions], "pixel_spacing_mm": r.spacing_mm,
            "density": breast.density, "fg_fraction": round(breast.fg, 4), "birads": breast.birads,
            "background_tissue": breast.background, "masking_potential": masking, "pathology": breast.pathology,
            "image_size": int(r.pixels.shape[0]), "site_index": site}


def _crops(job: Job, r: Rendered, image_rel: str, stem: str, patient: str, laterality: str, view: str,
           site: int, stats: Counter) -> list[Record]:
    """Lesion crops plus one same-sized normal crop each, cut from the same final 8-bit image."""
    out: list[Record] = []
    folder = Path(job.out_dir) / str(job.finding_name)
    boxes = [les.box for les in r.lesions]
    for j, les in enumerate(r.lesions):
        if les.extra.get("overlaps"):
            stats["skipped_crop_lesion_overlap"] += 1
            continue
        x0, y0, x1, y1 = les.box
        nbox = normal_box(r.tissue, x1 - x0, y1 - y0, boxes, rng_for(job.seed, job.dataset, "normal", job.index, j))
        if nbox is None:
            stats["skipped_crop_no_normal_fits"] += 1
            continue
        lab = {"Abnormality": [ABNORMALITY[les.type]], "Pathology": [les.pathology],
               "Subtlety": [f"Level {les.subtlety}"]}
        nlab = {"Abnormality": ["Normal"], "Pathology": ["Normal"], "Subtlety": ["Normal"]}
        for kind, box, labels, tag in (("finding", les.box, lab, "L"), ("normal", nbox, nlab, "N")):
            bx0, by0, bx1, by1 = box
            path = folder / f"{opaque_id('phantom-crop', job.finding_name, stem, j, tag)}.png"
            stats["png_written" if write_png(path, r.pixels[by0:by1, bx0:bx1]) else "png_unchanged"] += 1
            extra: dict[str, Any] = {"pixel_spacing_mm": r.spacing_mm, "crop_size": [bx1 - bx0, by1 - by0]}
            if kind == "finding":
                extra["lesion"] = les.describe()
            else:
                extra["normal_of"] = f"{job.finding_name}/{stem}-L{j}"
                extra["lesion_boxes"] = [list(b) for b in boxes]
            out.append(Record(record_id=f"{job.finding_name}/{stem}-{tag}{j}", dataset=str(job.finding_name),
                              kind=kind, images=[relative_to_root(path)], labels=_labels(labels, job.finding_topics),
                              patient_id=patient, laterality=laterality, view=view, site=f"site{site}",
                              source_image=image_rel, box=[int(v) for v in box], extra=extra))
    return out


def breast_of(job: Job) -> tuple[Breast, int, int]:
    """The patient-level truth behind a breast image: (breast, site, masking level).

    Drawn from the patient's generator, not the image's, so CC and MLO of one breast agree.
    """
    prng = rng_for(job.seed, job.dataset, "patient", job.index // 2)
    laterality = ("Right", "Left")[int(prng.integers(2))]
    site = job.sites[int(prng.integers(len(job.sites)))]
    density, fg = sample_density(prng)
    breast = sample_breast(prng, laterality, density, fg, force_lesion=job.part == "finding")
    return breast, site, masking_level(fg, prng)


def run_breast_job(job: Job) -> JobResult:
    """One breast image (CC or MLO of a patient's breast), and its crops when the dataset has a finding part.

    Patients own two consecutive indices (CC then MLO of the same breast), so grouped splits matter and both
    views show the same lesions.
    """
    stats: Counter = Counter()
    patient_no, view = job.index // 2, ("CC", "MLO")[job.index % 2]
    breast, site, masking = breast_of(job)
    laterality, density = breast.laterality, breast.density
    r = render_image(job.size, breast, view, site, job.seed, (job.dataset, "image", job.index))
    stem = f"{job.index:06d}"
    sub = "source" if job.part == "finding" else ""
    path = Path(job.out_dir) / job.name / sub / f"{stem}.png"
    stats["png_written" if write_png(path, r.pixels) else "png_unchanged"] += 1
    image_rel, patient = relative_to_root(path), f"{job.dataset}-P{patient_no:05d}"
    records = []
    if job.part == "breast":
        labels = _breast_labels(breast, view, masking)
        records.append(Record(record_id=f"{job.name}/{stem}", dataset=job.name, kind="breast", images=[image_rel],
                              labels=_labels(labels, job.topics), patient_id=patient, laterality=laterality,
                              view=view, site=f"site{site}",
                              raw_labels={"ACR": density, "Bi-Rads": breast.birads, "Masking potential": masking},
                              extra=_breast_extra(breast, r, masking, site)))
    crops = _crops(job, r, image_rel, stem, patient, laterality, view, site, stats) if job.finding_name else []
    return JobResult(records, crops, stats)


def run_exam_job(job: Job) -> JobResult:
    """One screening exam: RCC, LCC, RMLO, LMLO of one woman, both breasts sharing her density.

    Exam BI-RADS is the worst breast assessment (order 1 < 2 < 3 < 0 < 4 < 5); exam density is the shared
    density, as a reader reports one composition per exam.
    """
    stats: Counter = Counter()
    prng = rng_for(job.seed, job.dataset, "exam", job.index)
    site = job.sites[int(prng.integers(len(job.sites)))]
    density, fg = sample_density(prng)
    breasts = {lat: sample_breast(prng, lat, density, fg, force_lesion=False) for lat in ("Right", "Left")}
    images, views = [], []
    for j, (lat, view) in enumerate(EXAM_VIEWS):
        r = render_image(job.size, breasts[lat], view, site, job.seed, (job.dataset, "exam-image", job.index, j))
        path = Path(job.out_dir) / job.name / f"{opaque_id('phantom-exam', job.name, job.index, j)}.png"
        stats["png_written" if write_png(path, r.pixels) else "png_unchanged"] += 1
        images.append(relative_to_root(path))
        views.append({"image": images[-1], "laterality": lat, "view": view, "birads": breasts[lat].birads,
                      "pathology": breasts[lat].pathology, "lesions": [les.describe() for les in r.lesions]})
    birads = worst_birads([b.birads for b in breasts.values()])
    labels = {"ACR": [f"Level {density}"], "Bi-Rads": [birads_option(birads)]}
    extra = {"density": density, "fg_fraction": round(fg, 4), "birads": birads, "views": views,
             "background_tissue": breasts["Right"].background, "pixel_spacing_mm": get_site(site).pixel_spacing_mm(job.size),
             "lesions": [les for v in views for les in v["lesions"]], "site_index": site}
    rec = Record(record_id=f"{job.name}/{job.index:06d}", dataset=job.name, kind="exam", images=images,
                 labels=_labels(labels, job.topics), patient_id=f"{job.dataset}-P{job.index:05d}",
                 exam_id=f"{job.dataset}-E{job.index:05d}", site=f"site{site}",
                 raw_labels={"ACR": density, "Bi-Rads": birads}, extra=extra)
    return JobResult([rec], [], stats)


def run_job(job: Job) -> JobResult:
    return run_exam_job(job) if job.part == "exam" else run_breast_job(job)


# ------------------------------------------------------------------ the Source


def part_size(part: Part, profile: Profile) -> int:
    return max(profile.min_per_part, round(part.size * profile.scale))


class PhantomSource:
    """The phantom as a data ``Source``: renders PNGs under ``out_dir`` and yields their records.

    Records come out in manifest order (dataset, then part, then index); a finding part follows its breast
    part. ``summary`` is complete once ``records()`` has been exhausted.
    """

    name = "phantom"

    def __init__(self, out_dir: Path, profile: Profile, seed: int = 0, datasets: Datasets | None = None,
                 workers: int = 1):
        if int(seed) < 0:
            raise ValueError(f"phantom seed must be >= 0, got {seed!r}")
        self.out_dir = Path(out_dir)
        self.profile = profile
        self.seed = int(seed)
        self.datasets = datasets or load_datasets()
        self.workers = max(1, int(workers))
        self._summary: dict[str, Any] = {"complete": False}

    @property
    def summary(self) -> dict[str, Any]:
        return self._summary

    def jobs(self) -> list[Job]:
        """Every rendering job of this run, in output order."""
        out: list[Job] = []
        for ds in self.datasets.phantom.values():
            finding = ds.parts.get("finding")
            sites = ds.sites or ()
            if not sites:
                raise ConfigError(self.datasets.source, f"phantom.{ds.name}.sites", "a phantom dataset needs sites")
            for kind in ("breast", "exam", "finding"):
                part = ds.parts.get(kind)
                if part is None or (kind == "finding" and "breast" in ds.parts and part.size == 0):
                    continue
                gives_crops = kind == "finding" or (kind == "breast" and finding is not None)
                for i in range(part_size(part, self.profile)):
                    out.append(Job(ds.name, kind, part.name, part.topics, finding.name if gives_crops else None,
                                   finding.topics if gives_crops else (), ds.role, tuple(sites), i,
                                   self.profile.image_size, self.seed, str(self.out_dir)))
        return out

    def render_record(self, record: Record, with_lesions: bool = True) -> np.ndarray:
        """Re-render the full image behind a breast record or crop, optionally without its lesions.

        Used to measure lesions as the exact difference of two renderings (tests, figures); exam records
        are not supported (render their views' breasts directly).
        """
        stem = Path(record.source_image or record.images[0]).stem
        index = int(stem.split("_")[0])
        for job in self.jobs():
            if job.index == index and job.part != "exam" and record.dataset in (job.name, job.finding_name):
                breast, site, _ = breast_of(job)
                view = ("CC", "MLO")[index % 2]
                key = (job.dataset, "image", index)
                return render_image(job.size, breast, view, site, self.seed, key, with_lesions).pixels
        raise KeyError(f"{record.record_id}: no phantom breast image with index {index} in {record.dataset!r}")

    def _results(self, jobs: list[Job]) -> Iterator[JobResult]:
        if self.workers == 1:
            yield from map(run_job, jobs)
            return
        with multiprocessing.get_context().Pool(self.workers) as pool:
            yield from pool.imap(run_job, jobs, chunksize=max(1, min(32, len(jobs) // (8 * self.workers) or 1)))

    def records(self) -> Iterator[Record]:
        jobs = self.jobs()
        stats: Counter = Counter()
        counts: dict[str, Counter] = defaultdict(Counter)
        labels: dict[str, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
        sites: dict[str, Counter] = defaultdict(Counter)
        pending: list[Record] = []
        current = None
        progress = tqdm(total=len(jobs), desc=f"phantom {self.profile.name}", unit="job", file=sys.stderr,
                        disable=None, leave=False)  # shown on a terminal, silent in logs
        for job, res in zip(jobs, self._results(jobs)):
            progress.update(1)
            if job.dataset != current:
                yield from self._count(pending, counts, labels, sites)
                pending, current = [], job.dataset
            stats.update(res.stats)
            yield from self._count(res.records, counts, labels, sites)
            pending.extend(res.crops)
        yield from self._count(pending, counts, labels, sites)
        progress.close()
        self._summary = {
            "complete": True, "source": self.name, "version": PHANTOM_VERSION, "profile": self.profile.name,
            "seed": self.seed,
            "image_size": self.profile.image_size, "out_dir": relative_to_root(self.out_dir),
            "records": {d: dict(sorted(c.items())) for d, c in counts.items()},
            "records_total": sum(sum(c.values()) for c in counts.values()),
            "sites": {d: dict(sorted(c.items())) for d, c in sites.items()},
            "labels": {d: {t: dict(sorted(c.items())) for t, c in tc.items()} for d, tc in labels.items()},
            "files": dict(sorted(stats.items())),
        }

    @staticmethod
    def _count(records: list[Record], counts: dict, labels: dict, sites: dict) -> Iterator[Record]:
        for rec in records:
            counts[rec.dataset][rec.kind] += 1
            sites[rec.dataset][rec.site] += 1
            for topic, vals in rec.labels.items():
                labels[rec.dataset][topic]["|".join(vals)] += 1
            yield rec


def generate(out_dir: Path, profile: Profile, seed: int = 0, workers: int = 1,
             datasets: Datasets | None = None) -> tuple[list[Record], dict[str, Any]]:
    """Convenience wrapper: render everything and return (records, summary)."""
    src = PhantomSource(out_dir, profile, seed=seed, datasets=datasets, workers=workers)
    records = list(src.records())
    return records, src.summary
