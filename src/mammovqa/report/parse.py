"""Read the structured facts (sections, BI-RADS, density, finding terms) out of free-text mammography reports.

Why rule-based: the clinical scores of report generation (BI-RADS and density accuracy, finding-term F1) must
be computed identically on references and on generated text, transparently and without a model. The rules are
tolerant of the DMID report style (headed sections "Breast Composition", "BIRADS", "Findings"; BI-RADS values
with sub-categories 4a/4b/4c and several values in one report) and of the phantom grammar (``grammar.py``),
which writes the same headings so one parser serves both.

Conventions (documented because they decide scores):

* BI-RADS is returned in unified form ``"0"``..``"6"`` with sub-categories ``"4a"``/``"4b"``/``"4c"`` kept.
* A report stating several categories returns the *highest* by :data:`BIRADS_RANK`: 0 (incomplete) is lowest,
  then 1 < 2 < 3 < 4 < 4a < 4b < 4c < 5 < 6. An unspecified "4" ranks below its sub-categories so that, when a
  report says both "4" and "4b", the more specific statement is kept (collapsing to 4 loses nothing either way).
* Roman numerals (``BI-RADS IV``) are read only right after a BI-RADS keyword or "category" in a BI-RADS
  section, so ordinary words ("I", "V") elsewhere are never taken for categories.
* A sub-category letter counts only when attached to the 4 (``4a``, ``4-B``); ``"BI-RADS 4 a ..."`` reads as 4.
* Density: ACR letters a-d (and the 4th-edition numbers 1-4 after "ACR") or the BI-RADS descriptors; several
  statements (e.g. one per breast) return the densest.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

BIRADS_RANK: dict[str, float] = {"0": 0, "1": 1, "2": 2, "3": 3, "4": 4, "4a": 4.1, "4b": 4.2, "4c": 4.3,
                                 "5": 5, "6": 6}
BIRADS_CATEGORIES: tuple[str, ...] = tuple(BIRADS_RANK)
DENSITY_LEVELS: tuple[str, ...] = ("A", "B", "C", "D")
FINDING_TERMS: tuple[str, ...] = ("mass", "calcification", "architectural distortion", "asymmetry",
                                  "skin change", "nipple change", "lymph node")
SECTIONS: tuple[str, ...] = ("composition", "birads", "findings", "impression")

_ROMAN = {"i": "1", "ii": "2", "iii": "3", "iv": "4", "v": "5", "vi": "6"}

# ----------------------------------------------------------------------------------------------- sections

_SECTION_ALIASES: dict[str, tuple[str, ...]] = {
    "composition": (r"breast\s+composition", r"composition", r"breast\s+density", r"density",
                    r"breast\s+tissue", r"acr"),
    "birads": (r"bi[\s\-]?rads(?:\s+(?:category|assessment|classification|score))?", r"assessment",
               r"category"),
    "findings": (r"findings?", r"observations?", r"description"),
    "impression": (r"impression", r"conclusions?", r"opinion", r"recommendations?", r"summary"),
}
_HEADER_RE = re.compile(
    r"^[ \t]*(?:\d+[.)][ \t]*)?(?P<head>" + "|".join(
        f"(?P<{key}>{'|'.join(alts)})" for key, alts in _SECTION_ALIASES.items()) + r")(?:[ \t]*\([^)\n]{0,30}\))?[ \t]*"
    r"(?:(?P<sep>[:\-\u2013\u2014])[ \t]*(?P<rest>.*)|$)",
    re.IGNORECASE | re.MULTILINE,
)


def normalise_text(text: str | None) -> str:
    """NFKC-normalise and unify dashes/spaces so regexes see one alphabet whatever the source encoding."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", str(text))
    return text.replace("\u2013", "-").replace("\u2014", "-").replace("\u00a0", " ").replace("\r\n", "\n")


