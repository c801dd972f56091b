"""``mammovqa import-predictions``: answers from lmms-eval or VLMEvalKit back into our prediction files.

Why: a researcher who ran a model through a harness must get the numbers our own predict path would give for
the same answers. So the harness's *raw* output (never its own extracted letter or score) is written as a
prediction for our item id, with the prompt rebuilt from our item, and ``mammovqa score`` / the notebooks /
the statistics read it like any other prediction file.

Mapping back to item ids:

* lmms-eval ``--log_samples`` JSONL (``<date>_samples_<task>.jsonl``): each line's ``doc`` is the exported
  document (``doc.id`` is our item id, ``doc.benchmark == "mammovqa"``, ``doc.run`` the run name);
  the answer is ``filtered_resps[0]`` (the first if it is a list).
* VLMEvalKit prediction or result file (``<model>_<dataset>.xlsx`` / ``..._result.xlsx`` or ``.tsv``): the
  ``item_id`` column our table carries (VLMEvalKit keeps the table's columns), the answer is ``prediction``.
  A row whose ``log`` says VLMEvalKit filled in a random option (its judge failed three times:
  "Failed to predict, thus randomly generate one.", the random letter in its ``opt`` column) is marked
  ``harness_random_fill``; the scorer counts such a row as no answer under either matcher (the raw
  ``prediction`` is kept in the file for the record, never credited).

Bad input is an error naming the file, line and id, never a silent mix: lines of another benchmark or run,
unknown ids, an id answered twice, options that differ from the item's (another option order = another
question). Items with no answer are reported and scored wrong by the scorer.

``--score`` scores the files just written in the same process (:func:`score_import`), from the parsed items and
answers: the same tables ``mammovqa score`` gives for those files, without parsing them and the items again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from json.encoder import encode_basestring
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import DataError
from ..io import atomic_path, dumps, file_lock, gc_paused, loads_line, provenance, sha256_file, sha256_text
from ..paths import ROOT, RunPaths
from ..qa.items import LETTERS, QA_SCHEMA, QAItem, build_prompt, read_items_with_lines
from .common import run_items

if TYPE_CHECKING:
    import pandas as pd

    from ..eval.matching import Matcher

FORMATS = ("lmms-eval", "vlmevalkit")
BENCHMARK = "mammovqa"
RANDOM_FILL = re.compile(r"randomly generate", re.IGNORECASE)


class HarnessAnswer(NamedTuple):
    """One answer as the harness logged it, with where it came from (for error messages).

    A named tuple rather than a frozen dataclass: an import builds 565K of them, and a tuple is built in C.
    """

    id: str
    output: str | None
    file: Path
    line: int
    options: tuple[str, ...] | None = None
    random_fill: bool = False


# ---------------------------------------------------------------- lmms-eval


def _first_text(resps: Any) -> str | None:
    """``filtered_resps`` is ``["text"]`` (take_first filter) or ``[["text", ...]]``; None when empty."""
    while isinstance(resps, list):
        if not resps:
            return None
        resps = resps[0]
    return None if resps is None else str(resps)


def read_lmms_eval(path: Path, run_name: str) -> list[HarnessAnswer]:
    out = []
    with open(path, encoding="utf-8") as fh:
        for n, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                obj = loads_line(raw)
            except json.JSONDecodeError as exc:
                raise DataError(path, n, f"not JSON ({exc.msg}); expected an lmms-eval --log_samples line") from None
            doc = obj.get("doc") if isinstance(obj, dict) else None
            if not isinstance(doc, dict) or doc.get("benchmark") != BENCHMARK or "id" not in doc:
                task = obj.get("task_name") or obj.get("doc_id") if isinstance(obj, dict) else None
                named = f"id {doc['id']}: " if isinstance(doc, dict) and "id" in doc else ""
                raise DataError(path, n, f"{named}not a MammoVQA sample (doc lacks benchmark='mammovqa' and id; "
                                f"{task!r}); import only the samples files of the tasks `mammovqa export lmms-eval` "
                                "wrote")
            if doc.get("run") != run_name:
                raise DataError(path, n, f"id {doc['id']}: sample of run {doc.get('run')!r}, not of {run_name!r}; "
                                "pass the --source/--profile/--seed the task folder was exported from")
            opts = doc.get("options")
            resps = obj["filtered_resps"] if "filtered_resps" in obj else obj.get("resps")
            # the common shapes directly (an id that is text, ["text"]); anything else through str / _first_text
            text = resps[0] if type(resps) is list and resps and type(resps[0]) is str else _first_text(resps)
            item_id = doc["id"]
            out.append(HarnessAnswer(item_id if type(item_id) is str else str(item_id), text, path, n,
                                     tuple(opts) if isinstance(opts, list) else None))
    return out


def lmms_eval_version(path: Path) -> str:
    """lmms-eval writes ``<date>_results.json`` (with ``lmms_eval_version``) next to ``<date>_samples_<task>.jsonl``."""
    date = path.name.split("_samples_")[0]
    for cand in sorted(path.parent.glob(f"{date}_results*.json")):
        try:
            return str(json.loads(cand.read_text(encoding="utf-8")).get("lmms_eval_version") or "unknown")
        except (json.JSONDecodeError, OSError):
            continue
    return "unknown"


# ---------------------------------------------------------------- VLMEvalKit


def _read_table(path: Path) -> Any:
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        return pd.read_excel(path, dtype=str, keep_default_na=False)
    if suffix in (".tsv", ".csv"):
        return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", dtype=str, keep_default_na=False)
    raise DataError(path, None, "VLMEvalKit predictions are .xlsx or .tsv (the <model>_<dataset>.xlsx file)")


def read_vlmevalkit(path: Path, run_name: str) -> list[HarnessAnswer]:
    df = _read_table(path)
    cols = {str(c).lower(): c for c in df.columns}
    need = [c for c in ("item_id", "prediction") if c not in cols]
    if need:
        raise DataError(path, 1, f"no column {need} (header: {list(df.columns)}); VLMEvalKit keeps the table's "
                        "columns, so use the prediction file of a table written by `mammovqa export vlmevalkit`")
    if "benchmark" in cols and "run" in cols:
        bad = df[(df[cols["benchmark"]] != BENCHMARK) | (df[cols["run"]] != run_name)]
        if len(bad):
            i = int(bad.index[0])
            raise DataError(path, i + 2, f"id {bad.iloc[0][cols['item_id']]}: row of "
                            f"{bad.iloc[0][cols['benchmark']]}/{bad.iloc[0][cols['run']]}, not {BENCHMARK}/{run_name}")
    letters = [c for c in LETTERS if c in df.columns]
    out = []
    log_col = cols.get("log")
    for i, row in enumerate(df.itertuples(index=False), start=2):  # line 1 is the header
        rec = dict(zip(df.columns, row, strict=True))
        opts = tuple(str(rec[c]) for c in letters if str(rec[c]) != "")
        pred = rec[cols["prediction"]]
        out.append(HarnessAnswer(str(rec[cols["item_id"]]), None if pred is None else str(pred), path, i,
                                 opts or None, bool(log_col and RANDOM_FILL.search(str(rec[log_col])))))
    return out


def vlmevalkit_version() -> str:
    """VLMEvalKit writes no version into its prediction files; record the installed one if any."""
    from importlib import metadata

    try:
        return metadata.version("vlmeval")
    except metadata.PackageNotFoundError:
        return "unknown (not installed here)"


# ---------------------------------------------------------------- checks and writing


def check_answers(answers: Iterable[HarnessAnswer], items: Sequence[QAItem]) -> dict[str, HarnessAnswer]:
    """id -> answer; raises on unknown ids, duplicates and options that differ from the item's."""
    by_id = {it.id: it for it in items}
    seen: dict[str, HarnessAnswer] = {}
    for a in answers:
        it = by_id.get(a.id)
        if it is None:
            raise DataError(a.file, a.line, f"id {a.id} is not an item of this run; was the file made from "
                            "another export (source/profile/seed) of MammoVQA?")
        if a.id in seen:
            first = seen[a.id]
            raise DataError(a.file, a.line, f"id {a.id} answered twice (first at {first.file}:{first.line}); "
                            "import each harness run once")
        if a.options is not None and a.options != tuple(it.options):  # (tuples compare like the lists would)
            raise DataError(a.file, a.line, f"id {a.id}: options {list(a.options)} differ from the item's "
                            f"{it.options} (a different option order is a different question)")
        seen[a.id] = a
    return seen


