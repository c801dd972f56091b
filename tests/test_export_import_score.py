"""``mammovqa import-predictions --score`` and the faster readers under it give what the slower paths give.

Why: the one-process import + score (issue 16: 565K answers in under 30 CPU seconds) scores the rows it has just
written instead of reading them back, hashes the items from their lines instead of re-encoding them, and builds
items and score tables in fewer passes. Each shortcut is compared here with the straightforward path on odd
inputs (escapes, unicode, refusals, missing answers, non-canonical item lines), under both matchers.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mammovqa.eval.metrics import _all_str, metrics_table
from mammovqa.eval.scoring import SCORE_COLUMNS, score_items
from mammovqa.export.harness_import import (
    HarnessAnswer,
    _item_json,
    _row,
    import_answers,
    import_harness,
    items_checksum,
    score_import,
)
from mammovqa.io import dumps
from mammovqa.models.predict import items_checksum as predict_checksum
from mammovqa.paths import MANIFEST_DIR, RunPaths
from mammovqa.predictions import read_predictions
from mammovqa.qa.items import (
    LETTERS,
    QAItem,
    canonical_length,
    read_items,
    read_items_with_lines,
    write_items,
)
from test_matching import TOPIC_OPTIONS

RUN = ("phantom", "odd")
STYLES = ("{l}", "{t}", "The answer is {l}: {t}", "a", "I cannot determine", "{l}, {m}", "", "null", "   ", "None",
          '"{t}"\n\\ é 😀', "{l}{m}", "Both {t} and {u}", "\x00")


def _odd_items(n: int, seed: int = 7) -> list[QAItem]:
    """Items of every topic, both levels, three splits, with quotes, tabs, backslashes and emoji in texts."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        topic = rng.choice(list(TOPIC_OPTIONS))
        opts = TOPIC_OPTIONS[topic][:]
        rng.shuffle(opts)
        multiple = topic == "Abnormality"
        answer = sorted(rng.sample(opts, rng.choice([1, 2]))) if multiple else [rng.choice(opts)]
        out.append(QAItem(
            id=f"R{i:05d}#{topic}" + ('"é' if i % 97 == 0 else ""), topic=topic,
            kind="multiple" if multiple else "single", level=rng.choice(["image", "exam"]),
            dataset=rng.choice(["Phantom-A", "Phantom-B ü"]), part=rng.choice(["breast", "finding", "exam"]),
            role="internal", split=rng.choice(["test", "external", "val"]), record_id=f"R{i}",
            patient_id=f"P{i // 3}", images=[f"img/{i}.png"] if i % 2 else [],
            question=rng.choice([f"Question about {topic}?", 'Odd "quoted"\tquestion\\ é 😀?']), options=opts,
            answer=answer, seed=i * (-1 if i % 5 == 0 else 1), exam_id=None if i % 3 else f"E{i}",
            site=None if i % 4 else "S1", wording_index=i % 3))
    return out


def _odd_run(root: Path, n: int = 1500) -> tuple[list[QAItem], Path]:
    """A run of odd items (three of its lines rewritten non-canonically) and an lmms-eval samples file
    answering most of them oddly: every eleventh item unanswered, some with no or a nested response."""
    items = _odd_items(n)
    path = RunPaths(*RUN, 0, root).qa_items
    write_items(path, items)
    lines = path.read_text(encoding="utf-8").splitlines()
    for k in (5, 50, 500):  # ", " / ": " separators, \\u escapes, same values
        lines[k] = json.dumps(json.loads(lines[k]))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rng = random.Random(3)
    samples = root / "20260101_samples_mammovqa.jsonl"
    with open(samples, "w", encoding="utf-8") as fh:
        for j, it in enumerate(items):
            if j % 11 == 3:
                continue
            k, m = rng.randrange(len(it.options)), rng.randrange(len(it.options))
            text = rng.choice(STYLES).format(l=LETTERS[k], t=it.options[k], m=LETTERS[m], u=it.options[m])
            resps = [text] if j % 13 else ([] if j % 2 else [[text, "x"]])
            doc = {"benchmark": "mammovqa", "run": "phantom-odd", "id": it.id, "options": it.options}
            fh.write(json.dumps({"doc_id": j, "doc": doc, "resps": [[text]], "filtered_resps": resps},
                                ensure_ascii=j % 2 == 0) + "\n")
    return items, samples