def split_sections(text: str | None) -> dict[str, str]:
    """Split a report into its headed sections; text before the first heading goes to ``"preamble"``.

    A heading is a line starting with a known section name followed by ``:``/``-`` (content may follow on the
    same line, as in ``BIRADS: 4b``) or standing alone on its line. A repeated heading appends to its section.
    A heading word followed by a value without a separator (``BIRADS 2``) is content, not a heading.
    """
    text = normalise_text(text)
    out: dict[str, str] = {}
    current, start = "preamble", 0
    chunks: list[tuple[str, str]] = []
    for m in _HEADER_RE.finditer(text):
        key = next(k for k in _SECTION_ALIASES if m.group(k))
        if key == "birads" and m.group("sep") == "-" and not m.group("rest"):
            continue  # "BI-" hyphenation artefact, not a heading
        chunks.append((current, text[start:m.start()]))
        current, start = key, m.start("rest") if m.group("rest") is not None else m.end()
        if key == "birads":  # keep the keyword so "BIRADS: 4b" still reads as a BI-RADS statement
            start = m.start("head")
    chunks.append((current, text[start:]))
    for key, chunk in chunks:
        chunk = chunk.strip()
        if chunk:
            out[key] = (out[key] + "\n" + chunk) if key in out else chunk
    return out


# ----------------------------------------------------------------------------------------------- BI-RADS

_VALUE = r"(?:(?P<num>[0-6])(?:[\-]?(?P<sub>[abcABC]))?(?![0-9a-zA-Z])|(?P<rom>vi|iv|v|iii|ii|i)(?P<rsub>[abcABC])?\b)"
_LIST_SEP = r"\s*(?:,|/|&|\+|\band\b|\bor\b|\bto\b|-)\s*(?:bi[\s\-]?rads\s*)?"
_KEYWORD_RE = re.compile(
    r"bi[\s\-]?rads\b\W{0,3}(?:(?:assessment\s+)?(?:category|cat\.?|assessment|score|class)\W{0,3})?"
    r"(?P<vals>" + _VALUE.replace("?P<num>", "?:").replace("?P<sub>", "?:").replace("?P<rom>", "?:")
    .replace("?P<rsub>", "?:") + r"(?:" + _LIST_SEP + r"(?:[0-6](?:-?[abcABC])?(?![0-9a-zA-Z])))*)",
    re.IGNORECASE,
)
_ONE_VALUE_RE = re.compile(_VALUE, re.IGNORECASE)
_SECTION_VALUE_RE = re.compile(
    r"(?:category\W{0,3}" + _VALUE.replace("?P<", "?P<c_") + r")|(?<!\w)(?<!\d\.)(?P<bare>[0-6])(?:-?(?P<bsub>[abcABC]))?"
    r"(?!\w|\.\d|\s*(?:mm|cm|o'?\s*clock|%|years?)\b)",
    re.IGNORECASE,
)
_NEGATED_BIRADS_RE = re.compile(r"bi[\s\-]?rads\W{0,3}(?:category\W{0,3})?(?:not\s+(?:assessed|stated|given|applicable)"
                                r"|n/?a\b|none\b|unknown\b|-\s*$)", re.IGNORECASE | re.MULTILINE)


def _unify(num: str | None, sub: str | None, rom: str | None = None) -> str | None:
    base = num if num else _ROMAN.get((rom or "").lower())
    if base is None:
        return None
    if base == "4" and sub:
        return "4" + sub.lower()
    return base


def _values_after_keyword(text: str) -> list[str]:
    found: list[str] = []
    for m in _KEYWORD_RE.finditer(text):
        vals = m.group("vals")
        for v in _ONE_VALUE_RE.finditer(vals):
            cat = _unify(v.group("num"), v.group("sub") or v.group("rsub"), v.group("rom"))  # "IVa" -> 4a
            if cat:
                found.append(cat)
            if v.group("rom"):  # roman numerals are read only as the first value after the keyword
                break
    return found


def _values_in_section(section: str) -> list[str]:
    found: list[str] = []
    # remove keyword statements already read, so "BIRADS 4b" is not counted twice as "4b" and "4"
    rest = _KEYWORD_RE.sub(" ", section)
    for m in _SECTION_VALUE_RE.finditer(rest):
        if m.group("c_num") or m.group("c_rom"):
            cat = _unify(m.group("c_num"), m.group("c_sub") or m.group("c_rsub"), m.group("c_rom"))
        else:
            cat = _unify(m.group("bare"), m.group("bsub"))
        if cat:
            found.append(cat)
    return found


#: the value written before the keyword ("Category 4 BI-RADS"): a digit only, so density "category A" never matches
_CATEGORY_FIRST_RE = re.compile(r"\bcategory\W{0,3}(?P<num>[0-6])(?:-?(?P<sub>[abcABC]))?\s+bi[\s\-]?rads\b",
                                re.IGNORECASE)


