"""`data build --source real`: fixture datasets in their published layouts -> prepared PNGs -> records -> QA items.

The CLI runs in a subprocess with MAMMOVQA_ROOT pointing at a scratch root whose ``data_manifest/`` links the
committed manifests and holds its own ``local.yaml``, so nothing is written into the repository.
"""

import json
import os
import subprocess
import sys
from collections import defaultdict
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
)
from mammovqa.config import load_datasets
from mammovqa.data.build import prepared_record, subsample_patients
from mammovqa.data.imaging import synthetic_mammogram
from mammovqa.data.records import Record
from mammovqa.io import read_jsonl
from scratch_root import scratch_root

USED = {"MIAS": make_mias, "CBIS-DDSM": make_cbis_ddsm, "DMID": make_dmid,
        "INbreast": lambda root: make_inbreast(root, fmt="csv"), "VinDr-Mammo": make_vindr, "RSNA": make_rsna,
        "MM": make_mm, "LAMIS-DMDB": make_lamis}
EXTERNAL = {"MM", "LAMIS-DMDB"}


def _valid_mias_images(root: Path) -> None:
    """The shared MIAS fixture writes header-only PGMs; preparation decodes pixels, so write real 1024^2 ones."""
    for i, pgm in enumerate(sorted((root / "all-mias").glob("mdb*.pgm"))):
        side = "R" if int(pgm.stem[3:]) % 2 else "L"  # odd refnum = right breast
        arr, _ = synthetic_mammogram((1024, 1024), laterality=side, seed=i, marker=True, bits=8)
        header = b"P5\n# CREATOR: GIMP PNM Filter Version 1.1\n1024 1024\n255\n"
        pgm.write_bytes(header + arr.astype(np.uint8).tobytes())


def _scratch_root(tmp: Path) -> Path:
    """A root with links to every committed manifest file and a private local.yaml."""
    return scratch_root(tmp / "root")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("real")
    root = _scratch_root(tmp)
    lines = ["datasets:"]
    for name, make in USED.items():
        folder = make(tmp / "downloads" / name)
        lines.append(f"  {name}: {folder}")
    _valid_mias_images(tmp / "downloads" / "MIAS")
    (tmp / "downloads" / "cdd-empty").mkdir()
    lines += [f"  CDD-CESM: {tmp / 'downloads' / 'cdd-empty'}",  # configured, but no label file: left out
              f"  BMCD: {tmp / 'not-downloaded'}"]  # configured folder missing: absent
    (root / "data_manifest" / "local.yaml").write_text("\n".join(lines) + "\n")
    cmd = [sys.executable, "-m", "mammovqa.cli", "data", "build", "--source", "real", "--profile", "smoke",
           "--workers", "1"]
    env = dict(os.environ, MAMMOVQA_ROOT=str(root))
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = root / "data" / "real-smoke"
    first_items = (run / "qa" / "items.jsonl").read_bytes()
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)  # resumes from prepared parts
    assert again.returncode == 0, again.stderr[-3000:]
    return {"root": root, "run": run, "stderr": proc.stderr, "first_items": first_items,
            "items": read_jsonl(run / "qa" / "items.jsonl"), "records": read_jsonl(run / "records.jsonl"),
            "manifest": json.loads((run / "qa" / "manifest.json").read_text())}


def test_every_present_dataset_gives_items_labelled_with_datasets_used(built: dict) -> None:
    datasets = load_datasets()
    m = built["manifest"]
    assert m["source"] == "real" and m["synthetic"] is False
    assert m["source_summary"]["datasets_used"] == sorted(USED)
    by_family = defaultdict(set)
    for it in built["items"]:
        by_family[datasets.part(it["dataset"]).dataset].add(it["topic"])
    assert set(by_family) == set(USED)
    assert {"Background tissue", "Abnormality", "Pathology"} <= by_family["MIAS"]
    assert {"Subtlety", "View", "Laterality"} <= by_family["CBIS-DDSM"]
    assert {"ACR", "Bi-Rads"} <= by_family["INbreast"] and {"ACR", "View"} <= by_family["RSNA"]
    assert m["official_exports"] and (built["run"] / "qa" / "MammoVQA-Image-Bench.json").exists()
    assert built["items"] and (built["run"] / "qa" / "items.jsonl").read_bytes() == built["first_items"]


def test_images_are_prepared_pngs_that_resolve(built: dict) -> None:
    datasets = load_datasets()
    for rec in built["records"]:
        family = datasets.part(rec["dataset"]).dataset
        for p in rec["images"]:
            assert not Path(p).is_absolute() and p.startswith(f"data/real-smoke/prepared/{family}/images/"), p
            assert (built["root"] / p).is_file() and p.endswith(".png")
    item_images = {p for it in built["items"] for p in it["images"]}
    assert item_images <= {p for r in built["records"] for p in r["images"]}
    normals = [r for r in built["records"] if r["kind"] == "normal"]
    assert normals and all(r["labels"].get("Pathology", ["Normal"]) == ["Normal"] for r in normals)
    lesion_ids = {r["record_id"] for r in built["records"] if r["kind"] == "finding"}
    assert all(r["extra"]["pair_of"] in lesion_ids for r in normals)


