"""`mammovqa export vlmevalkit`: the TSV has VLMEvalKit's documented MCQ columns, images decode to the item's
pixels, multiple-answer items are left out with a reason, and a VLMEvalKit-style prediction file made from it
imports to the same scores as our own path."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from mammovqa.eval.scoring import score_items
from mammovqa.export.harness_import import import_harness
from mammovqa.export.vlmevalkit import decode_image, export_vlmevalkit
from mammovqa.paths import RunPaths
from mammovqa.predictions import read_predictions
from mammovqa.qa.items import LETTERS, read_items
from test_export_helpers import build_phantom_root

# VLMEvalKit docs/en/Development.md, "TSV fields": mandatory index, image (base64), question, answer; MCQ options
# as upper-case letter columns; category, l2-category and split as in MMBench.
DOCUMENTED = ["index", "image", "question", "answer", "category", "l2-category", "split"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("export_vlmevalkit")
    root = build_phantom_root(tmp)
    out = tmp / "LMUData" / "MammoVQA_smoke.tsv"
    summary = export_vlmevalkit("phantom", "smoke", out, root=root)
    items = read_items(RunPaths("phantom", "smoke", 0, root).qa_items)
    return {"root": root, "out": out, "summary": summary, "items": items}


def test_columns_and_rows_follow_vlmevalkit_format(setup: dict) -> None:
    df = pd.read_csv(setup["out"], sep="\t")  # what VLMEvalKit's load() does for a .tsv
    assert all(c in df.columns for c in DOCUMENTED)
    assert df["index"].is_unique and df["index"].dtype.kind == "i"
    by_id = {it.id: it for it in setup["items"]}
    bench = [it for it in setup["items"] if it.split in ("test", "external")]
    assert df["item_id"].tolist() == [it.id for it in bench if it.kind == "single"]
    assert setup["summary"]["left_out_multiple_answer"] == sum(it.kind == "multiple" for it in bench) > 0
    assert "one letter" in setup["summary"]["left_out_reason"]
    for _, row in df.iterrows():
        it = by_id[row["item_id"]]
        # VLMEvalKit's build_prompt: the letter columns that are not NaN are the options, in order
        opts = [row[c] for c in LETTERS if c in row and not pd.isna(row[c])]
        assert opts == it.options and row["question"] == it.question
        assert row[row["answer"]] == it.answer[0]
        assert row["category"] == it.topic_label and row["l2-category"] == it.dataset and row["split"] == it.split
        pics = decode_image(row["image"])
        assert len(pics) == len(it.images)
        got = Image.open(io.BytesIO(pics[0]))
        want = Image.open(setup["root"] / it.images[0])
        assert got.tobytes() == want.tobytes()


def test_vlmevalkit_prediction_file_imports_to_our_scores(setup: dict, tmp_path: Path) -> None:
    data = pd.read_csv(setup["out"], sep="\t")
    # VLMEvalKit's inference: data['prediction'] = answers; image column dropped; dumped as <model>_<dataset>.xlsx
    styles = ["{l}", "The answer is {l}", "{t}", "I am not sure", "a"]
    preds = []
    for n, row in data.iterrows():
        k = n % 3
        preds.append(styles[n % len(styles)].format(l=LETTERS[k], t=row[LETTERS[k]]))
    data["prediction"] = preds
    data.pop("image")
    data["log"] = ["Failed to predict, thus randomly generate one. " if n % 11 == 0 else "" for n in range(len(data))]
    path = tmp_path / "mymodel_MammoVQA_smoke.xlsx"
    data.to_excel(path, index=False)
    summary = import_harness("vlmevalkit", [path], "mymodel", "phantom", "smoke", root=setup["root"])
    by_id = {it.id: it for it in setup["items"]}
    # a row VLMEvalKit filled in at random scores as no answer: our side of the comparison leaves it blank
    outputs = {i: ("" if log else p) for i, p, log in zip(data["item_id"], data["prediction"], data["log"], strict=True)}
    for key, w in summary["written"].items():
        split, level = key.split("_")
        group = [it for it in setup["items"] if it.split == split and it.level == level]
        answered = [it for it in group if it.id in outputs]
        assert w["missing"] == len(group) - len(answered)  # multiple-answer items: reported missing
        assert w["random_fill"] == sum(1 for i, r in data.iterrows() if r["log"] and by_id[r["item_id"]] in group)
        for matcher in ("official", "strict"):
            a = score_items(group, read_predictions(w["file"]), matcher, model="m", warn=False)
            b = score_items(group, {i: {"output": outputs[i]} for i in outputs if i in {g.id for g in group}},
                            matcher, model="m", warn=False)
            pd.testing.assert_frame_equal(a, b)


def test_rows_of_another_run_are_refused(setup: dict, tmp_path: Path) -> None:
    from mammovqa.errors import DataError

    data = pd.read_csv(setup["out"], sep="\t")
    data["prediction"] = "A"
    data.loc[4, "run"] = "phantom-default"
    path = tmp_path / "m_other.tsv"
    data.drop(columns=["image"]).to_csv(path, sep="\t", index=False)
    with pytest.raises(DataError, match=r"m_other.tsv.*6.*phantom-default"):
        import_harness("vlmevalkit", [path], "m", "phantom", "smoke", root=setup["root"])