# ``io.dumps``'s encoder, built once: ``json.dumps`` with non-default arguments builds a new one per call
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def items_checksum(items: Sequence[QAItem], lines: Sequence[str | None] | None = None) -> str:
    """The same hash as ``models.predict.items_checksum`` (the provenance ``data_sha256`` a later
    ``mammovqa predict`` into this file checks), from each item's fields without ``dataclasses.asdict``'s deep
    copies, which dominate an import of 565K items.

    ``lines`` (aligned with ``items``): each item's line of the items file where
    :func:`qa.items.read_items_with_lines` proved it to be the item's canonical JSON (None elsewhere); those
    are hashed as read instead of being encoded again.
    """
    if lines is None:
        return sha256_text("\n".join(sorted(map(_item_json, items))))
    return sha256_text("\n".join(sorted([ln if ln is not None else _item_json(it)
                                          for it, ln in zip(items, lines, strict=True)])))


def _item_json(it: QAItem) -> str:
    """``dumps(item.to_json())``, spelled out field by field in sorted key order.

    Why: the generic encoder sorts the keys of every one of 565K items; here the strings go through the very
    string encoder ``json.dumps`` uses (which refuses anything but a string), and anything else (an unexpected
    type, ``extra`` entries, an attribute that is not a field) takes the generic path.
    ``tests/test_export_import.py`` checks the two agree.
    """
    d = vars(it)
    if d.keys() != _ITEM_FIELDS:
        return _CANONICAL({**d, "schema": QA_SCHEMA})
    ans, imgs, opts, extra, seed, wi = d["answer"], d["images"], d["options"], d["extra"], d["seed"], d["wording_index"]
    ex, site = d["exam_id"], d["site"]
    if not (type(ans) is list and type(imgs) is list and type(opts) is list and type(extra) is dict and not extra
            and type(seed) is int and type(wi) is int and type(QA_SCHEMA) is int):
        return _CANONICAL({**d, "schema": QA_SCHEMA})
    enc, join = encode_basestring, ",".join
    try:
        return ('{"answer":[' + join(map(enc, ans)) + '],"dataset":' + enc(d["dataset"])
                + ',"exam_id":' + ("null" if ex is None else enc(ex)) + ',"extra":{},"id":' + enc(d["id"])
                + ',"images":[' + join(map(enc, imgs)) + '],"kind":' + enc(d["kind"]) + ',"level":' + enc(d["level"])
                + ',"options":[' + join(map(enc, opts)) + '],"part":' + enc(d["part"])
                + ',"patient_id":' + enc(d["patient_id"]) + ',"question":' + enc(d["question"])
                + ',"record_id":' + enc(d["record_id"]) + ',"role":' + enc(d["role"])
                + ',"schema":' + int.__repr__(QA_SCHEMA) + ',"seed":' + int.__repr__(seed)
                + ',"site":' + ("null" if site is None else enc(site)) + ',"split":' + enc(d["split"])
                + ',"topic":' + enc(d["topic"]) + ',"wording_index":' + int.__repr__(wi) + "}")
    except TypeError:  # a value that is not a string where one was expected
        return _CANONICAL({**d, "schema": QA_SCHEMA})


