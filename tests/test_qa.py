"""QA builder: seeded wording/options, grouped and stratified 7:1:2 splits, prompt snapshot."""

import random
from collections import Counter

import pytest

from mammovqa.config import load_topics
from mammovqa.data.records import Record
from mammovqa.errors import DataError
from mammovqa.qa.build import build_items
from mammovqa.qa.items import QAItem, build_prompt, item_prompt, read_items, write_items


def _records(n_patients=200, per_patient=3, dataset="Phantom-CBIS-breast"):
    rnd = random.Random(1)
    out = []
    for p in range(n_patients):
        density = rnd.choice("ABCD")
        for k in range(per_patient):
            out.append(Record(
                record_id=f"{dataset}/{p:04d}-{k}", dataset=dataset, kind="breast", images=[f"img/{p}-{k}.png"],
                labels={"ACR": [f"Level {density}"], "Laterality": [rnd.choice(["Left", "Right"])],
                        "View": [rnd.choice(["CC", "MLO"])], "Bi-Rads": [f"Bi-Rads {rnd.choice('12345')}"]},
                patient_id=f"P{p:04d}"))
    return out


def _finding_records(breast):
    out = []
    for r in breast[::3]:
        out.append(Record(record_id=r.record_id.replace("breast", "finding") + "-l0", dataset="Phantom-CBIS-finding",
                          kind="finding", images=["c.png"], patient_id=r.patient_id,
                          labels={"Abnormality": ["Mass", "Calcification"], "Pathology": ["Benign"],
                                  "Subtlety": ["Level 3"]}))
    return out


def test_splits_grouped_by_patient_across_parts_and_close_to_7_1_2():
    breast = _records()
    records = breast + _finding_records(breast)
    items, summary = build_items(records, seed=0)
    split_of_patient = {}
    for it in items:
        assert split_of_patient.setdefault((it.patient_id), it.split) == it.split, "patient in two splits"
    counts = Counter(it.split for it in items if it.part == "breast")
    n = sum(counts.values())
    assert abs(counts["train"] / n - 0.7) < 0.03
    assert abs(counts["val"] / n - 0.1) < 0.03
    assert abs(counts["test"] / n - 0.2) < 0.03
    # stratified: every density level is present in every split
    for split in ("train", "val", "test"):
        levels = {it.answer[0] for it in items if it.split == split and it.topic == "ACR"}
        assert levels == {"Level A", "Level B", "Level C", "Level D"}
    assert summary["n_items"] == len(items)


def test_items_deterministic_and_order_independent():
    records = _records(50)
    a, _ = build_items(records, seed=3)
    shuffled = records[:]
    random.Random(9).shuffle(shuffled)
    b, _ = build_items(shuffled, seed=3)
    assert [x.to_json() for x in a] == [x.to_json() for x in b]
    c, _ = build_items(records, seed=4)
    assert [x.options for x in a] != [x.options for x in c]


def test_options_are_a_permutation_answer_valid_and_wordings_used():
    items, _ = build_items(_records(100), seed=0)
    topics = load_topics()
    for it in items:
        assert sorted(it.options) == sorted(topics[it.topic].options)
        assert set(it.answer) <= set(it.options)
        assert it.question == topics[it.topic].wordings[it.level][it.wording_index]
    assert len({it.wording_index for it in items}) == 4
    assert len({tuple(it.options) for it in items if it.topic == "ACR"}) > 10  # shuffled per item


def test_external_sets_are_benchmark_only():
    rec = Record(record_id="Phantom-MM/0001", dataset="Phantom-MM", kind="breast", images=["x.png"],
                 labels={"Pathology": ["Malignant"]}, patient_id="MM1")
    items, _ = build_items([rec], seed=0)
    assert [(it.split, it.role) for it in items] == [("external", "external")]


def test_bad_labels_fail_naming_the_record():
    rec = _records(1, 1)[0]
    rec.labels["ACR"] = ["Level E"]
    with pytest.raises(Exception, match=r"Level E"):
        build_items([rec], seed=0)
    dup = _records(1, 1) * 2
    with pytest.raises(DataError, match="twice"):
        build_items(dup, seed=0)


def test_missing_topic_label_is_counted_not_silent():
    rec = _records(1, 1)[0]
    del rec.labels["View"]
    items, summary = build_items([rec], seed=0)
    assert "View" not in {it.topic for it in items}
    assert summary["skipped"] == {"Phantom-CBIS-breast: no View label": 1}


def test_items_jsonl_round_trip(tmp_path):
    items, _ = build_items(_records(10), seed=0)
    write_items(tmp_path / "items.jsonl", items)
    back = read_items(tmp_path / "items.jsonl")
    assert [x.to_json() for x in back] == [x.to_json() for x in items]
    assert read_items(tmp_path / "items.jsonl", split="test") == [x for x in items if x.split == "test"]


# Prompt snapshot (lmms-eval style): the protocol strings of docs/protocol.md §3, byte for byte.
SNAPSHOT_SINGLE = (
    "This is a mammography-related medical question with several options, only one of which is correct. "
    "Select the correct answer and respond with just the chosen option, without any further explanation. "
    "### Question: Which breast is shown in this mammogram? ### Options: A: Left, B: Right. ### Answer:"
)
SNAPSHOT_MULTIPLE = (
    "This is a mammography-related medical question with several options, one or more of which may be correct. "
    "Select the correct answers and respond with only the chosen options, without any further explanation. "
    "### Question: Q? ### Options: A: Mass, B: Normal, C: Calcification. ### Answer:"
)


def test_prompt_snapshots():
    assert build_prompt("Which breast is shown in this mammogram?", ["Left", "Right"], "single") == SNAPSHOT_SINGLE
    assert build_prompt("Q?", ["Mass", "Normal", "Calcification"], "multiple") == SNAPSHOT_MULTIPLE
    it = QAItem(id="x#Laterality", topic="Laterality", kind="single", level="image", dataset="d", part="breast",
                role="internal", split="test", record_id="x", patient_id="p", images=[],
                question="Which breast is shown in this mammogram?", options=["Left", "Right"], answer=["Left"], seed=0)
    assert item_prompt(it) == SNAPSHOT_SINGLE
