"""``mammovqa export hf``: a run's QA items as a Hugging Face dataset (parquet shards + dataset card).

Layout (what ``datasets.load_dataset("parquet", data_dir=DIR)`` and ``load_dataset(DIR)`` both read)::

    DIR/README.md                                  dataset card: YAML header (features, splits, configs) + terms
    DIR/data/<split>-00000-of-0000N.parquet        one row per item, file order of the run

Why every QAItem field is a column: the dataset must give the items back exactly (same ids, question wording,
option order, gold answers, seeds), so a model evaluated from the Hub copy is scored on the same questions.
``images`` is a list of ``Image`` values (one for image-level items, the exam's views for exam items); for a
dataset whose terms forbid redistribution the list is empty and ``image_keys`` names the image inside the
user's own build of the run (``data/<run>/<key>``), as the card states per dataset.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..io import dumps, write_text_atomic
from ..paths import RunPaths
from ..qa.items import SPLITS, QAItem, item_prompt
from .common import Terms, image_file, image_key, run_items, terms_of

ROWS_PER_SHARD = 5000
STRING_COLUMNS = ("id", "question", "topic", "topic_label", "level", "kind", "split", "dataset", "part", "role",
                  "record_id", "patient_id", "exam_id", "site", "prompt", "extra")


def features():  # noqa: ANN201 - datasets.Features; imported lazily (datasets is only needed to export)
    """The column types; ``images`` is a list of ``Image`` so image and exam items share one schema."""
    import datasets as hfd

    cols: dict[str, Any] = {c: hfd.Value("string") for c in STRING_COLUMNS}
    cols.update({
        "options": hfd.List(hfd.Value("string")), "answer": hfd.List(hfd.Value("string")),
        "seed": hfd.Value("int64"), "wording_index": hfd.Value("int64"),
        "images": hfd.List(hfd.Image()), "image_keys": hfd.List(hfd.Value("string")),
        "redistributable": hfd.Value("bool"),
    })
    return hfd.Features(cols)


def item_row(item: QAItem, run: RunPaths, terms: Terms) -> dict[str, Any]:
    """One dataset row; pixels only when the source's terms allow redistributing them."""
    images = ([{"bytes": image_file(p, run.root).read_bytes(), "path": Path(p).name} for p in item.images]
              if terms.redistributable else [])
    return {
        "id": item.id, "question": item.question, "options": list(item.options), "answer": list(item.answer),
        "topic": item.topic, "topic_label": item.topic_label, "level": item.level, "kind": item.kind,
        "split": item.split, "dataset": item.dataset, "part": item.part, "role": item.role,
        "record_id": item.record_id, "patient_id": item.patient_id, "exam_id": item.exam_id, "site": item.site,
        "prompt": item_prompt(item), "extra": dumps(item.extra or {}), "seed": int(item.seed),
        "wording_index": int(item.wording_index), "images": images,
        "image_keys": [image_key(p, run) for p in item.images], "redistributable": terms.redistributable,
    }


def row_item(row: dict[str, Any]) -> QAItem:
    """The QAItem a dataset row came from (the inverse of :func:`item_row`; used by tests and imports)."""
    return QAItem(
        id=row["id"], topic=row["topic"], kind=row["kind"], level=row["level"], dataset=row["dataset"],
        part=row["part"], role=row["role"], split=row["split"], record_id=row["record_id"],
        patient_id=row["patient_id"], images=[], question=row["question"], options=list(row["options"]),
        answer=list(row["answer"]), seed=int(row["seed"]), exam_id=row["exam_id"], site=row["site"],
        wording_index=int(row["wording_index"]), extra=json.loads(row["extra"]))


