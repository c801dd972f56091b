"""Tables describing a built benchmark: composition per sub-dataset and topic, label distributions per split."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from .items import QAItem


def items_frame(items: Sequence[QAItem]) -> pd.DataFrame:
    return pd.DataFrame({
        "id": [it.id for it in items], "topic": [it.topic_label for it in items],
        "dataset": [it.dataset for it in items], "role": [it.role for it in items],
        "split": [it.split for it in items], "level": [it.level for it in items],
        "answer": ["|".join(it.answer) for it in items], "record_id": [it.record_id for it in items],
        "patient_id": [it.patient_id for it in items], "n_images": [len(it.images) for it in items],
    })


def composition(items: Sequence[QAItem]) -> pd.DataFrame:
    """QA pairs per sub-dataset and topic (the paper's Fig. 1a), with images and patients per sub-dataset."""
    df = items_frame(items)
    table = df.pivot_table(index=["role", "dataset"], columns="topic", values="id", aggfunc="count", fill_value=0)
    table = table.astype(int)
    meta = df.groupby(["role", "dataset"]).agg(records=("record_id", "nunique"), patients=("patient_id", "nunique"),
                                               qa_pairs=("id", "count"))
    out = meta.join(table).reset_index().sort_values(["role", "dataset"], ascending=[False, True])
    return out.reset_index(drop=True)


def label_distribution(items: Sequence[QAItem]) -> pd.DataFrame:
    """Share of each gold answer per topic and split (Abnormality: each answer set counts as one class)."""
    df = items_frame(items)
    counts = df.groupby(["topic", "split", "answer"]).size().rename("n").reset_index()
    counts["share"] = counts["n"] / counts.groupby(["topic", "split"])["n"].transform("sum")
    return counts.sort_values(["topic", "split", "answer"]).reset_index(drop=True)


def split_summary(items: Sequence[QAItem]) -> pd.DataFrame:
    df = items_frame(items)
    return (df.groupby(["split", "level"]).agg(qa_pairs=("id", "count"), records=("record_id", "nunique"),
                                               patients=("patient_id", "nunique")).reset_index())


def gallery_items(items: Sequence[QAItem], split: str = "test") -> list[QAItem]:
    """One QA pair per reported topic (first by id within the split, image level before exam level)."""
    chosen: dict[str, QAItem] = {}
    for it in sorted(items, key=lambda x: (x.level != "image", x.split != split, x.id)):
        key = f"{it.topic_label} ({it.level})" if it.level == "exam" else it.topic_label
        chosen.setdefault(key, it)
    return [chosen[k] for k in sorted(chosen)]


def gallery_records(records: Sequence, per_group: int = 1) -> list[tuple[object, str]]:
    """Records that show each label visibly: laterality x view, each density, each abnormality, crops.

    Returns (record, caption) pairs, chosen deterministically (first record id per group).
    """
    def first(pred) -> list:
        return sorted((r for r in records if pred(r)), key=lambda r: r.record_id)[:per_group]

    def lab(r, t: str) -> str:
        return "+".join(r.labels.get(t, [])) or "?"

    out: list[tuple[object, str]] = []
    for lat in ("Left", "Right"):
        for view in ("CC", "MLO"):
            out += [(r, f"{lat} {view}") for r in first(
                lambda r, lat=lat, view=view: r.kind == "breast" and r.laterality == lat and r.view == view)]
    for level in "ABCD":
        out += [(r, f"density {level}") for r in first(
            lambda r, level=level: r.kind == "breast" and r.labels.get("ACR") == [f"Level {level}"])]
    for finding in ("Mass", "Calcification", "Architectural distortion", "Asymmetry"):
        out += [(r, f"{finding}\n{lab(r, 'Pathology')}") for r in first(
            lambda r, f=finding: r.kind == "breast" and r.labels.get("Abnormality") == [f])]
    out += [(r, f"crop: {lab(r, 'Abnormality')}") for r in first(lambda r: r.kind == "finding")]
    out += [(r, "crop: normal") for r in first(lambda r: r.kind == "normal")]
    return out
