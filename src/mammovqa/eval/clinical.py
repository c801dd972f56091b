"""Offline, deterministic clinical facts of mammography text, and the clinical errors of a generated report.

Why rule-based: ROUGE-L and friends reward wording, not clinical truth, and the one mammography-aware report
metric in use is an LLM judge behind a commercial API. A transparent extractor computes the same facts on
references, generated reports and open-ended answers, needs no network, and every decision can be read in the
vocabulary file ``data_manifest/clinical_vocabulary.yaml`` (BI-RADS Atlas lexicon terms, with sources).

:func:`extract_facts` returns four facts::

    >>> f = extract_facts("Rt breast: 12 mm spiculated mass UOQ with pleomorphic microcalcs. "
    ...                   "Lt breast: no mass or calcification. ACR C. BIRADS IV.")
    >>> f["laterality"], f["density"], f["birads"], sorted(f["abnormality"])
    ('Right', 'Level C', '4', ['Calcification', 'Mass'])
    >>> extract_facts("Bilateral mammogram. Scattered fibroglandular densities. No suspicious mass, "
    ...               "calcification or distortion. BI-RADS 1: negative.")["abnormality"]
    {'Normal'}
    >>> extract_facts("Benign intramammary lymph node in the left UOQ. BI-RADS 2.")["abnormality"]
    set()

Conventions (they decide scores, so they are stated):

* ``laterality``: the side of the asserted findings (both sides or "bilateral" -> ``"Bilateral"``); a finding
  whose clause names no side takes the side of the nearest preceding side heading ("Left breast: ...");
  without any sided finding, the side of the study when the text states one (left and right both named ->
  ``"Bilateral"``); else ``None``.
* ``density``: ``"Level A"``..``"Level D"`` from :func:`mammovqa.report.parse.parse_density` (ACR letters,
  "ACR 1-4", the four descriptors) plus the vocabulary's extra wordings; several statements -> the densest.
* ``birads``: exactly :func:`mammovqa.report.parse.parse_birads` (unified ``"0"``..``"6"``, ``"4a"``-``"4c"``;
  the highest of several; roman numerals right after a BI-RADS keyword).
* ``abnormality``: the MammoVQA Abnormality options asserted (negated mentions do not count, NegEx-style,
  clause-scoped; a benign qualifier can rule an option out: a benign intramammary node is not a suspicious
  lymph node). ``{"Normal"}`` when the text states a negative study ("no evidence of malignancy", "BI-RADS 1",
  only negated findings) and asserts no finding; empty when the text says nothing about findings.
  Calcifications count as ``Calcification`` whatever their suspicion (benign and suspicious calcifications
  share the option in the source datasets).

Bad input never raises: ``None``, non-strings, empty, HTML, markdown, truncated or non-English text are read as
far as possible; a text with no fact at all is :func:`unanswerable`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..config import load_yaml
from ..paths import MANIFEST_DIR
from ..report.parse import BIRADS_RANK, collapse_birads, normalise_text, parse_birads, parse_density

VOCABULARY_FILE = MANIFEST_DIR / "clinical_vocabulary.yaml"
FACTS: tuple[str, ...] = ("laterality", "density", "birads", "abnormality")
SIDES = ("Left", "Right", "Bilateral")
ERROR_TYPES: tuple[str, ...] = ("missed_finding", "false_finding", "wrong_laterality", "wrong_density",
                                "wrong_birads")
NORMAL = "Normal"

# ----------------------------------------------------------------------------------------------- vocabulary


@dataclass(frozen=True)
class _Option:
    name: str
    patterns: tuple[re.Pattern[str], ...]
    benign: re.Pattern[str] | None
    benign_window: int


@dataclass(frozen=True)
class Vocabulary:
    """Compiled ``clinical_vocabulary.yaml``; see that file for what each part means and where terms come from."""

    abbreviations: tuple[tuple[re.Pattern[str], str], ...]
    sides: dict[str, re.Pattern[str]]
    side_any: re.Pattern[str]
    density: tuple[tuple[re.Pattern[str], str], ...]
    options: tuple[_Option, ...]
    normal: re.Pattern[str]
    pre: re.Pattern[str]
    pre_short: re.Pattern[str]
    pre_short_window: int
    post: re.Pattern[str]
    post_far: re.Pattern[str]
    pseudo: re.Pattern[str]
    terminators: re.Pattern[str]
    clause_split: re.Pattern[str]


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def _alt(entries: Sequence[Mapping[str, Any]]) -> re.Pattern[str]:
    return _rx("|".join(f"(?:{e['pattern']})" for e in entries))


@lru_cache(maxsize=4)
def load_vocabulary(path: str | Path = VOCABULARY_FILE) -> Vocabulary:
    """Compile the vocabulary once per file (the extractor runs on tens of thousands of texts)."""
    raw = load_yaml(path)
    sides = {k.capitalize(): _rx(v) for k, v in raw["laterality"].items()}
    options = []
    for name, spec in raw["abnormality"].items():
        benign = _alt(spec["benign"]) if spec.get("benign") else None
        options.append(_Option(name, tuple(_rx(e["pattern"]) for e in spec["patterns"]), benign,
                               int(spec.get("benign_window", 40))))
    neg = raw["negation"]
    return Vocabulary(
        abbreviations=tuple((_rx(e["pattern"]), e["replace"]) for e in raw["abbreviations"]),
        sides=sides,
        side_any=_rx("|".join(f"(?P<{k}>{p.pattern})" for k, p in sides.items())),
        density=tuple((_rx(e["pattern"]), level) for level, entries in raw["density"].items() for e in entries),
        options=tuple(options),
        normal=_alt(raw["normal"]),
        pre=_rx(neg["pre"]), pre_short=_rx(neg["pre_short"]), pre_short_window=int(neg["pre_short_window"]),
        post=_rx(neg["post"]), post_far=_rx(neg["post_far"]), pseudo=_rx(neg["pseudo"]), terminators=_rx(neg["terminators"]),
        clause_split=re.compile(neg["clause_split"]),
    )


# ----------------------------------------------------------------------------------------------- cleaning

_TAG_BREAK_RE = re.compile(r"<\s*(?:br|/p|/li|/div|/tr|/h\d|p|li|tr)\b[^>]*>", re.IGNORECASE)
_TAG_RE = re.compile(r"<[^>\n]{0,200}>")
_MD_RE = re.compile(r"```\w*|`|\*\*|__|^\s{0,3}#{1,6}\s*|^\s{0,3}>\s?|^\s*[-*+\u2022]\s+|^\s*\|", re.MULTILINE)
_TABLE_SEP_RE = re.compile(r"\s*\|\s*")


def clean_text(text: object, vocabulary: Vocabulary | None = None) -> str:
    """Plain, normalised text with HTML/markdown removed and report abbreviations expanded (Rt -> right)."""
    if text is None:
        return ""
    if not isinstance(text, str):
        text = str(text)
    if "<" in text or "&" in text:
        text = _TAG_RE.sub(" ", _TAG_BREAK_RE.sub("\n", text))
        text = html.unescape(text)
    text = _TABLE_SEP_RE.sub(" ", _MD_RE.sub("", normalise_text(text)))
    for rx, repl in (vocabulary or load_vocabulary()).abbreviations:
        text = rx.sub(repl, text)
    return text


# ----------------------------------------------------------------------------------------------- findings


@dataclass(frozen=True)
class Mention:
    """One asserted abnormality option, where it is in the cleaned text, and the side its clause names."""

    option: str
    start: int
    side: str | None


def _clauses(text: str, vocab: Vocabulary) -> list[tuple[int, str]]:
    out, start = [], 0
    for m in vocab.clause_split.finditer(text):
        if m.start() > start:
            out.append((start, text[start:m.start()]))
        start = m.end()
    if start < len(text):
        out.append((start, text[start:]))
    return out


def _negated(clause: str, start: int, end: int, vocab: Vocabulary) -> bool:
    """NegEx: a cue before the term and no terminator between them, or a cue right after the term."""
    before = vocab.pseudo.sub(lambda m: "_" * len(m.group(0)), clause[:start])
    for cue in reversed(list(vocab.pre.finditer(before))):
        if not vocab.terminators.search(before, cue.end()):
            return True
        break
    for cue in vocab.pre_short.finditer(before):
        if start - cue.end() <= vocab.pre_short_window and not vocab.terminators.search(before, cue.end()):
            return True
    after = clause[end:]
    if vocab.post_far.search(after):
        return True
    return bool(vocab.post.search(after)) and not vocab.pseudo.match(after.lstrip())


def _benign(option: _Option, clause: str, start: int, end: int) -> bool:
    if option.benign is None:
        return False
    window = clause[max(0, start - option.benign_window):end + 25]
    return bool(option.benign.search(window))


_BOUND_AFTER_RE = re.compile(r"\b(?:in|of|on|at|to)\s+(?:the\s+)?$", re.IGNORECASE)


def _side_in(text: str, vocab: Vocabulary, start: int, end: int) -> str | None:
    """The side named nearest to the term ``text[start:end]`` (a clause), or None.

    Distance is to the term's span; a side after the term bound to it by a preposition ("mass in the left
    breast") wins over a nearer one before it ("... left breast and calcifications in the right breast").
    """
    best: tuple[float, str] | None = None
    for m in vocab.side_any.finditer(text):
        side = next(k for k in SIDES if m.group(k))
        if m.start() >= end:
            dist = m.start() - end - (20 if _BOUND_AFTER_RE.search(text[end:m.start()]) else 0)
        else:
            dist = max(0, start - m.end())
        if best is None or dist < best[0]:
            best = (dist, side)
    return best[1] if best else None


_HEADING_SIDE_RE = re.compile(r"(?:^|[\n.;:]\s*)(?P<side>left|right|bilateral)(?:\s+(?:breast|side|axilla))?"
                              r"\s*(?:[:\-]|\n)", re.IGNORECASE)


def finding_mentions(text: object) -> tuple[list[Mention], int, bool]:
    """Asserted mentions, the number of negated ones, and whether a negative-study statement was seen."""
    vocab = load_vocabulary()
    return _mentions(clean_text(text, vocab), vocab)


def _mentions(clean: str, vocab: Vocabulary) -> tuple[list[Mention], int, bool]:
    headings = [(m.start("side"), m.group("side").capitalize()) for m in _HEADING_SIDE_RE.finditer(clean)]
    mentions: list[Mention] = []
    negated = 0
    for offset, clause in _clauses(clean, vocab):
        for option in vocab.options:
            for rx in option.patterns:
                for m in rx.finditer(clause):
                    if _negated(clause, m.start(), m.end(), vocab):
                        negated += 1
                        continue
                    if _benign(option, clause, m.start(), m.end()):
                        continue
                    side = _side_in(clause, vocab, m.start(), m.end())
                    if side is None:
                        prior = [s for pos, s in headings if pos <= offset + m.start()]
                        side = prior[-1] if prior else None
                    mentions.append(Mention(option.name, offset + m.start(), side))
    return mentions, negated, bool(vocab.normal.search(clean))


def _laterality(mentions: Sequence[Mention], clean: str, vocab: Vocabulary) -> str | None:
    sides = {m.side for m in mentions if m.side}
    if not sides:
        sides = {k for k in SIDES if vocab.sides[k].search(clean)}
    if not sides:
        return None
    if "Bilateral" in sides or {"Left", "Right"} <= sides:
        return "Bilateral"
    return next(iter(sides))


def _density(clean: str, vocab: Vocabulary) -> str | None:
    levels = []
    parsed = parse_density(clean)
    if parsed:
        levels.append(parsed)
    levels.extend(level[-1] for rx, level in vocab.density if rx.search(clean))
    return f"Level {max(levels)}" if levels else None


@lru_cache(maxsize=65536)
def _extract_cached(text: str) -> tuple[str | None, str | None, str | None, frozenset[str]]:
    vocab = load_vocabulary()
    clean = clean_text(text, vocab)
    if not clean.strip():
        return None, None, None, frozenset()
    mentions, negated, normal = _mentions(clean, vocab)
    birads = parse_birads(clean)
    found = {m.option for m in mentions}
    if not found and (normal or negated or birads == "1"):
        found = {NORMAL}
    return _laterality(mentions, clean, vocab), _density(clean, vocab), birads, frozenset(found)


def extract_facts(text: object) -> dict[str, Any]:
    """The four clinical facts of a report, sentence or answer; see the module docstring for conventions.

    Returns ``{"laterality": str | None, "density": str | None, "birads": str | None, "abnormality": set[str]}``;
    never raises (``None``, numbers, HTML, markdown and non-English text are read as far as possible).
    """
    key = "" if text is None else text if isinstance(text, str) else str(text)
    lat, dens, birads, abn = _extract_cached(key)
    return {"laterality": lat, "density": dens, "birads": birads, "abnormality": set(abn)}


def unanswerable(facts: Mapping[str, Any]) -> bool:
    """True when no fact could be read: an empty, off-topic or unparseable answer (scored as wrong)."""
    return not any(facts.get(k) for k in FACTS)


# ----------------------------------------------------------------------------------------------- errors


def _as_facts(x: object) -> dict[str, Any]:
    if isinstance(x, Mapping) and set(FACTS) <= set(x):
        return {k: (set(x[k]) if k == "abnormality" else x[k]) for k in FACTS}
    return extract_facts(x)


def birads_distance(generated: str | None, reference: str | None) -> int | None:
    """Categories between two BI-RADS values after collapsing 4a-4c to 4 (0..6 scale); None if either is missing."""
    if generated not in BIRADS_RANK or reference not in BIRADS_RANK:
        return None
    return abs(int(collapse_birads(generated) or 0) - int(collapse_birads(reference) or 0))


def _single_fact(gen: str | None, ref: str | None) -> tuple[int, int, int]:
    """(tp, fp, fn) of a single-valued fact; a pair whose reference states nothing is not scored (0, 0, 0)."""
    if ref is None:
        return 0, 0, 0
    hit = int(gen == ref)
    return hit, int(gen is not None and not hit), 1 - hit


def clinical_errors(generated: object, reference: object) -> dict[str, Any]:
    """Clinical errors of one generated text against its reference (texts, or fact dicts from extract_facts).

    * ``missed_finding``: reference abnormality options (other than Normal) the generation does not assert;
    * ``false_finding``: asserted options the reference does not have (only when the reference states its
      findings, ``{"Normal"}`` included; a reference silent on findings cannot show a finding false);
    * ``wrong_laterality`` / ``wrong_density`` / ``wrong_birads``: 1 when the reference states the fact and the
      generation states another value or none (an omission is an error), else 0;
    * ``birads_distance``: categories apart on the collapsed 0-6 scale (None when either is missing).

    Also per fact ``<fact>_tp/_fp/_fn`` for corpus precision/recall/F1: a single-valued fact scores where the
    reference states it (tp = same value, fp = another value stated, fn = not the reference value); abnormality
    scores its option sets, Normal included.
    """
    g, r = _as_facts(generated), _as_facts(reference)
    out: dict[str, Any] = {"generated": g, "reference": r, "unanswerable": unanswerable(g)}
    g_abn, r_abn = g["abnormality"], r["abnormality"]
    scored = bool(r_abn)
    out["missed_finding"] = len((r_abn - {NORMAL}) - g_abn)
    out["false_finding"] = len((g_abn - {NORMAL}) - r_abn) if scored else 0
    for fact, err in (("laterality", "wrong_laterality"), ("density", "wrong_density"), ("birads", "wrong_birads")):
        tp, fp, fn = _single_fact(g[fact], r[fact])
        out[err] = fn
        out[f"{fact}_tp"], out[f"{fact}_fp"], out[f"{fact}_fn"] = tp, fp, fn
    out["birads_distance"] = birads_distance(g["birads"], r["birads"])
    if scored:
        out["abnormality_tp"] = len(g_abn & r_abn)
        out["abnormality_fp"] = len(g_abn - r_abn)
        out["abnormality_fn"] = len(r_abn - g_abn)
    else:
        out["abnormality_tp"] = out["abnormality_fp"] = out["abnormality_fn"] = 0
    return out


def clinical_error_rows(generations: Sequence[object], references: Sequence[object],
                        ids: Sequence[str] | None = None, patient_ids: Sequence[str] | None = None) -> list[dict]:
    """One flat row per pair (id, patient, every error count and per-fact tp/fp/fn); the corpus-level inputs."""
    if len(generations) != len(references):
        raise ValueError(f"{len(generations)} generations vs {len(references)} references")
    ids = list(ids) if ids is not None else [str(i) for i in range(len(references))]
    patients = list(patient_ids) if patient_ids is not None else ids
    rows = []
    for i, (g, r) in enumerate(zip(generations, references)):
        e = clinical_errors(g, r)
        row = {"id": ids[i], "patient_id": patients[i], "unanswerable": e["unanswerable"]}
        row.update({k: e[k] for k in ERROR_TYPES})
        row["birads_distance"] = e["birads_distance"]
        row.update({f"{f}_{c}": e[f"{f}_{c}"] for f in FACTS for c in ("tp", "fp", "fn")})
        rows.append(row)
    return rows


def prf(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    """Micro precision, recall, F1 (NaN where undefined: nothing stated / nothing to find)."""
    p = tp / (tp + fp) if tp + fp else float("nan")
    r = tp / (tp + fn) if tp + fn else float("nan")
    f = 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else float("nan")
    return p, r, f


def corpus_fact_scores(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Micro precision/recall/F1 per fact over pairs (point estimates; the stage adds patient-clustered CIs)."""
    out = {}
    for fact in FACTS:
        tp, fp, fn = (sum(float(r[f"{fact}_{c}"]) for r in rows) for c in ("tp", "fp", "fn"))
        p, rc, f = prf(tp, fp, fn)
        out[fact] = {"precision": p, "recall": rc, "f1": f, "tp": tp, "fp": fp, "fn": fn}
    return out