@pytest.fixture(scope="module")
def odd(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[QAItem], Path]:
    root = tmp_path_factory.mktemp("import_score")
    (root / "data_manifest").mkdir()
    for entry in MANIFEST_DIR.iterdir():  # the CLI reads the topics (prompts) of the root it is given
        if entry.name != "local.yaml":
            (root / "data_manifest" / entry.name).symlink_to(entry)
    items, samples = _odd_run(root)
    return root, items, samples


@pytest.mark.parametrize("matcher", ["strict", "official"])
def test_score_import_is_scoring_the_written_files(odd: tuple[Path, list[QAItem], Path], matcher: str) -> None:
    root, items, samples = odd
    imported = import_answers("lmms-eval", [samples], "odd/módel", *RUN, root=root, harness_version="x")
    tables = score_import(imported, matcher)
    assert sorted(tables) == sorted(imported.summary["written"]) and len(tables) == 6
    reasons = {"n_errors": 0, "n_empty": 0}
    for key, got in tables.items():
        split, level = key.split("_")
        group = [it for it in items if it.split == split and it.level == level]
        want = score_items(group, read_predictions(imported.summary["written"][key]["file"]), matcher, warn=False)
        pd.testing.assert_frame_equal(got, want)
        assert got.attrs == want.attrs and got.dtypes.equals(want.dtypes)
        pd.testing.assert_frame_equal(metrics_table(got), metrics_table(want))
        for k in reasons:
            reasons[k] += got.attrs["report"][k]
    assert reasons["n_errors"] > 0 and reasons["n_empty"] > 0  # no response, "", "null", whitespace were all met


