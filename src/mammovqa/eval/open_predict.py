"""Run a vision-language model over open-ended items (:mod:`mammovqa.qa.open`): one prediction file per call.

Why not :func:`mammovqa.models.predict.predict`: it asks every item with the closed prompt templates of
``topics.yaml`` ("... several options ... ### Options: ..."), which an open item has none of; adding an open
template there would change the closed prompt checksum and so restart every closed prediction file. This loop
asks :func:`mammovqa.qa.open.open_prompt` instead and keeps the closed loop's guarantees that matter here:

* the same file format and provenance (:class:`mammovqa.predictions.PredictionWriter`), scored by
  :func:`mammovqa.eval.open_scoring.score_open`;
* resumable: ids already answered are skipped; a file written by another source (other weights, prompt or
  items: the closed loop's :data:`~mammovqa.models.predict.RESUME_KEYS`) is started over, never appended to;
* one failing item never loses a batch: the batch is retried item by item and a failure is written as that
  item's ``error`` (scored as no answer, i.e. wrong).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..io import file_lock, provenance, sha256_text
from ..models.hf import HFModel, Request, load_rgb
from ..models.predict import (
    check_resumable,
    generate_isolated,
    items_checksum,
    model_fingerprint,
    single_value,
)
from ..paths import resolve
from ..predictions import PredictionWriter, done_ids
from ..qa.items import QAItem
from ..qa.open import OPEN_PROMPT, open_prompt


def open_provenance(model: HFModel, items: Sequence[QAItem]) -> dict[str, Any]:
    """The source-identifying fields of an open prediction file (compared on resume)."""
    return {"backend": "hf", "served_model": None, "model_fingerprint": model_fingerprint(model.path),
            "prompts_sha256": sha256_text(OPEN_PROMPT), "data_sha256": items_checksum(items),
            "split": single_value({it.split for it in items}), "form": "open"}


def _request(item: QAItem, multi_image: bool) -> Request:
    paths = item.images if multi_image else item.images[:1]
    return Request(open_prompt(item), [load_rgb(resolve(p)) for p in paths])


def predict_open(model: HFModel, model_id: str, items: Sequence[QAItem], out_path: str | Path, *, seed: int = 0,
                 batch_size: int = 16) -> dict[str, int]:
    """Answer every not-yet-answered open item with ``model``; returns counts (items, written, errors)."""
    out_path = Path(out_path)
    with file_lock(out_path, f"open predictions of {model_id}"):
        expected = open_provenance(model, items)
        check_resumable(out_path, expected, "restart", model_id)
        done = done_ids(out_path)
        todo = [it for it in items if it.id not in done]
        summary = {"items": len(items), "skipped_done": len(items) - len(todo), "written": 0, "errors": 0}
        if not todo:
            return summary
        prov = provenance(seed=seed, model_id=model_id, max_new_tokens=model.max_new_tokens, decoding="greedy",
                          **expected)
        with PredictionWriter(out_path, prov) as writer:
            for start in range(0, len(todo), max(1, batch_size)):
                batch = todo[start:start + batch_size]
                ready: list[tuple[QAItem, Request]] = []
                for it in batch:
                    try:
                        ready.append((it, _request(it, model.multi_image)))
                    except (OSError, ValueError) as exc:  # missing or corrupt image file
                        writer.write(id=it.id, model=model_id, prompt=open_prompt(it), options=[], output=None,
                                     latency_s=None, error=f"image: {type(exc).__name__}: {exc}")
                        summary["written"] += 1
                        summary["errors"] += 1
                if not ready:
                    continue
                t0 = time.perf_counter()
                outputs, errors = generate_isolated(model, [r for _, r in ready])
                per_item = (time.perf_counter() - t0) / len(ready)
                for (it, _), out, err in zip(ready, outputs, errors, strict=True):
                    writer.write(id=it.id, model=model_id, prompt=open_prompt(it), options=[], output=out,
                                 latency_s=round(per_item, 4), error=err)
                    summary["written"] += 1
                    summary["errors"] += err is not None
    return summary
