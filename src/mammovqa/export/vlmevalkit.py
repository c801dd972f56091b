"""``mammovqa export vlmevalkit``: a VLMEvalKit custom multiple-choice table (``<name>.tsv`` in ``$LMUData``).

Columns follow VLMEvalKit's documented benchmark TSV (docs/en/Development.md: ``index, image, image_path,
question, hint, A, B, ..., answer, category, l2-category, split``), read by its ``CustomMCQDataset``:

* ``index`` an integer unique per line; ``image`` the base64 PNG (a JSON list of them for exam items, which
  VLMEvalKit's ``toliststr`` reads as several images), or ``image_path`` with ``--image-path``;
* ``question`` the item's question, ``A``.. the options in the order shown, ``answer`` the gold letter;
* ``category`` the topic as reported, ``l2-category`` the sub-dataset, ``split`` our split;
* ``item_id``, ``benchmark`` and ``run``: kept by VLMEvalKit in its prediction file, so that
  ``mammovqa import-predictions --format vlmevalkit`` maps every answer back and refuses other tables.

Multiple-answer (Abnormality) items are left out: VLMEvalKit's MCQ evaluation extracts exactly one letter per
answer (``can_infer``) and scores ``hit`` against one gold letter, so an item with several correct options would
be scored wrong for every complete answer. Score those with lmms-eval or ``mammovqa predict``. The count left
out is returned and printed.

VLMEvalKit wraps the question in its own template (``Question: ... Options: A. ...``), not the protocol prompt;
the answers it logs are matched with our matchers on import, and the prompt stored with each imported
prediction is the protocol one rebuilt from the item (the options order is the same).
"""

from __future__ import annotations

import base64
import csv
import json
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..paths import ROOT
from ..qa.items import LETTERS, QAItem
from .common import image_file, run_items, terms_of

BASE_COLUMNS = ("index", "question")
TAIL_COLUMNS = ("answer", "category", "l2-category", "split", "item_id", "benchmark", "run")


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def item_row(index: int, item: QAItem, root: Path, run_name: str, image_path: bool) -> dict[str, Any]:
    files = [image_file(p, root).resolve() for p in item.images]
    row: dict[str, Any] = {"index": index}
    if image_path:
        row["image_path"] = str(files[0]) if len(files) == 1 else json.dumps([str(f) for f in files])
    else:
        row["image"] = _b64(files[0]) if len(files) == 1 else json.dumps([_b64(f) for f in files])
    row["question"] = item.question
    row.update({LETTERS[k]: o for k, o in enumerate(item.options)})
    row.update({"answer": LETTERS[item.options.index(item.answer[0])], "category": item.topic_label,
                "l2-category": item.dataset, "split": item.split, "item_id": item.id, "benchmark": "mammovqa",
                "run": run_name})
    return row


def export_vlmevalkit(source: str, profile: str, out: str | Path, seed: int = 0, root: Path = ROOT,
                      splits: tuple[str, ...] = ("test", "external"), image_path: bool = False) -> dict[str, Any]:
    """Write the TSV (benchmark splits by default); returns counts, the items left out and why."""
    run, items = run_items(source, profile, seed, root)
    chosen = [it for it in items if it.split in splits]
    kept = [it for it in chosen if it.kind == "single"]
    left_out = [it.id for it in chosen if it.kind != "single"]
    if not kept:
        raise DataError(run.qa_items, None, f"no single-answer items in splits {list(splits)} to export")
    n_opt = max(len(it.options) for it in kept)
    header = [*BASE_COLUMNS[:1], "image_path" if image_path else "image", BASE_COLUMNS[1],
              *LETTERS[:n_opt], *TAIL_COLUMNS]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=header, delimiter="\t", lineterminator="\n", restval="")
        w.writeheader()
        for i, it in enumerate(kept):
            w.writerow(item_row(i, it, run.root, run.name, image_path))
    tmp.replace(out)
    restricted = sorted({terms_of(it.dataset).dataset for it in kept if not terms_of(it.dataset).redistributable})
    return {"run": run.name, "file": str(out), "rows": len(kept), "left_out_multiple_answer": len(left_out),
            "left_out_reason": "VLMEvalKit's MCQ scoring takes one letter per answer; multiple-answer items "
                               "are scored by lmms-eval or mammovqa predict instead",
            "contains_images_of_restricted_datasets": restricted}


def read_table(path: str | Path) -> list[dict[str, str]]:
    """The TSV back as rows of strings (what VLMEvalKit's ``load`` gives, for tests and checks)."""
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def decode_image(value: str) -> list[bytes]:
    """Image bytes of an ``image`` cell (one base64 string or a JSON list of them)."""
    vals = json.loads(value) if value.startswith("[") else [value]
    return [base64.b64decode(v) for v in vals]