# ----------------------------------------------------------------------------------------------- validation


def _expected(entry: Mapping[str, Any]) -> dict[str, Any]:
    exp = entry.get("expect") or {}
    birads = exp.get("birads")
    return {"laterality": exp.get("laterality"), "density": exp.get("density"),
            "birads": None if birads is None else str(birads).lower(),
            "abnormality": set(exp.get("abnormality") or [])}


def corpus_accuracy(path: str | Path, split: str | None = None) -> dict[str, Any]:
    """Per-fact accuracy of :func:`extract_facts` on a hand-written corpus (YAML list of ``text`` + ``expect``),
    and every miss (id, fact, expected, got), so the manuscript can state both.

    ``split="holdout"`` scores only the entries written after the rules were tuned (``split: holdout``),
    ``split="tuning"`` the others; None scores all.
    """
    entries = [e for e in load_yaml(path)["entries"] if split is None or e.get("split", "tuning") == split]
    hits = dict.fromkeys(FACTS, 0)
    misses = []
    for e in entries:
        got, exp = extract_facts(e["text"]), _expected(e)
        for fact in FACTS:
            if got[fact] == exp[fact]:
                hits[fact] += 1
            else:
                misses.append({"id": e["id"], "fact": fact, "expected": exp[fact], "got": got[fact]})
    n = len(entries)
    return {"n": n, "accuracy": {f: hits[f] / n if n else float("nan") for f in FACTS}, "misses": misses}