# the fields _item_json spells out; an item with any other set of attributes takes the generic path
_ITEM_FIELDS = frozenset(("answer", "dataset", "exam_id", "extra", "id", "images", "kind", "level", "options", "part",
                          "patient_id", "question", "record_id", "role", "seed", "site", "split", "topic",
                          "wording_index"))


@lru_cache(maxsize=65536)
def _prompt(question: str, options: tuple[str, ...], kind: str) -> str:
    """The protocol prompt; cached because wordings and option orders repeat across the 565K items."""
    return build_prompt(question, options, kind)


@lru_cache(maxsize=65536)
def _asked_json(question: str, options: tuple[str, ...], kind: str) -> tuple[str, str]:
    """The encoded option list and prompt of a question, one cache lookup for both."""
    return _CANONICAL(list(options)), encode_basestring(_prompt(question, options, kind))


_NO_RESPONSE = "harness logged no response"


@lru_cache(maxsize=256)
def _line_prefix(file: Path) -> str:
    """``encode_basestring(f"{file.name}:{line}")`` less the line number and closing quote: digits need no
    escaping, so the encoded text is this prefix, the number and ``"``."""
    return encode_basestring(f"{file.name}:")[:-1]


def _row(item: QAItem, a: HarnessAnswer, model: str) -> dict[str, Any]:
    """A prediction line exactly as ``PredictionWriter.write`` lays it out, plus where the answer came from.

    Written in one atomic file write instead of through the appender: an import is a whole file, so the
    per-line fsync that makes live inference resumable would only slow 565K lines down.
    """
    row: dict[str, Any] = {"id": item.id, "model": model, "prompt": _prompt(item.question, tuple(item.options), item.kind),
                           "options": list(item.options),
                           "output": a.output, "latency_s": None,
                           "error": None if a.output is not None else _NO_RESPONSE,
                           "harness_line": f"{a.file.name}:{a.line}"}
    if a.random_fill:
        row["harness_random_fill"] = True
    return row