def test_import_writes_what_the_row_dicts_and_predict_hash_say(odd: tuple[Path, list[QAItem], Path]) -> None:
    """Each file: provenance with the predict path's data hash of its items (non-canonical lines included),
    then ``dumps`` of each row dict, byte for byte."""
    root, items, samples = odd
    summary = import_harness("lmms-eval", [samples], "m", *RUN, root=root, harness_version="x")
    answers = {}
    with open(samples, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            obj = json.loads(line)
            resps = obj["filtered_resps"]
            while isinstance(resps, list):
                resps = resps[0] if resps else None
            answers[obj["doc"]["id"]] = HarnessAnswer(obj["doc"]["id"], resps, samples, n, None)
    for key, w in summary["written"].items():
        split, level = key.split("_")
        group = [it for it in items if it.split == split and it.level == level]
        head, *rows = Path(w["file"]).read_text(encoding="utf-8").splitlines(keepends=True)
        assert json.loads(head)["provenance"]["data_sha256"] == predict_checksum(group)
        assert rows == [dumps(_row(it, answers[it.id], "m")) + "\n" for it in group if it.id in answers]


def test_lines_read_with_items_are_their_canonical_json(tmp_path: Path) -> None:
    """``read_items_with_lines`` gives ``read_items``'s items; a line is kept only when it is exactly
    ``dumps(item.to_json())``: whitespace, escapes, key order, a repeated key, ``-0``, another schema, a
    boolean seed or a missing default field all leave it out, and the hash is the predict path's either way."""
    items = _odd_items(60)
    path = tmp_path / "items.jsonl"
    write_items(path, items)
    lines = path.read_text(encoding="utf-8").splitlines()
    first = json.loads(next(line for line in lines if "\\" not in line))  # an item with nothing to escape
    odd_lines = [
        json.dumps(first),  # spaces and \\u escapes
        json.dumps(first, sort_keys=True, ensure_ascii=False),  # spaces only
        dumps(first).replace('"answer":', ' "answer":'),
        "{" + '"schema":1,' + dumps(first)[1:],  # schema repeated (same value, key first)
        dumps({**first, "seed": 0}).replace('"seed":0', '"seed":-0'),
        dumps({**first, "schema": 2}),
        dumps({**first, "seed": True}),
        dumps({k: v for k, v in first.items() if k != "site"}),
        dumps({**first, "question": "Tab\there"}),  # canonical, but a backslash: not claimed
        json.dumps(dict(reversed(list(first.items()))), ensure_ascii=False, separators=(",", ":")),
        dumps({**first, "extra": {"a": 1}}),
        dumps({**first, "question": "Énorme 😀 ✓ \x7f", "exam_id": "E", "site": None, "seed": -12}),  # canonical
    ]
    path.write_text("\n".join(lines + odd_lines) + "\n", encoding="utf-8")
    got, kept = read_items_with_lines(path)
    assert got == read_items(path) and len(kept) == len(got) == len(lines) + len(odd_lines)
    for it, line in zip(got, kept, strict=True):
        assert line is None or line == _item_json(it) == dumps(it.to_json())
    # write_items's own lines are proven unless they hold an escape; of the odd ones only the last is proven
    assert kept[:len(lines)] == [None if "\\" in line else line for line in lines]
    assert sum(line is not None for line in kept[:len(lines)]) > len(lines) // 3
    assert kept[len(lines):] == [None] * 11 + [odd_lines[11]]
    assert items_checksum(got, kept) == items_checksum(got) == predict_checksum(got)
    assert canonical_length({**first, "images": [1]}) is None and canonical_length({"id": "x"}) is None


def test_a_file_read_items_refuses_is_refused_alike(tmp_path: Path) -> None:
    from mammovqa.errors import DataError

    path = tmp_path / "items.jsonl"
    write_items(path, _odd_items(5))
    path.write_text(path.read_text(encoding="utf-8") + "\n" + '{"id": "x"}\n', encoding="utf-8")
    with pytest.raises(DataError) as a:
        read_items(path)
    with pytest.raises(DataError) as b:
        read_items_with_lines(path)
    assert str(a.value) == str(b.value)


def test_from_json_positional_path_builds_the_keyword_items() -> None:
    for it in _odd_items(200):
        d = it.to_json()
        fast = QAItem.from_json(d)
        slow = QAItem(**{k: v for k, v in d.items() if k != "schema"})
        assert fast == slow and list(vars(fast)) == list(vars(slow))
    with pytest.raises(TypeError):
        QAItem.from_json({"id": "x"})


def _reference_frame(items: list[QAItem], scores: pd.DataFrame) -> pd.DataFrame:
    """The score table's item columns built item by item (the straightforward per-item way)."""
    cols = {"id": [it.id for it in items], "split": [it.split for it in items], "level": [it.level for it in items],
            "topic": [it.topic_label for it in items], "topic_key": [it.topic for it in items],
            "kind": [it.kind for it in items], "dataset": [it.dataset for it in items],
            "part": [it.part for it in items], "role": [it.role for it in items],
            "record_id": [it.record_id for it in items], "patient_id": [it.patient_id for it in items],
            "exam_id": [it.exam_id for it in items], "n_options": [len(it.options) for it in items],
            "gold": ["|".join(sorted(it.answer)) for it in items]}
    return pd.DataFrame(cols).astype({"n_options": int}).reindex(columns=[c for c in SCORE_COLUMNS if c in cols])


def test_column_wise_score_frame_matches_the_per_item_columns() -> None:
    items = _odd_items(400)
    rows = {it.id: {"output": it.answer[0] if n % 3 else LETTERS[n % len(it.options)]} for n, it in enumerate(items)}
    scores = score_items(items, rows, "strict", model="m", warn=False)
    ref = _reference_frame(items, scores)
    pd.testing.assert_frame_equal(scores[list(ref.columns)], ref)
    assert scores["correct"].tolist() == [int(p == g and p != "") for p, g in zip(scores["pred"], scores["gold"],
                                                                                  strict=True)]


def test_all_str_is_all_plain_strings() -> None:
    import numpy as np

    class Text(str):
        pass

    for values in ([], ["a", "b"], ["a", None], [Text("a")], np.array(["a", "b"], dtype=object),
                   np.array(["a", 1], dtype=object), np.array(["a"]), [float("nan"), "x"]):
        assert _all_str(values) == all(type(x) is str for x in values)


def test_cli_import_score_prints_what_score_prints(odd: tuple[Path, list[QAItem], Path], tmp_path: Path) -> None:
    root, _, samples = odd
    env = dict(os.environ, MAMMOVQA_ROOT=str(root))
    cli = [sys.executable, "-m", "mammovqa.cli"]
    for matcher in ("strict", "official"):
        both = subprocess.run([*cli, "import-predictions", "--format", "lmms-eval", str(samples), "--model", "cli",
                               "--source", "phantom", "--profile", "odd", "--score", "--matcher", matcher], env=env,
                              capture_output=True, text=True, timeout=300)
        assert both.returncode == 0, both.stderr
        files = [line.split(" -> ")[1].split(";")[0] for line in both.stdout.splitlines() if " -> " in line]
        assert len(files) == 6
        score = subprocess.run([*cli, "score", *files, "--items", str(RunPaths(*RUN, 0, root).qa_items),
                                "--matcher", matcher], env=env, capture_output=True, text=True, timeout=300)
        assert score.returncode == 0, score.stderr
        tables = both.stdout[both.stdout.index("# "):]
        assert tables == score.stdout and "n_empty:" in tables