def _write_shards(rows: Iterable[dict[str, Any]], n_rows: int, split: str, out: Path, feats: Any) -> list[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    n_shards = max(1, math.ceil(n_rows / ROWS_PER_SHARD))
    names = [f"data/{split}-{i:05d}-of-{n_shards:05d}.parquet" for i in range(n_shards)]
    schema = feats.arrow_schema
    batch: list[dict[str, Any]] = []
    shard = 0

    def flush() -> None:
        nonlocal batch, shard
        encoded = feats.encode_batch({c: [r[c] for r in batch] for c in feats})
        table = pa.Table.from_pydict(encoded, schema=schema)
        path = out / names[shard]
        tmp = path.with_suffix(".parquet.tmp")
        pq.write_table(table, tmp, compression="zstd")
        tmp.replace(path)
        batch, shard = [], shard + 1

    for row in rows:
        batch.append(row)
        if len(batch) == ROWS_PER_SHARD:
            flush()
    if batch or shard == 0:
        flush()
    return names


def export_hf(source: str, profile: str, out: str | Path, seed: int = 0, root: Path | None = None) -> dict[str, Any]:
    """Write the dataset; returns a summary (rows per split, files, datasets and their terms)."""
    kw = {"root": root} if root is not None else {}
    run, items = run_items(source, profile, seed, **kw)
    if not items:
        raise DataError(run.qa_items, None, "the run has no QA items to export")
    out = Path(out)
    (out / "data").mkdir(parents=True, exist_ok=True)
    for old in (out / "data").glob("*.parquet"):
        old.unlink()  # a re-export replaces the shards, never mixes two runs
    feats = features()
    terms = {it.dataset: terms_of(it.dataset) for it in items}
    splits = {s: [it for it in items if it.split == s] for s in SPLITS}
    splits = {s: g for s, g in splits.items() if g}
    files: dict[str, list[str]] = {}
    for split, group in splits.items():
        rows = (item_row(it, run, terms[it.dataset]) for it in group)
        files[split] = _write_shards(rows, len(group), split, out, feats)
    write_text_atomic(out / "README.md", dataset_card(run, splits, terms, files, feats))
    return {"run": run.name, "rows": {s: len(g) for s, g in splits.items()}, "files": files,
            "withheld_images": sorted({t.dataset for t in terms.values() if not t.redistributable})}


def dataset_card(run: RunPaths, splits: dict[str, list[QAItem]], terms: dict[str, Terms],
                 files: dict[str, list[str]], feats: Any) -> str:
    """README.md with the ``datasets`` YAML header and, per dataset, whether pixels are included and why."""
    import yaml

    info = feats._to_yaml_list()  # the same serialisation the Hub writes into dataset cards
    header = {
        "pretty_name": f"MammoVQA ({run.name})",
        "license": "other",
        "task_categories": ["visual-question-answering"],
        "language": ["en"],
        "tags": ["medical", "mammography", "multiple-choice"],
        "configs": [{"config_name": "default",
                     "data_files": [{"split": s, "path": f"data/{s}-*.parquet"} for s in splits]}],
        "dataset_info": {"features": info},
    }
    by_source: dict[str, Terms] = {}
    for t in terms.values():
        by_source.setdefault(t.dataset, t)
    lines = [
        "---", yaml.safe_dump(header, sort_keys=False, allow_unicode=True).rstrip(), "---", "",
        f"# MammoVQA: {run.name}", "",
        "Mammography visual question answering items exported by `mammovqa export hf` "
        f"(run `{run.name}`: source `{run.source}`, profile `{run.profile}`, seed {run.seed}). One row per item: "
        "the question, its options in the order shown to the model (letter A first), the gold answer(s), the "
        "exact protocol prompt, and the image(s) (a list; exam items carry every view).", "",
        "Score answers with the repository's matchers (`official`, `strict`) and weighted accuracy: "
        "`mammovqa import-predictions` or `mammovqa score` (see the repository README, "
        "\"Evaluate your model on MammoVQA\").", "",
    ]
    if run.source == "phantom":
        lines += ["**Synthetic phantom data**: generated by the repository, not patient images.", ""]
    lines += ["## Splits", "", "| split | items | files |", "|---|---|---|"]
    lines += [f"| {s} | {len(g)} | {len(files[s])} |" for s, g in splits.items()]
    lines += ["", "## Source datasets and image terms", "",
              "| dataset | images in this copy | access / licence | terms | link |", "|---|---|---|---|---|"]
    for name, t in sorted(by_source.items()):
        shown = "yes" if t.redistributable else ("no: `image_keys` name the image in your own build "
                                                 "(`data/<run>/<key>`)")
        lines.append(f"| {name} | {shown} | {t.access} | {t.terms_source or t.access} | {t.link} |")
    withheld = sorted(n for n, t in by_source.items() if not t.redistributable)
    if withheld:
        lines += ["", f"Images of {', '.join(withheld)} are not included because their terms forbid "
                  "redistribution. Obtain each dataset from its publisher under its terms, build the same run with "
                  f"`mammovqa data build --source {run.source} --profile {run.profile} --seed {run.seed}`, and "
                  "read each item's images from `data/<run>/` + `image_keys` (preparation is deterministic, so "
                  "the keys name the same prepared images)."]
    lines += ["", "## Loading", "", "```python", "import datasets",
              'ds = datasets.load_dataset("parquet", data_dir="PATH/TO/THIS/FOLDER")  # or load_dataset(folder)',
              "```", ""]
    return "\n".join(lines)