def _row_line(item: QAItem, a: HarnessAnswer, model: str, model_json: str) -> str:
    """``dumps(_row(item, a, model))`` assembled from pre-encoded parts (keys in sorted order).

    Why: encoding 565K dicts with sorted keys was a third of an import; the prompt and option list of an item
    repeat across items and are encoded once, the rest goes through the encoder ``json.dumps`` itself uses for
    strings. Anything but plain strings takes the ``dumps`` path; ``tests/test_export_import.py`` checks that
    both give the same bytes.
    """
    if type(item.id) is not str or type(model) is not str or (a.output is not None and type(a.output) is not str):
        return dumps(_row(item, a, model)) + "\n"
    options_json, prompt_json = _asked_json(item.question, tuple(item.options), item.kind)
    error = "null" if a.output is not None else encode_basestring(_NO_RESPONSE)
    fill = ',"harness_random_fill":true' if a.random_fill else ""
    output = "null" if a.output is None else encode_basestring(a.output)
    return (f'{{"error":{error},"harness_line":{_line_prefix(a.file)}{a.line}"{fill},'
            f'"id":{encode_basestring(item.id)},"latency_s":null,"model":{model_json},'
            f'"options":{options_json},"output":{output},"prompt":{prompt_json}}}\n')


def _write_predictions(out: Path, prov: dict[str, Any], lines: Iterable[str]) -> None:
    """The provenance line, then the rows: one atomic replace (an import is never a mix of two runs), under the
    file's lock, so an import never replaces a file that a ``predict`` is appending to."""
    with file_lock(out, "mammovqa import-predictions"), atomic_path(out) as tmp, \
            open(tmp, "w", encoding="utf-8") as fh:
        fh.write(dumps({"provenance": prov}) + "\n")
        fh.writelines(lines)


@dataclass
class Imported:
    """What an import wrote, with the items and answers it parsed kept for scoring in the same process.

    Why: scoring a file just imported used to parse the 565K-line items file and the prediction files again
    and rebuild every item; :func:`score_import` scores from these instead, with the same result.
    """

    summary: dict[str, Any]  # what :func:`import_harness` returns
    groups: dict[str, list[QAItem]]  # written key (``<split>_<level>``) -> every item of that split and level
    answers: dict[str, HarnessAnswer]  # item id -> the answer written for it
    model: str


def import_harness(fmt: str, files: Sequence[str | Path], model: str, source: str, profile: str, seed: int = 0,
                   root: Path = ROOT, harness_version: str | None = None) -> dict[str, Any]:
    """Write one prediction file per (split, level) answered; returns what was written and what is missing.

    Runs with the cycle collector paused (:func:`io.gc_paused`): the items, answers and rows are acyclic, and
    re-walking hundreds of thousands of them on every collection cost half of an import.
    """
    return import_answers(fmt, files, model, source, profile, seed, root, harness_version).summary


def import_answers(fmt: str, files: Sequence[str | Path], model: str, source: str, profile: str, seed: int = 0,
                   root: Path = ROOT, harness_version: str | None = None) -> Imported:
    """:func:`import_harness`, keeping what it parsed for :func:`score_import`."""
    if fmt not in FORMATS:
        raise DataError(None, None, f"unknown format {fmt!r} ({', '.join(FORMATS)})")
    with gc_paused():
        return _import(fmt, files, model, source, profile, seed, root, harness_version)


