"""Label maps, the reader registry, table reading, local configuration and the ``data inspect`` command."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from fixtures_sources import make_mias, write_csv
from mammovqa.config import load_datasets, load_topics
from mammovqa.data.records import Source
from mammovqa.data.sources import READERS, LabelMap, get_reader, shared_image_ids
from mammovqa.data.sources.base import (
    LabelEntry,
    anonymised_column,
    available_datasets,
    cell_str,
    load_local_config,
    read_table,
)
from mammovqa.data.sources.cli import inspect, inspect_main, register_inspect
from mammovqa.errors import ConfigError, DataError
from mammovqa.paths import LABELS_DIR, MANIFEST_DIR


def test_every_dataset_has_a_reader_and_a_valid_label_map():
    real = load_datasets().real
    assert set(READERS) == set(real)
    topics = load_topics()
    for name in real:
        lm = LabelMap.load(name)
        assert lm.dataset == name
        for topic, entries in lm.topics.items():
            for raw, e in entries.items():
                assert e.source.strip(), (name, topic, raw)
                assert e.target is None and e.note or e.target in topics[topic].options
    assert len(list(LABELS_DIR.glob("*.yaml"))) == len(real)


def _write(tmp_path: Path, text: str) -> Path:
    d = tmp_path / "labels"
    d.mkdir(exist_ok=True)
    (d / "mias.yaml").write_text(text, encoding="utf-8")
    return d


def _in_mias(body: str) -> str:
    return "dataset: MIAS\ntopics:\n" + body


@pytest.mark.parametrize(("text", "where", "what"), [
    (_in_mias("  Pathology:\n    N: {target: Nothing, source: x}\n"), "topics.Pathology.N.target",
     "'Nothing' is not an option"),
    (_in_mias("  Pathology:\n    N: {target: Normal}\n"), "topics.Pathology.N.source", "every entry needs a source"),
    (_in_mias("  Pathology:\n    N: {target: null, source: x}\n"), "topics.Pathology.N.note", "needs a note"),
    (_in_mias("  Pathologie:\n    N: {target: Normal, source: x}\n"), "topics.Pathologie",
     "unknown topic 'Pathologie'"),
    (_in_mias("  Pathology:\n    N: {target: Normal, source: x, why: y}\n"), "topics.Pathology.N.why",
     "unknown key 'why' (allowed: note, source, target)"),
    # bad values of each kind: the message carries the value as written
    (_in_mias("  Pathology:\n    N: {target: Normal, source: '  '}\n"), "topics.Pathology.N.source",
     "every entry needs a source (documentation, paper, or 'official pipeline "
     "(docs/dataset-sources.md §N)'), got '  '"),
    (_in_mias("  Pathology:\n    N: {target: Normal, source: 3}\n"), "topics.Pathology.N.source",
     "string, got 3"),
    (_in_mias("  Pathology:\n    N: {source: x}\n"), "topics.Pathology.N.target",
     "missing required key (use null for a documented exclusion)"),
    (_in_mias("  ACR:\n    4.0: {target: 4, source: x}\n"), "topics.ACR.4.target",  # keyed as cells read
     "string, got 4"),
    (_in_mias("  Pathology:\n    N: Normal\n"), "topics.Pathology.N",
     "dictionary or instance of LabelEntryFile, got 'Normal'"),
    (_in_mias("  Pathology: {}\n"), "topics.Pathology", "at least 1 item after validation, not 0, got {}"),
    (_in_mias("  Pathology: [N]\n"), "topics.Pathology", "dictionary, got ['N']"),
    # the file as a whole
    ("- MIAS\n", "<root>", "dictionary or instance of LabelMapFile, got ['MIAS']"),
    ("dataset: MIAS\ntopic: {}\ntopics: {Pathology: {N: {target: Normal, source: x}}}\n", "topic",
     "unknown key 'topic' (allowed: dataset, notes, topics)"),
    ("topics: {Pathology: {N: {target: Normal, source: x}}}\n", "dataset", "missing required key"),
    ("dataset: ''\ntopics: {Pathology: {N: {target: Normal, source: x}}}\n", "dataset", "character, got ''"),
    ("dataset: 5\ntopics: {Pathology: {N: {target: Normal, source: x}}}\n", "dataset", "string, got 5"),
    ("dataset: MIAS\ntopics: {}\n", "topics", "at least 1 item after validation, not 0, got {}"),
    ("dataset: MIAS\ntopics: [Pathology]\n", "topics", "dictionary, got ['Pathology']"),
])
def test_label_map_validation_names_file_key_and_value(tmp_path, text, where, what):
    d = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        LabelMap.load("MIAS", d)
    assert info.value.file == str(d / "mias.yaml") and info.value.key == where and what in str(info.value)


def test_label_map_accepts_what_it_always_accepted(tmp_path):
    """Numeric raw values key as cells read (4, 4.0 and '4' are one key, the last written wins); notes are text."""
    d = _write(tmp_path, "dataset: MIAS\nnotes: 2024\ntopics:\n  ACR:\n    4: {target: Level D, source: x}\n"
                         "    2.0: {target: Level B, source: y, note: 7}\n    '4.0': {target: Level C, source: z}\n"
                         "  Pathology:\n    X: {target: null, source: w, note: 0.5}\n"
                         "    '': {target: Normal, source: v}\n")
    lm = LabelMap.load("MIAS", d)
    assert lm.notes == "2024" and list(lm.topics["ACR"]) == ["4", "2"]
    assert lm.topics["ACR"]["4"] == LabelEntry("Level C", "z")
    assert lm.topics["ACR"]["2"] == LabelEntry("Level B", "y", "7")
    assert lm.map("ACR", 4.0, "t.csv", 1) == "Level C" and lm.map("Pathology", "X", "t.csv", 1) is None
    assert lm.topics["Pathology"]["X"].note == "0.5"
    assert lm.map("Pathology", float("nan"), "t.csv", 1) == "Normal"


def test_label_map_for_another_dataset_is_refused(tmp_path):
    d = _write(tmp_path, "dataset: DMID\ntopics:\n  Pathology:\n    N: {target: Normal, source: x}\n")
    with pytest.raises(ConfigError, match="expected 'MIAS'"):
        LabelMap.load("MIAS", d)


def test_map_unmapped_value_raises_with_dataset_file_row_value():
    lm = LabelMap.load("MIAS")
    assert lm.map("Pathology", "M", "Info.txt", 7) == "Malignant"
    assert LabelMap.load("RSNA").map("Bi-Rads", 2.0, "train.csv", 3) is None  # documented exclusion; 2.0 == "2"
    with pytest.raises(DataError) as info:
        lm.map("Pathology", "X", "Info.txt", 7)
    assert str(info.value).startswith("Info.txt, row 7: MIAS: unmapped Pathology value 'X'")
    with pytest.raises(DataError, match="no label map"):
        lm.map("Bi-Rads", "1", "Info.txt", 7)


def test_cell_str_canonical_forms():
    assert cell_str(4.0) == "4" and cell_str("4.0") == "4" and cell_str(" 4a ") == "4a"
    assert cell_str(float("nan")) == "" and cell_str(None) == "" and cell_str(22678622.0) == "22678622"


def test_registry_is_case_insensitive_and_implements_source(tmp_path):
    root = make_mias(tmp_path)
    reader = get_reader("mIaS", root)
    assert isinstance(reader, Source) and reader.name == "MIAS"
    with pytest.raises(ConfigError, match="no reader for dataset 'Nope'"):
        get_reader("Nope", root)
    with pytest.raises(DataError, match="dataset folder not found"):
        get_reader("MIAS", tmp_path / "absent")


def test_read_table_aliases_header_search_and_missing_columns(tmp_path):
    f = write_csv(tmp_path / "t.csv", ["Image name ", "Other"], [["a", 1], ["", ""], ["b", 2]])
    t = read_table("X", f, {"Image_name": ("Image name",)})
    assert t.rows == [(2, {"Image_name": "a"}), (4, {"Image_name": "b"})]
    with pytest.raises(DataError) as info:
        read_table("X", f, {"Image_name": ("Image name",), "BIRADS": ()})
    assert str(f) in str(info.value) and "'BIRADS'" in str(info.value) and "Image name" in str(info.value)


def test_read_table_finds_a_headerless_table_by_content(tmp_path):
    import re

    f = write_csv(tmp_path / "t.csv", ["legend", ""], [["F: fatty", ""], ["", ""], ["IMG001", "CCLT"],
                                                       ["IMG002", "MLORT"]])
    cols = {"ID": (), "view": ()}
    t = read_table("X", f, cols, header_search=10, positional=("ID", "view"), first_row=re.compile(r"IMG\d+"))
    assert t.found_by == "content" and t.rows == [(4, {"ID": "IMG001", "view": "CCLT"}),
                                                  (5, {"ID": "IMG002", "view": "MLORT"})]
    with pytest.raises(DataError, match="missing required column"):  # no data row either: still a clear error
        read_table("X", f, cols, positional=("ID", "view"), first_row=re.compile(r"XYZ\d+"))


def test_anonymised_patient_columns_and_label_map_get():
    assert anonymised_column(["removed"] * 5) and anonymised_column(["", ""]) and anonymised_column(["x", "X"])
    assert anonymised_column(["p1", "p1", "p1"]) and not anonymised_column(["p1", "p2", "p1"])
    lm = LabelMap.load("INbreast")
    assert lm.get("View", "CC").target == "CC" and lm.get("View", "FB").target is None
    assert lm.get("View", "XCC") is None
    with pytest.raises(DataError, match="no label map"):
        lm.get("Subtlety", "1")


def test_local_config_and_available_datasets(tmp_path):
    present = tmp_path / "mias"
    present.mkdir()
    cfg = tmp_path / "local.yaml"
    cfg.write_text(f"datasets:\n  mias: {present}\n  CBIS-DDSM: {tmp_path / 'nope'}\n  DMID:\n")
    assert load_local_config(cfg) == {"MIAS": present, "CBIS-DDSM": tmp_path / "nope"}
    avail = available_datasets(cfg)
    assert avail["present"] == {"MIAS": str(present)}
    assert avail["absent"]["CBIS-DDSM"]["reason"].startswith("folder not found")
    assert avail["absent"]["DMID"]["reason"] == "not listed in local.yaml" and avail["absent"]["DMID"]["link"]
    assert load_local_config(tmp_path / "absent.yaml") == {}
    cfg.write_text("datasets:\n  Foo: /x\n")
    with pytest.raises(ConfigError, match="unknown dataset 'Foo'"):
        load_local_config(cfg)


def test_committed_local_example_names_every_dataset():
    assert set(load_local_config(MANIFEST_DIR / "local.example.yaml")) == set(load_datasets().real)


def test_shared_image_ids_across_datasets(tmp_path):
    a = get_reader("MIAS", make_mias(tmp_path / "a"))
    b = get_reader("MIAS", make_mias(tmp_path / "b"))
    list(a.records())
    list(b.records())
    b.name = "MIAS-copy"
    shared = shared_image_ids([a, b])
    assert shared and shared[0]["image_id"] == "mdb001"
    assert shared_image_ids([a]) == []


def test_inspect_prints_one_json_object_per_record(tmp_path, capsys):
    root = make_mias(tmp_path)
    assert inspect_main(["MIAS", str(root), "--limit", "3"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(lines) == 3
    first = lines[0]
    assert first["image"].endswith("mdb001.pgm") and Path(first["image"]).is_relative_to(root)
    assert first["dataset"] == "MIAS-breast" and first["patient_id"] == "MIAS-001"
    assert first["labels"]["Pathology"] == ["Benign"]


def test_inspect_summary_and_registration(tmp_path, capsys):
    root = make_mias(tmp_path)
    parser = argparse.ArgumentParser(prog="mammovqa data")
    register_inspect(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(["inspect", "mias", str(root), "--summary"])
    assert args.func(args) == 0
    captured = capsys.readouterr()
    s = json.loads(captured.out)
    assert s["labels"]["MIAS-breast"]["Pathology"] == {"Benign": 6, "Malignant": 4, "Normal": 2}
    assert s["missing_images"] == 1 and "1 record(s) skipped for missing images" in captured.err
    buf = io.StringIO()
    inspect("MIAS", root, summary=True, out=buf)
    assert json.loads(buf.getvalue())["records"] == s["records"]
    assert inspect_main(["Nope", str(root)]) == 2
    assert "no reader for dataset" in capsys.readouterr().err