def birads_values(text: str | None) -> list[str]:
    """Every BI-RADS category the text states, in order of appearance (duplicates kept)."""
    text = normalise_text(text)
    if not text:
        return []
    sections = split_sections(text)
    values = _values_after_keyword(text)
    values += [c for m in _CATEGORY_FIRST_RE.finditer(text) if (c := _unify(m.group("num"), m.group("sub")))]
    if "birads" in sections:
        values += _values_in_section(sections["birads"])
    return values


def highest_birads(values: Iterable[str]) -> str | None:
    """The highest category by :data:`BIRADS_RANK` (0 lowest, unspecified 4 below 4a), or None for none."""
    vals = [v for v in values if v in BIRADS_RANK]
    return max(vals, key=BIRADS_RANK.__getitem__) if vals else None


def parse_birads(text: str) -> str | None:
    """The report's BI-RADS category ("0".."6", "4a"/"4b"/"4c"); the highest of several; None when unstated."""
    return highest_birads(birads_values(text))


def collapse_birads(category: str | None) -> str | None:
    """4a/4b/4c -> 4, as the MammoVQA options (``Bi-Rads 0``..``Bi-Rads 5``) do."""
    return category[0] if category else None


# ----------------------------------------------------------------------------------------------- density

_DENSITY_LETTER_RE = re.compile(
    r"\b(?:acr|density|composition|type|category|level)\b(?:\s+(?:density|type|category|composition|level|class))?"
    r"\)?\s*[:\-(]?\s*\(?(?P<l>[a-dA-D])\b(?!['\w])",
    re.IGNORECASE,
)
_DENSITY_NUMBER_RE = re.compile(r"\bacr\b(?:\s+(?:density|type|category|composition))?\s*[:\-]?\s*(?P<n>[1-4])\b"
                                r"(?!\s*(?:mm|cm|%))", re.IGNORECASE)
_DENSITY_PHRASES: tuple[tuple[str, str], ...] = (
    (r"almost\s+entirely\s+fat(?:ty)?|predominantly\s+fat(?:ty)?|entirely\s+fatty", "A"),
    (r"scattered\s+(?:areas\s+of\s+)?fibro[\s\-]?glandular", "B"),
    (r"heterogeneous(?:ly)?\s+dense", "C"),
    (r"extremely\s+dense", "D"),
)
_DENSITY_PHRASE_RE = [(re.compile(p, re.IGNORECASE), lvl) for p, lvl in _DENSITY_PHRASES]
_NOT_A_LETTER_CONTEXT = re.compile(r"^\s*(?:and|or|to)\b", re.IGNORECASE)


def density_values(text: str | None) -> list[str]:
    """Every ACR density level (A-D) the text states, in order of appearance."""
    text = normalise_text(text)
    if not text:
        return []
    sections = split_sections(text)
    found: list[tuple[int, str]] = []
    for m in _DENSITY_LETTER_RE.finditer(text):
        # "type a" inside prose ("a type a ...") is rare; letters after BI-RADS keywords are never density
        before = text[max(0, m.start() - 12):m.start()].lower()
        if re.search(r"bi[\s\-]?rads\s*$", before) and "density" not in m.group(0).lower():
            continue
        if m.group(0).lower().startswith(("type", "category", "level")) and "composition" not in sections \
                and "acr" not in before and "density" not in before:
            continue
        if m.group("l") == "a" and re.match(r"\s+[a-z]", text[m.end():]):
            continue  # the article: "Composition: a fatty breast"
        found.append((m.start(), m.group("l").upper()))
    comp = sections.get("composition", "")
    lone = re.match(r"\s*\(?([a-dA-D])\b(?!['\w])", comp)  # a section that is just the letter: "C", "b)"
    if lone and not re.match(r"\s*a\s+\w", comp):  # ... but not the article "a" of a sentence
        found.append((text.find(comp), lone.group(1).upper()))
    for m in _DENSITY_NUMBER_RE.finditer(text):
        found.append((m.start(), "ABCD"[int(m.group("n")) - 1]))
    for rx, lvl in _DENSITY_PHRASE_RE:
        found.extend((m.start(), lvl) for m in rx.finditer(text))
    return [lvl for _, lvl in sorted(found)]


def parse_density(text: str) -> str | None:
    """ACR breast density "A".."D" stated by the report (the densest of several), or None."""
    vals = density_values(text)
    return max(vals) if vals else None


# ----------------------------------------------------------------------------------------------- findings