def _import(fmt: str, files: Sequence[str | Path], model: str, source: str, profile: str, seed: int,
            root: Path, harness_version: str | None) -> Imported:
    run = RunPaths(source, profile, seed, root)
    if not run.qa_items.exists():
        run_items(source, profile, seed, root)  # raises the error that says how to build the run
    items, lines = read_items_with_lines(run.qa_items)
    paths = [Path(f) for f in files]
    for p in paths:
        if not p.exists():
            raise DataError(p, None, "harness output file not found")
    reader = read_lmms_eval if fmt == "lmms-eval" else read_vlmevalkit
    answers = check_answers((a for p in paths for a in reader(p, run.name)), items)
    if not answers:
        raise DataError(paths[0], None, "no answers in the file(s)")
    version = harness_version or (lmms_eval_version(paths[0]) if fmt == "lmms-eval" else vlmevalkit_version())
    by_group: dict[tuple[str, str], list[QAItem]] = {}
    group_lines: dict[tuple[str, str], list[str | None]] = {}  # each item's canonical line (or None), alongside
    for it, ln in zip(items, lines, strict=True):  # one pass: every (split, level) group in file order
        key = (it.split, it.level)
        by_group.setdefault(key, []).append(it)
        group_lines.setdefault(key, []).append(ln)
    harness_files = [{"file": p.name, "sha256": sha256_file(p)} for p in paths]
    model_json = encode_basestring(model) if isinstance(model, str) else ""
    written: dict[str, Any] = {}
    groups: dict[str, list[QAItem]] = {}
    for split, level in sorted(by_group):
        group = by_group[split, level]
        answered: list[tuple[QAItem, HarnessAnswer]] = []
        missing: list[str] = []
        for it in group:  # one pass: the answered items with their answers, the ids of the others
            a = answers.get(it.id)
            if a is None:
                missing.append(it.id)
            else:
                answered.append((it, a))
        if not answered:  # only the groups the file answers are written
            continue
        out = run.predictions(model, split, level)
        checksum = items_checksum(group, group_lines[split, level])
        prov = provenance(seed=seed, model_id=model, data_checksum=checksum, backend="harness",
                          harness=fmt, harness_version=version, split=split, level=level,
                          harness_files=harness_files)
        _write_predictions(out, prov, (_row_line(it, a, model, model_json) for it, a in answered))
        written[f"{split}_{level}"] = {"file": str(out), "answers": len(answered), "missing": len(missing),
                                       "missing_ids": missing[:5],
                                       "random_fill": sum(1 for _, a in answered if a.random_fill)}
        groups[f"{split}_{level}"] = group
    summary = {"run": run.name, "model": model, "harness": fmt, "harness_version": version, "written": written}
    return Imported(summary, groups, answers, model)


# ---------------------------------------------------------------- scoring what was just written


def score_import(imported: Imported, matcher: Matcher = "strict", warn: bool = False) -> dict[str, pd.DataFrame]:
    """Each written file's score table (key ``<split>_<level>``), equal to
    ``score_items(items of that split and level, read_predictions(file), matcher)``, from the rows as written.

    Why no re-read: the rows were built from these items and answers a moment ago, so the prompt and option
    checks a reader runs pass or fail alike here (the same check is run on the same prompt), and each row's
    output, error and random-fill mark are the ones written. ``tests/test_export_import_score.py`` compares the
    two on odd answers under both matchers.
    """
    from ..eval.scoring import MISSING_REASONS, check_stored, missing_reason, score_outputs

    out: dict[str, pd.DataFrame] = {}
    answers = imported.answers
    model = imported.model if imported.model else None  # what PredictionSet.model() reads back from the file
    with gc_paused():
        for key, group in imported.groups.items():
            source = imported.summary["written"][key]["file"]
            outputs: list[str | None] = []
            missing: list[bool] = []
            counts = dict.fromkeys(MISSING_REASONS, 0)
            checked: set[tuple[str, tuple[str, ...], str]] = set()  # the check depends on these alone
            reasons: dict[str, str | None] = {}  # missing_reason of a plain text answer, per distinct text
            for it in group:
                a = answers.get(it.id)
                if a is None:
                    outputs.append(None)
                    missing.append(True)
                    continue
                asked = (it.question, tuple(it.options), it.kind)
                if asked not in checked:  # the first item that fails raises, as in the file's order
                    check_stored(it, None, _prompt(*asked), source)
                    checked.add(asked)
                text = a.output
                if text is None or a.random_fill:
                    reason = missing_reason(text, None if text is not None else _NO_RESPONSE, a.random_fill)
                elif text in reasons:
                    reason = reasons[text]
                else:
                    reason = reasons[text] = missing_reason(text, None, False)
                if reason is None:
                    outputs.append(text)
                    missing.append(False)
                else:
                    outputs.append(None)
                    missing.append(True)
                    counts[reason] += 1
            out[key] = score_outputs(group, outputs, missing, counts, matcher, model, source=source, warn=warn)
    return out