# ----------------------------------------------------------------------------------------------- open answers

#: MammoVQA topics whose open-ended (option-free) answers the extractor can score, and the fact it reads.
OPEN_TOPIC_FACT: dict[str, str] = {"Laterality": "laterality", "ACR": "density", "Bi-Rads": "birads",
                                   "Abnormality": "abnormality"}
_ANSWER_PREFIX_RE = re.compile(r"^\s*(?:the\s+)?(?:final\s+)?answer\s*(?:is)?\s*[:\-]?\s*", re.IGNORECASE)


def _option_value(fact: str, option: str) -> Any:
    """An option string in the extractor's terms: 'Bi-Rads 4' -> '4', 'Level C' stays, 'Mass' -> {'Mass'}."""
    if fact == "birads":
        return option.split()[-1]
    return {option} if fact == "abnormality" else option


def open_answer_value(answer: object, topic: str, options: Sequence[str] = ()) -> Any:
    """What an open-ended answer states for ``topic``, in option terms (None / empty set when it states nothing).

    An answer that is exactly one option string (after "Answer:" and punctuation are stripped) is that option;
    otherwise the extractor reads it, and BI-RADS sub-categories collapse (4b -> "4") as the options do.
    """
    fact = OPEN_TOPIC_FACT[topic]
    text = clean_text(answer)
    bare = _ANSWER_PREFIX_RE.sub("", text).strip().strip(".!*\"' ").lower()
    for opt in options:
        if bare == opt.lower():
            return _option_value(fact, opt)
    value = extract_facts(text)[fact]
    if fact == "birads":
        return collapse_birads(value)
    return value


def open_answer_correct(answer: object, topic: str, gold: Sequence[str], options: Sequence[str] = ()) -> bool:
    """Whether an open-ended answer states the gold option(s) of ``topic``; no or an unreadable answer is wrong.

    Single-answer topics compare one value; Abnormality compares the set of options (all and only the gold).
    """
    fact = OPEN_TOPIC_FACT[topic]
    got = open_answer_value(answer, topic, options)
    if fact == "abnormality":
        return bool(got) and got == set(gold)
    want = _option_value(fact, gold[0]) if gold else None
    return got is not None and got == want
