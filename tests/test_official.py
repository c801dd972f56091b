"""Official MammoVQA JSON layout: round trip with our items, and import with rewritten paths."""

import json
from pathlib import Path

import pytest

from mammovqa.errors import DataError
from mammovqa.qa.items import QAItem
from mammovqa.qa.official import (
    export_official_json,
    import_official,
    load_official_json,
    read_official_json,
    sidecar_path,
)


def _items() -> list[QAItem]:
    a = QAItem("q1", "Laterality", "single", "image", "CBIS-DDSM-breast", "breast", "internal", "test", "r1", "P1",
               ["data/x/1.png"], "Which side?", ["Right", "Left"], ["Left"], seed=7, site="s", wording_index=2)
    b = QAItem("q2", "Abnormality", "multiple", "image", "VinDr-Mammo-finding", "finding", "internal", "test", "r2",
               "P2", ["data/x/2.png"], "Which findings?", ["Mass", "Normal", "Calcification"],
               ["Calcification", "Mass"], seed=8, extra={"note": 1})
    c = QAItem("q3", "ACR", "single", "exam", "EMBED", "exam", "internal", "test", "e1", "P3",
               ["a.png", "b.png"], "Density of this exam?", ["Level B", "Level A", "Level C", "Level D"],
               ["Level C"], seed=9, exam_id="E1")
    return [a, b, c]


def test_round_trip(tmp_path: Path) -> None:
    path = export_official_json(_items(), tmp_path / "MammoVQA-Image-Bench.json")
    raw = json.loads(path.read_text())
    assert list(raw) == ["1", "2", "3"]
    assert raw["1"] == {"Path": "data/x/1.png", "Question topic": "Laterality", "Question type": "single choice",
                        "Question": "Which side?", "Options": ["Right", "Left"], "Answer": "Left",
                        "Dataset": "CBIS-DDSM-breast"}
    assert raw["2"]["Answer"] == ["Calcification", "Mass"] and raw["3"]["Path"] == ["a.png", "b.png"]
    back = read_official_json(path)
    for orig, new in zip(_items(), back):
        assert new.to_json() == orig.to_json() | {"extra": orig.extra | {"official_key": new.extra["official_key"]}}
    sidecar_path(path).unlink()  # without the sidecar: official fields survive, ours are re-derived
    bare = read_official_json(path, split="test")
    assert [b.options for b in bare] == [o.options for o in _items()]
    assert [b.level for b in bare] == ["image", "image", "exam"]
    assert [b.part for b in bare] == ["breast", "finding", "exam"]


def test_rejects_gapped_keys(tmp_path: Path) -> None:
    p = tmp_path / "bad.json"
    entry = {"Path": "x", "Question topic": "View", "Question type": "single choice", "Question": "q",
             "Options": ["CC", "MLO"], "Answer": "CC", "Dataset": "RSNA"}
    p.write_text(json.dumps({"1": entry, "3": entry}))
    with pytest.raises(DataError, match="contiguous"):
        load_official_json(p)


def test_import_rewrites_paths_and_reports_unresolved(tmp_path: Path) -> None:
    local = tmp_path / "prepared" / "cbis"
    (local / "case1").mkdir(parents=True)
    (local / "case1" / "img.jpg").write_bytes(b"x")

    def entry(path: object, ds: str) -> dict:
        return {"Path": path, "Question topic": "View", "Question type": "single choice", "Question": "View?",
                "Options": ["MLO", "CC"], "Answer": "CC", "Dataset": ds}

    data = {"1": entry("/Benchmark/CBIS-DDSM-breast/case1/img.jpg", "CBIS-DDSM-breast"),
            "2": entry("/Benchmark/CBIS-DDSM-breast/case2/img.jpg", "CBIS-DDSM-breast"),  # file absent
            "3": entry("/Benchmark/RSNA/1_2_img/img.jpg", "RSNA"),  # no prefix for RSNA
            "4": entry("/Benchmark/RSNA/3_4_img/img.jpg", "RSNA")}
    src = tmp_path / "MammoVQA-Image-Bench.json"
    src.write_text(json.dumps(data))
    items, rep = import_official(src, {"/Benchmark/CBIS-DDSM-breast/": f"{local}/", "/Bench": "/nowhere/"},
                                 split="test", level="image")
    assert [it.images for it in items] == [[f"{local}/case1/img.jpg"]]
    assert items[0].options == ["MLO", "CC"] and items[0].answer == ["CC"]  # stored order kept exactly
    assert items[0].extra["official_key"] == "1"
    assert rep["imported"] == 1 and rep["unresolved"] == 3
    assert rep["by_dataset"] == {"CBIS-DDSM-breast": {"resolved": 1, "missing_file": 1},
                                 "RSNA": {"resolved": 0, "missing_file": 2}}
    _, rep2 = import_official(src, {"/Benchmark/CBIS-DDSM-breast/": f"{local}/"}, split="test")
    assert rep2["by_dataset"]["RSNA"] == {"resolved": 0, "no_prefix": 2}
