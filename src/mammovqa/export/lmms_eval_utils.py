"""utils.py of the lmms-eval task folder written by ``mammovqa export lmms-eval`` (copied there verbatim).

It needs the ``mammovqa`` package importable in the environment that runs lmms-eval (``pip install -e``
of this repository): answers are matched with MammoVQA's own matchers and aggregated with its own weighted
accuracy, so the numbers lmms-eval prints are the ones ``mammovqa score`` prints for the same answers.

Conventions follow lmms-eval's local-JSON tasks (e.g. ``hd_epic``, ``slake``): ``doc_to_visual`` returns PIL
images, ``doc_to_text`` the exact protocol prompt, ``process_results`` one record per metric, and the
``aggregation`` functions reduce the records. ``strict`` is the headline matcher; ``official`` is reported next
to it. Every record carries ``patient_id`` (the task's ``cluster_key``): the clustered intervals and the tests
against random guessing come from ``mammovqa import-predictions`` + ``mammovqa stats`` on the logged samples.
"""

from __future__ import annotations

import logging
from typing import Any

from PIL import Image

from mammovqa.eval.matching import match, random_chance
from mammovqa.eval.metrics import metrics_table

log = logging.getLogger("mammovqa.lmms_eval")
METRICS = ("mammovqa_weighted_accuracy", "mammovqa_accuracy", "mammovqa_official_weighted_accuracy",
           "mammovqa_official_accuracy")


def mammovqa_doc_to_visual(doc: dict[str, Any]) -> list[Image.Image]:
    """The item's image(s) as RGB PIL images (one for image-level items, every view for exam items)."""
    out = []
    for path in doc["image_paths"]:
        with Image.open(path) as im:
            out.append(im.convert("RGB"))
    return out


def mammovqa_doc_to_text(doc: dict[str, Any], lmms_eval_specific_kwargs: dict[str, Any] | None = None) -> str:
    """The exact protocol prompt the item was built with (question, options in the order shown)."""
    kw = lmms_eval_specific_kwargs or {}
    return f"{kw.get('pre_prompt', '')}{doc['prompt']}{kw.get('post_prompt', '')}"


def mammovqa_doc_to_messages(doc: dict[str, Any], lmms_eval_specific_kwargs: dict[str, Any] | None = None) -> list:
    """Chat form for chat-model backends: the image(s), then the prompt."""
    content: list[dict[str, Any]] = [{"type": "image", "url": im} for im in mammovqa_doc_to_visual(doc)]
    content.append({"type": "text", "text": mammovqa_doc_to_text(doc, lmms_eval_specific_kwargs)})
    return [{"role": "user", "content": content}]


def mammovqa_doc_to_target(doc: dict[str, Any]) -> str:
    """Gold option text(s), ``|``-joined in sorted order (the form of the ``gold`` column of our scores)."""
    return "|".join(sorted(doc["answer"]))


def _record(doc: dict[str, Any], prediction: str | None, matcher: str) -> dict[str, Any]:
    chosen = sorted(match(prediction, doc["options"], doc["kind"], matcher))  # type: ignore[arg-type]
    gold = sorted(doc["answer"])
    return {"id": doc["id"], "patient_id": doc["patient_id"], "exam_id": doc.get("exam_id"), "model": "lmms-eval",
            "matcher": matcher, "split": doc["split"], "level": doc["level"], "topic": doc["topic_label"],
            "dataset": doc["dataset"], "gold": "|".join(gold), "pred": "|".join(chosen),
            "correct": int(bool(chosen) and chosen == gold), "missing": prediction is None,
            "random_p": random_chance(len(doc["options"]), doc["kind"])}


def mammovqa_process_results(doc: dict[str, Any], results: list[Any]) -> dict[str, dict[str, Any]]:
    """Score one answer with both matchers; a record per metric (lmms-eval passes each list to its aggregation)."""
    pred = results[0] if results else None
    while isinstance(pred, list):
        pred = pred[0] if pred else None
    pred = None if pred is None else str(pred)
    strict, official = _record(doc, pred, "strict"), _record(doc, pred, "official")
    return {"mammovqa_weighted_accuracy": strict, "mammovqa_accuracy": strict,
            "mammovqa_official_weighted_accuracy": official, "mammovqa_official_accuracy": official}


def _overall(results: list[dict[str, Any]], column: str) -> float:
    """The ``all``/``all`` row of our metrics table: mean over topics of the per-topic metric."""
    import pandas as pd

    if not results:
        return float("nan")
    table = metrics_table(pd.DataFrame(results))
    overall = table[(table["topic"] == "all") & (table["dataset"] == "all")]
    if len(overall) != 1:  # several (split, level) cells in one list: report each, return their mean
        log.info("MammoVQA %s per split x level:\n%s", column, overall[["split", "level", "n", column]])
    topics = table[(table["topic"] != "all") & (table["dataset"] == "all")]
    log.info("MammoVQA %s (%s matcher) per topic:\n%s", column, results[0]["matcher"],
             topics[["split", "level", "topic", "n", column]].to_string(index=False))
    return float(overall[column].mean())


def mammovqa_aggregate_weighted_accuracy(results: list[dict[str, Any]]) -> float:
    return _overall(results, "weighted_accuracy")


def mammovqa_aggregate_accuracy(results: list[dict[str, Any]]) -> float:
    return _overall(results, "accuracy")