_TERM_PATTERNS: dict[str, str] = {
    "mass": r"\bmass(?:es)?\b|\bnodules?\b|\blumps?\b",
    "calcification": r"\b(?:micro)?calcifications?\b|\bcalcified\b|\bcalcs?\b|\bmicrocalcs?\b",
    "architectural distortion": r"\b(?:architectural\s+)?distortions?\b",
    "asymmetry": r"\basymmetr(?:y|ies|ic)\b",
    "skin change": r"\bskin\s+(?:thickening|thickened|retraction|changes?|edema|oedema|dimpling)\b"
                   r"|\b(?:thickened|retracted)\s+skin\b",
    "nipple change": r"\bnipple\s+(?:retraction|inversion|changes?|discharge|distortion)\b"
                     r"|\b(?:retracted|inverted)\s+nipples?\b",
    "lymph node": r"\blymph\s+nodes?\b|\blymphadenopathy\b|\baxillary\s+nodes?\b|\bintramammary\s+nodes?\b",
}
_TERM_RE = {term: re.compile(p, re.IGNORECASE) for term, p in _TERM_PATTERNS.items()}
_CLAUSE_SPLIT_RE = re.compile(r"[.;\n!?]|\b(?:but|however|although|whereas|except|apart\s+from)\b", re.IGNORECASE)
_PRE_NEG_RE = re.compile(r"\b(?:no|not|without|negative\s+for|absence\s+of|absent|free\s+of|neither|nor|"
                         r"rules?\s+out|ruled\s+out|resolution\s+of|normal|unremarkable)\b", re.IGNORECASE)
_POST_NEG_RE = re.compile(r"^[^.;]{0,40}?\b(?:(?:is|are)\s+(?:not\s+(?:seen|identified|present|visualized|"
                          r"visualised|demonstrated)|absent)|not\s+seen|none)\b|^\s*:\s*(?:none|absent|nil|no)\b"
                          r"|^\s*(?:(?:is|are|appears?)\s+)?(?:normal|unremarkable)\b",
                          re.IGNORECASE)


def _clauses(text: str) -> list[str]:
    return [c for c in _CLAUSE_SPLIT_RE.split(text) if c and c.strip()]


def finding_terms(text: str) -> set[str]:
    """The finding categories the text asserts as present; negated mentions ("no mass") do not count.

    Negation is clause-scoped (NegEx-like): a cue before the term in the same clause ("No mass, calcification
    or distortion") negates every term after it; "but"/"however"/"except" start a new clause; a trailing
    "is not seen"/"absent"/": none" negates the term before it.
    """
    found: set[str] = set()
    sections = split_sections(text)
    # the composition section speaks of density ("may obscure small masses"), never of findings
    body = "\n".join(v for k, v in sections.items() if k != "composition")
    for clause in _clauses(body):
        for term, rx in _TERM_RE.items():
            for m in rx.finditer(clause):
                if _PRE_NEG_RE.search(clause[:m.start()]) or _POST_NEG_RE.search(clause[m.end():]):
                    continue
                found.add(term)
                break
    return found


# ----------------------------------------------------------------------------------------------- whole report


@dataclass
class ParsedReport:
    """Everything the metrics need from one report, plus what could not be read (never silently dropped)."""

    sections: dict[str, str]
    birads: str | None
    birads_all: list[str]
    density: str | None
    findings: set[str]
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def parse_report(text: str | None) -> ParsedReport:
    """Parse one report; ``problems`` names each expected fact that could not be read."""
    norm = normalise_text(text)
    sections = split_sections(norm)
    values = birads_values(norm)
    problems: list[str] = []
    if not norm.strip():
        problems.append("empty report")
    else:
        if not values:
            problems.append("no BI-RADS category stated" +
                            (" (BI-RADS marked not assessed)" if _NEGATED_BIRADS_RE.search(norm) else ""))
        if len({collapse_birads(v) for v in values}) > 1:
            problems.append(f"several BI-RADS categories {sorted(set(values), key=BIRADS_RANK.__getitem__)}: "
                            f"highest used")
        if not density_values(norm):
            problems.append("no breast density stated")
        if not (set(sections) & set(SECTIONS)):
            problems.append("no recognised section heading")
    return ParsedReport(sections, highest_birads(values), values, parse_density(norm), finding_terms(norm), problems)


def report_problems(reports: Mapping[str, str | None]) -> list[dict[str, str]]:
    """One row per (report id, problem): the listing of unparseable or ambiguous reports that is kept, not dropped."""
    rows = []
    for rid in sorted(reports):
        for problem in parse_report(reports[rid]).problems:
            rows.append({"id": rid, "problem": problem})
    return rows
