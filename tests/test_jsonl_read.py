"""``io.iter_jsonl``'s bulk decoding yields exactly what a line-by-line ``json.loads`` reader yields, in the
same order, and raises the same error at the same point (after the lines before it were yielded)."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from mammovqa.errors import DataError
from mammovqa.io import gc_paused, iter_jsonl, loads_line


def reference_iter_jsonl(path: Path, tolerate_torn_tail: bool = False) -> Iterator[tuple[int, dict]]:
    """The straightforward reader (one ``json.loads`` per line), as ``iter_jsonl`` was written before."""
    with open(path, encoding="utf-8") as fh:
        lines = fh.readlines()
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            if tolerate_torn_tail and i == len(lines) and not line.endswith("\n"):
                return
            raise DataError(path, i, f"malformed JSON line ({exc.msg} at column {exc.colno}): {line[:80]!r}") from None
        if not isinstance(obj, dict):
            raise DataError(path, i, f"expected a JSON object, got {type(obj).__name__}")
        yield i, obj


def _collect(gen: Iterator[tuple[int, dict]]) -> tuple[list[tuple[int, dict]], str | None]:
    got: list[tuple[int, dict]] = []
    try:
        for x in gen:
            got.append(x)
    except DataError as exc:
        return got, str(exc)
    return got, None


GOOD = ['{"a": 1, "b": [1, 2.5, null, true], "c": {"d": "é\\u00e9\\ud83d\\ude00"}}', '  {"x": 1}  ',
        '{"x": 1}\t', "", "   ", '{"k": "v", "k": "w"}', '{"big": 123456789012345678901234567890, "f": 1e-07}',
        '{"nan": NaN, "inf": -Infinity}', '\x0b', '{"s": "tab\\tquote\\"slash\\\\"}']
BAD = ['[1, 2]', '"text"', '{"a": 1} {"b": 2}', '{"a": 1,}', '{"a": 1', "\ufeff{\"a\": 1}", "nul\x00l", "{}x"]


@pytest.mark.parametrize("bad", [None, *BAD])
@pytest.mark.parametrize("where", ["first", "middle", "last", "torn-last"])
@pytest.mark.parametrize("tolerate", [False, True])
def test_same_objects_and_errors_as_a_line_by_line_reader(tmp_path: Path, bad: str | None, where: str,
                                                          tolerate: bool) -> None:
    lines = list(GOOD)
    if bad is not None:
        lines.insert({"first": 0, "middle": 4}.get(where, len(lines)), bad)
    text = "\n".join(lines) + ("" if where == "torn-last" else "\n")
    path = tmp_path / "f.jsonl"
    path.write_text(text, encoding="utf-8")
    assert _collect(iter_jsonl(path, tolerate_torn_tail=tolerate)) == _collect(reference_iter_jsonl(path, tolerate))


def test_gc_state_is_restored() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize("line", [*GOOD, *BAD, *(x + "\n" for x in GOOD + BAD), '{"a": 1}\r\n', " \n"])
def test_loads_line_is_json_loads(line: str) -> None:
    def outcome(f):  # noqa: ANN001, ANN202
        try:
            return "ok", f(line)
        except Exception as exc:  # noqa: BLE001
            return type(exc).__name__, str(exc)

    assert outcome(loads_line) == outcome(json.loads)