def test_grouped_splits_and_external_sets_benchmark_only(built: dict) -> None:
    datasets = load_datasets()
    splits = defaultdict(set)
    for it in built["items"]:
        family = datasets.part(it["dataset"]).dataset
        if family in EXTERNAL:
            assert it["split"] == "external" and it["role"] == "external", it["id"]
        else:
            assert it["split"] in ("train", "val", "test") and it["role"] == "internal", it["id"]
            splits[(family, it["patient_id"])].add(it["split"])
    leaks = {k: v for k, v in splits.items() if len(v) > 1}
    assert not leaks, leaks
    assert {s for v in splits.values() for s in v} == {"train", "val", "test"}


def test_absent_and_failed_datasets_reported(built: dict) -> None:
    err, summary = built["stderr"], built["manifest"]["source_summary"]
    assert "[data] BMCD absent (folder not found" in err and "zenodo.org/records/5036062" in err
    embed = load_datasets().get("EMBED")
    assert f"[data] EMBED absent (not listed in local.yaml): {embed.link} — access: {embed.access}" in err
    assert "[data] CDD-CESM left out" in err and "CDD-CESM" in summary["datasets_failed"]
    assert "CDD-CESM" not in summary["datasets_used"] and "BMCD" in summary["datasets_absent"]
    assert summary["MIAS"]["reader"]["missing_images"] == 1  # mdb006 is listed but not downloaded


def test_build_reports_real_values_on_stderr_and_in_the_manifest(built: dict) -> None:
    """What the readers set aside (here CBIS-DDSM's subtlety 0 and DMID's CCLRT, both measured on the published
    files) is said on stderr and kept per dataset in the manifest's data audit."""
    err, audit = built["stderr"], built["manifest"]["source_summary"]["data_audit"]
    assert "[data] CBIS-DDSM: 1 excluded on purpose: Subtlety '0'" in err
    assert "[data] DMID: 1 excluded on purpose: Laterality 'LRT'" in err
    assert any(k.startswith("Subtlety '0'") for k in audit["CBIS-DDSM"]["excluded"])
    assert audit["MIAS"]["records_dropped"] == {"image missing": 1}
    assert audit["INbreast"]["patient_keys"] == {"DICOM file-name hash": audit["INbreast"]["records_read"]}


def test_build_strict_labels_stops_the_dataset_naming_file_row_and_value(tmp_path: Path) -> None:
    """``data build --strict-labels`` (what ``make data STRICT_LABELS=1`` runs) stops a dataset at its first value
    with no label-map entry, naming file, row and value; without it the build would withhold that one label."""
    root = scratch_root(tmp_path / "root", code=True)
    inb = make_inbreast(tmp_path / "downloads" / "INbreast", fmt="csv")
    table = inb / "INbreast.csv"
    lines = table.read_text(encoding="utf-8").splitlines()
    cells = lines[3].split(";")
    cells[3] = "XCC"  # a view code no label map names
    lines[3] = ";".join(cells)
    table.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "data_manifest" / "local.yaml").write_text(f"datasets:\n  INbreast: {inb}\n")
    env = dict(os.environ, MAMMOVQA_ROOT=str(root))
    dry = subprocess.run(["make", "-n", "data", "SOURCE=real", "PROFILE=smoke", "STRICT_LABELS=1"], cwd=root, env=env,
                         capture_output=True, text=True, timeout=120)
    assert "data build --source real --profile smoke" in dry.stdout and "--strict-labels" in dry.stdout
    cmd = [sys.executable, "-m", "mammovqa.cli", "data", "build", "--source", "real", "--profile", "smoke",
           "--workers", "1", "--strict-labels"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "[data] INbreast left out" in proc.stderr and "INbreast.csv, row 4" in proc.stderr
    assert "'XCC'" in proc.stderr and "View" in proc.stderr


def _rec(pid: str, i: int) -> Record:
    return Record(f"X-breast/{pid}-{i}", "X-breast", "breast", [f"{pid}-{i}.png"], {}, pid)


def test_subsample_keeps_whole_patients_deterministically() -> None:
    recs = [_rec(f"p{p}", i) for p in range(50) for i in range(3)]
    kept = subsample_patients(recs, 0.2, minimum=4, seed=1, dataset="X")
    pats = {r.patient_id for r in kept}
    assert len(pats) == 10 and len(kept) == 30
    assert subsample_patients(list(reversed(recs)), 0.2, 4, 1, "X")[::-1] == kept  # order-independent choice
    assert {r.patient_id for r in subsample_patients(recs, 0.2, 4, 2, "X")} != pats
    assert len({r.patient_id for r in subsample_patients(recs, 0.01, 4, 1, "X")}) == 4  # the minimum
    assert subsample_patients(recs, 1.0, 4, 1, "X") is recs


def test_prepared_record_keeps_exam_sources() -> None:
    row = _rec("p1", 0).to_json() | {"kind": "exam", "image": "x.png", "source_images": ["/src/a.dcm"]}
    rec = prepared_record(row)
    assert rec.kind == "exam" and rec.extra["source_images"] == ["/src/a.dcm"]
