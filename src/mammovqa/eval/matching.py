"""Answer matching: turn a model's free-text output into the option(s) it chose.

Two matchers (docs/protocol.md §4):

``official``
    The MammoVQA scorer decision for decision, quirks included, so that numbers can be compared with the
    paper. Single choice: difflib ratios against every candidate (letter ``B``, lettered form ``B: Left``,
    text ``Left``), then per-option sums, then the same two steps with fuzzywuzzy 0.18.0 ``process.extract``
    scores (difflib-based; no python-Levenshtein), then "no choice". Multiple choice: word overlap, which
    makes the article "a" select option A and "Skin thickening" also select "Skin retraction".

``strict``
    Corrected rules (see :func:`_strict_single` / :func:`_strict_multiple`): explicit letters and option
    texts only, refusals and ambiguity give "no choice".

Why a fast path: the benchmark has ~565K predictions per model and the straightforward per-item official
scorer runs ~5,000/s. Real outputs repeat massively, so :func:`match_many` scores each distinct
(prediction, options, kind) triple once, and the official difflib/fuzzywuzzy scores are cached per
(prediction, candidate) pair. difflib's matching blocks come from an exact C-speed search (:func:`_block_triples`),
fuzzywuzzy's WRatio is transcribed (:func:`_fz_wratio`; fuzzywuzzy itself is not patched, so everything is
thread-safe), and ratios that provably cannot reach the maximum are skipped (:func:`_step1`, strict bounds
only, so ties at the maximum are always computed). The arithmetic is the official one, in the same order (the
step-2 float sums included), so decisions are identical, not merely close; ``tests/test_matching.py`` checks
this against an independent implementation and the scorers against difflib and fuzzywuzzy themselves.

Preconditions (true for every MammoVQA topic): option texts are distinct, non-empty and contain no ``", "``
or ``":"`` (the official scorer re-reads options from the prompt by splitting on those).
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Literal

from fuzzywuzzy import utils as fuzz_utils  # its full_process; the scorer itself is transcribed below

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
MATCHERS = ("official", "strict")
KINDS = ("single", "multiple")

Matcher = Literal["official", "strict"]
Kind = Literal["single", "multiple"]

_WORD = re.compile(r"\b\w+\b")


# ====================================================================== public API


def match(prediction: str | None, options: Sequence[str], kind: Kind,
          matcher: Matcher = "strict") -> list[str]:
    """Option texts chosen by ``prediction`` (sorted for multiple choice); ``[]`` means no choice.

    ``options`` are the texts in the order shown (letter A first). A missing prediction (None) is no choice,
    so it is scored wrong; the scoring layer reports how many there were.
    """
    return list(_match_one(prediction, _check_options(options), kind, matcher))


def match_many(predictions: Sequence[str | None], options: Sequence[Sequence[str]], kinds: Sequence[str],
               matcher: Matcher = "strict") -> list[list[str]]:
    """Vectorised :func:`match`: each distinct (prediction, options, kind) triple is matched once."""
    return [list(res) for res in match_many_shared(predictions, options, kinds, matcher)]


def match_many_shared(predictions: Sequence[str | None], options: Sequence[Sequence[str]], kinds: Sequence[str],
                      matcher: Matcher = "strict") -> list[tuple[str, ...]]:
    """:func:`match_many` as tuples, one shared tuple per distinct decision (no list per item: scoring 565K
    items reads them and lets them go)."""
    if not (len(predictions) == len(options) == len(kinds)):
        raise ValueError(f"length mismatch: {len(predictions)} predictions, {len(options)} option lists, "
                         f"{len(kinds)} kinds")
    _check_matcher(matcher)
    opt_cache: dict[tuple[str, ...], tuple[str, ...]] = {}
    memo: dict[tuple[str | None, tuple[str, ...], str], tuple[str, ...]] = {}
    out: list[tuple[str, ...]] = []
    for pred, opts, kind in zip(predictions, options, kinds, strict=True):
        key_opts = tuple(opts)
        checked = opt_cache.get(key_opts)
        if checked is None:
            checked = opt_cache[key_opts] = _check_options(key_opts)
        key = (pred, checked, kind)
        res = memo.get(key)
        if res is None:
            res = memo[key] = _match_one(pred, checked, kind, matcher)
        out.append(res)
    return out


def random_chance(n_options: int, kind: str) -> float:
    """Probability that the uniform random guesser is exactly right on one item.

    Single choice: one of K options uniformly, 1/K. Multiple choice: one of the 2^K - 1 non-empty subsets
    uniformly (the guesser always answers something), so the exact gold set has chance 1/(2^K - 1).
    """
    if n_options < 1:
        raise ValueError(f"need at least one option, got {n_options}")
    if kind == "single":
        return 1.0 / n_options
    if kind == "multiple":
        return 1.0 / (2 ** n_options - 1)
    raise ValueError(f"unknown question kind {kind!r} (single, multiple)")


# ====================================================================== dispatch


def _check_matcher(matcher: str) -> None:
    if matcher not in MATCHERS:
        raise ValueError(f"unknown matcher {matcher!r} (official, strict)")


def _check_options(options: Sequence[str]) -> tuple[str, ...]:
    opts = tuple(options)
    if not opts or len(opts) > len(LETTERS):
        raise ValueError(f"need 1..{len(LETTERS)} options, got {len(opts)}: {list(opts)!r}")
    if len(set(opts)) != len(opts) or any(not isinstance(o, str) or not o.strip() for o in opts):
        raise ValueError(f"options must be distinct non-empty strings, got {list(opts)!r}")
    return opts


def _match_one(pred: str | None, options: tuple[str, ...], kind: str, matcher: str) -> tuple[str, ...]:
    _check_matcher(matcher)
    if kind not in KINDS:
        raise ValueError(f"unknown question kind {kind!r} (single, multiple)")
    if pred is None:
        return ()
    if not isinstance(pred, str):
        raise ValueError(f"prediction must be a string or None, got {type(pred).__name__}: {pred!r}")
    if matcher == "official":
        if kind == "single":
            i = _official_single(pred, options)
            return () if i is None else (options[i],)
        return tuple(sorted(options[i] for i in _official_multiple(pred, options)))
    if kind == "single":
        i = _strict_single(pred, options)
        return () if i is None else (options[i],)
    return tuple(sorted(options[i] for i in _strict_multiple(pred, options)))


# ====================================================================== exact fast difflib


def _block_triples(a: str, b: str) -> list[tuple[int, int, int]]:
    """The (i, j, k) blocks difflib's ``get_matching_blocks`` finds, for ``isjunk=None`` and ``len(b) < 200``.

    Why this is exact: without junk and below 200 characters (no "popular" elements) difflib's
    ``find_longest_match`` returns the longest common substring of the two ranges, the one starting earliest
    in ``a`` and, among those, earliest in ``b``; its extension loops cannot lengthen a longest match. Here
    the length is grown with C-speed ``str.find`` (a run of length L+1 exists only if one of length L does),
    then located with the same tie-break. The recursion over the left and right remainders is difflib's.
    The triples come unsorted and unmerged; their ``k`` sum and their ``j - i`` offsets are difflib's.
    """
    out: list[tuple[int, int, int]] = []
    stack = [(0, len(a), 0, len(b))]
    while stack:
        alo, ahi, blo, bhi = stack.pop()
        asub, bsub = a[alo:ahi], b[blo:bhi]
        # One pass grows ``best`` or moves on: a run of length best+1 at i exists only if one of length best
        # does, and the first i reaching the final length is the earliest start of a longest match.
        if ahi - alo <= bhi - blo:  # walk the shorter side, search the longer one
            n = ahi - alo
            i = best = bi = 0
            while i + best < n:
                if asub[i:i + best + 1] in bsub:
                    best += 1
                    bi = i
                else:
                    i += 1
            if not best:
                continue
            bj = bsub.find(asub[bi:bi + best])  # earliest i, then earliest j
        else:
            n = bhi - blo
            j = best = bj = 0
            while j + best < n:
                if bsub[j:j + best + 1] in asub:
                    best += 1
                    bj = j
                else:
                    j += 1
            if not best:
                continue
            bi = asub.find(bsub[bj:bj + best])
            for j in range(bj + 1, n - best + 1):  # a later j may start earlier in a
                pos = asub.find(bsub[j:j + best], 0, bi + best - 1)
                if pos >= 0:
                    bi, bj = pos, j
        bi += alo
        bj += blo
        out.append((bi, bj, best))
        if alo < bi and blo < bj:
            stack.append((alo, bi, blo, bj))
        if bi + best < ahi and bj + best < bhi:
            stack.append((bi + best, ahi, bj + best, bhi))
    return out


def fast_ratio(a: str, b: str) -> float:
    """``difflib.SequenceMatcher(None, a, b).ratio()``, bit for bit."""
    length = len(a) + len(b)
    if len(b) >= 200:
        return difflib.SequenceMatcher(None, a, b).ratio()
    if not length:
        return 1.0
    if len(b) == 1:  # one block of length 1 or none: the same 2.0 * matches / length
        return 2.0 * (b in a) / length
    if len(a) == 1:
        return 2.0 * (a in b) / length
    matches = 0
    for t in _block_triples(a, b):
        matches += t[2]
    return 2.0 * matches / length


@lru_cache(maxsize=256)
def _long_b_matcher(b: str) -> difflib.SequenceMatcher:
    """A prototype matcher with ``b`` indexed (autojunk's "popular" rule applies from 200 characters).

    Never used directly: :func:`_block_offsets` copies its state, so concurrent callers share only the
    read-only ``b`` index.
    """
    return difflib.SequenceMatcher(None, "", b)


def _block_offsets(a: str, b: str) -> dict[int, int]:
    """``max(j - i, 0)`` over ``difflib.SequenceMatcher(None, a, b).get_matching_blocks()``, each with the
    number of characters its blocks match.

    Merging adjacent blocks keeps ``j - i``, so the unmerged triples give the same offsets; the closing
    ``(len(a), len(b), 0)`` block is added here.
    """
    if len(b) < 200:
        triples: Sequence[tuple[int, int, int]] = _block_triples(a, b)
    else:
        sm = object.__new__(difflib.SequenceMatcher)
        sm.__dict__.update(_long_b_matcher(b).__dict__)
        sm.set_seq1(a)
        triples = sm.get_matching_blocks()
    offsets = {max(len(b) - len(a), 0): 0}
    for i, j, k in triples:
        off = j - i if j > i else 0
        offsets[off] = offsets.get(off, 0) + k
    return offsets


@lru_cache(maxsize=65536)
def _char_counts(s: str) -> dict[str, int]:
    return dict(Counter(s))


def _common_chars(counts: dict[str, int], s: str) -> int:
    """Characters shared as multisets with the string ``counts`` describes (difflib's ``quick_ratio``
    count), an upper bound on the characters any matching can pair."""
    q = 0
    for ch, k in counts.items():
        n = s.count(ch)
        if n:
            q += n if n < k else k
    return q


# ====================================================================== exact fuzzywuzzy 0.18.0 WRatio
#
# fuzzywuzzy 0.18.0 without python-Levenshtein, transcribed: same decorators' short cuts, same difflib ratios
# (through the exact fast ones above), same float arithmetic in the same order. Nothing is patched into
# fuzzywuzzy, so these are pure functions (thread-safe). tests/test_matching.py compares them with fuzzywuzzy
# itself on random strings. Two short cuts are exact by construction, see _fz_partial_ratio and _fz_wratio.


def _intr(x: float) -> int:
    return int(round(x))


def _fz_ratio(s1: str, s2: str) -> int:
    """``fuzz.ratio``."""
    if s1 == s2:
        return 100
    if not s1 or not s2:
        return 0
    return _intr(100 * fast_ratio(s1, s2))


def _fz_partial_ratio(s1: str, s2: str) -> int:
    """``fuzz.partial_ratio``: best ratio of the shorter string against windows of the longer one.

    The windows start at ``max(j - i, 0)`` of each matching block; the order they are tried in only decides
    which ``r > .995`` returns 100 first, so distinct offsets in any order give the same result. Short cut:
    when ``len(longer) < 200`` and the shorter string occurs in the longer one, difflib's first longest match
    is that whole occurrence (see :func:`_block_triples`), whose window is the shorter string itself: 100.
    """
    if s1 == s2:
        return 100
    if not s1 or not s2:
        return 0
    if len(s1) <= len(s2):
        shorter, longer = s1, s2
    else:
        shorter, longer = s2, s1
    m = len(shorter)
    if len(longer) < 200:
        if shorter in longer:
            return 100
        if m == 1:  # no block: the one window shares no character
            return 0
    offsets = _block_offsets(shorter, longer)
    counts = _char_counts(shorter)
    best = 0.0
    for start in sorted(offsets, key=offsets.__getitem__, reverse=True):  # likely best window first
        window = longer[start:start + m]
        # skip a window whose quick_ratio-style bound (same float arithmetic, more matches) cannot beat best
        if best and 2.0 * _common_chars(counts, window) / (m + len(window)) <= best:
            continue
        r = fast_ratio(shorter, window)
        if r > .995:
            return 100
        if r > best:
            best = r
    return _intr(100 * best)


def _fz_sorted(s: str) -> str:
    return " ".join(sorted(s.split())).strip()


def _fz_token_set(s1: str, s2: str, partial: bool, known: tuple[str, str, int] | None = None) -> int:
    """``fuzz._token_set`` with ``full_process=False``.

    ``known`` is ``(x, y, ratio_func(x, y))`` already computed by the caller (the token-sort score); with no
    shared token and no repeated one the last pair is exactly that pair, so its score is reused.
    """
    if s1 == s2:
        return 100
    if not s1 or not s2:
        return 0
    tokens1, tokens2 = set(s1.split()), set(s2.split())
    sorted_sect = " ".join(sorted(tokens1 & tokens2))
    sorted_1to2 = " ".join(sorted(tokens1 - tokens2))
    sorted_2to1 = " ".join(sorted(tokens2 - tokens1))
    combined_1to2 = (sorted_sect + " " + sorted_1to2).strip()
    combined_2to1 = (sorted_sect + " " + sorted_2to1).strip()
    sorted_sect = sorted_sect.strip()
    func = _fz_partial_ratio if partial else _fz_ratio
    if known is not None and known[0] == combined_1to2 and known[1] == combined_2to1:
        last = known[2]
    else:
        last = func(combined_1to2, combined_2to1)
    return max(func(sorted_sect, combined_1to2), func(sorted_sect, combined_2to1), last)


def _fz_wratio(p1: str, p2: str) -> int:
    """``fuzz.WRatio(p1, p2, full_process=False)``.

    Short cut: every token score is an int <= 100 multiplied by the same scale factors, so it is at most
    ``100 * unbase_scale * partial_scale`` (same float operations, monotone); when the scores already known
    reach that cap the token scores cannot change the maximum and are not computed.
    """
    if not p1 or not p2:
        return 0
    unbase_scale, partial_scale = .95, .90
    base = _fz_ratio(p1, p2)
    len_ratio = float(max(len(p1), len(p2))) / min(len(p1), len(p2))
    if len_ratio > 8:
        partial_scale = .6
    if len_ratio < 1.5:
        if base >= 100 * unbase_scale:
            return _intr(base)
        sorted1, sorted2 = _fz_sorted(p1), _fz_sorted(p2)
        tsor_int = _fz_ratio(sorted1, sorted2)
        tsor = tsor_int * unbase_scale
        tser = _fz_token_set(p1, p2, False, (sorted1, sorted2, tsor_int)) * unbase_scale
        return _intr(max(base, tsor, tser))
    partial = _fz_partial_ratio(p1, p2) * partial_scale
    if max(base, partial) >= 100 * unbase_scale * partial_scale:
        return _intr(max(base, partial))
    sorted1, sorted2 = _fz_sorted(p1), _fz_sorted(p2)
    ptsor_int = _fz_partial_ratio(sorted1, sorted2)
    ptsor = ptsor_int * unbase_scale * partial_scale
    ptser = _fz_token_set(p1, p2, True, (sorted1, sorted2, ptsor_int)) * unbase_scale * partial_scale
    return _intr(max(base, partial, ptsor, ptser))


# ====================================================================== official: single choice

# Caches live for the process; sizes are bounded by the distinct strings seen (short answers repeat).
_RATIO_CACHE: dict[tuple[str, str], float] = {}
_FUZZ_CACHE: dict[tuple[str, str], int] = {}
_CACHE_LIMIT = 2_000_000


def _ratio(pred_l: str, cand_l: str) -> float:
    """``difflib.SequenceMatcher(None, pred_l, cand_l).ratio()``, cached per pair."""
    key = (pred_l, cand_l)
    r = _RATIO_CACHE.get(key)
    if r is None:
        r = fast_ratio(pred_l, cand_l)
        if len(_RATIO_CACHE) > _CACHE_LIMIT:
            _RATIO_CACHE.clear()
        _RATIO_CACHE[key] = r
    return r


@lru_cache(maxsize=65536)
def _fuzz_query(pred: str) -> str:
    """What ``process.extract`` compares for the query: full_process, then full_process(force_ascii=True)."""
    return fuzz_utils.full_process(fuzz_utils.full_process(pred), force_ascii=True)


@lru_cache(maxsize=65536)
def _fuzz_choice(cand: str) -> str:
    """What ``process.extract`` compares for a choice (its processor is skipped for WRatio, then ASCII-processed)."""
    return fuzz_utils.full_process(cand, force_ascii=True)


def _fuzz_score(pq: str, cand: str) -> int:
    """``fuzz.WRatio`` exactly as ``process.extract`` (default processor and scorer) computes it."""
    pc = _fuzz_choice(cand)
    key = (pq, pc)
    s = _FUZZ_CACHE.get(key)
    if s is None:
        s = _fz_wratio(pq, pc)
        if len(_FUZZ_CACHE) > _CACHE_LIMIT:
            _FUZZ_CACHE.clear()
        _FUZZ_CACHE[key] = s
    return s


def _decide(letter: Sequence[float], lettered: Sequence[float], text: Sequence[float]) -> int | None | bool:
    """Steps 1 and 2 of the official rule on one family of scores.

    Returns the option index, or ``False`` when both steps tie (go on to the next family). Step 2 sums in
    the official order ``lettered + letter + text``, so float ties come out exactly as the original.
    """
    best = max(max(letter), max(lettered), max(text))
    tops = {i for i, s in enumerate(letter) if s == best}
    tops.update(i for i, s in enumerate(lettered) if s == best)
    tops.update(i for i, s in enumerate(text) if s == best)
    if len(tops) == 1:
        return tops.pop()
    sums = [lettered[i] + letter[i] + text[i] for i in range(len(letter))]
    best_sum = max(sums)
    winners = [i for i, s in enumerate(sums) if s == best_sum]
    return winners[0] if len(winners) == 1 else False


@lru_cache(maxsize=4096)
def _candidates(options: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...], tuple[dict[str, int], ...]]:
    """The 3n candidates (letters, lettered forms, texts, in that order), as written and lower-cased, and the
    character counts of the lower-cased ones."""
    n = len(options)
    cands = tuple(LETTERS[:n]) + tuple(f"{LETTERS[i]}: {options[i]}" for i in range(n)) + options
    lower = tuple(c.lower() for c in cands)
    return cands, lower, tuple(_char_counts(c) for c in lower)


def _step1(pred_l: str, lower: tuple[str, ...], counts: tuple[dict[str, int], ...]) -> int | None | bool:
    """Steps 1 and 2 on difflib ratios (see :func:`_decide`), computing only the ratios that can matter.

    Each ratio is ``2.0 * matches / length``; ``matches`` is at most the multiset character overlap, which is
    at most the shorter length, so ``2.0 * bound / length`` (the same float operations on a larger integer)
    bounds the ratio from above. A candidate whose bound is strictly below the best ratio already found
    cannot be at the maximum and is skipped, so the set of candidates at the maximum is exact. Only when
    that set names several options (step 2) are the skipped ratios computed too.
    """
    k = len(lower)
    n = k // 3
    la = len(pred_l)
    scores: list[float | None] = [None] * k
    best = -1.0
    pending = []
    for idx, c in enumerate(lower):
        lc = len(c)
        if lc == 1:  # a letter: as cheap as any bound
            r = scores[idx] = 2.0 * (c in pred_l) / (la + 1)
            if r > best:
                best = r
        else:
            pending.append((2.0 * (la if la < lc else lc) / (la + lc), idx))
    pending.sort(reverse=True)
    skipped = []
    for pos, (bound, idx) in enumerate(pending):
        if bound < best:  # sorted: every later length bound is lower still
            skipped.extend(i for _, i in pending[pos:])
            break
        c = lower[idx]
        if 2.0 * _common_chars(counts[idx], pred_l) / (la + len(c)) < best:
            skipped.append(idx)
            continue
        r = scores[idx] = _ratio(pred_l, c)
        if r > best:
            best = r
    if skipped:
        tops = {i % n for i, r in enumerate(scores) if r == best}
        if len(tops) == 1:
            return tops.pop()
        for idx in skipped:
            scores[idx] = _ratio(pred_l, lower[idx])
    return _decide(scores[:n], scores[n:2 * n], scores[2 * n:])  # type: ignore[arg-type]


def _official_single(pred: str, options: tuple[str, ...]) -> int | None:
    """Index of the option the official scorer picks, or None for "make no choice"."""
    n = len(options)
    cands, lower, counts = _candidates(options)
    got = _step1(pred.lower(), lower, counts)
    if got is not False:
        return got
    pq = _fuzz_query(pred)
    f = [_fuzz_score(pq, c) for c in cands]
    got = _decide(f[:n], f[n:2 * n], f[2 * n:])
    return None if got is False else got


# ====================================================================== official: multiple choice


@lru_cache(maxsize=65536)
def _candidate_words(letter: str, text: str) -> frozenset[str]:
    """Words of the three candidate forms of one option: letter, lettered form, text (order-independent)."""
    return (frozenset(_WORD.findall(letter.lower())) | frozenset(_WORD.findall(f"{letter}: {text}".lower()))
            | frozenset(_WORD.findall(text.lower())))


def _official_multiple(pred: str, options: tuple[str, ...]) -> list[int]:
    """Every option sharing any word with the prediction (the official keyword rule)."""
    words = set(_WORD.findall(pred.lower()))
    return [i for i, o in enumerate(options) if not words.isdisjoint(_candidate_words(LETTERS[i], o))]


# ====================================================================== strict

# "answer is", "The correct answer:", "Option", "choices are" ... (case-insensitive; the letter after it is not)
_ANSWER_CUE = r"(?i:(?:the\s+)?(?:correct\s+|final\s+|best\s+)?(?:answer|option|choice)s?\s*(?:is|are|:|=|-)?)"
_SEP = r"(?:\s*(?:,|;|/|&|\band\b|\bor\b)\s*|\s+)"
_LONE_LETTERS = re.compile(
    rf"^\W*(?:{_ANSWER_CUE}\s*)?\W*(\(?[A-Za-z]\)?(?:{_SEP}\(?[A-Za-z]\)?)*)[\s.!]*$", re.IGNORECASE)
_LETTER_TOKEN = re.compile(r"(?<![A-Za-z])[A-Za-z](?![A-Za-z])")
_JOIN = re.compile(r"\s*[:).-]?\s*")


# Outputs up to this length have their order-independent strict parts cached (short answers repeat; long
# free text rarely does, and would only hold memory)
_CACHED_LEN = 400

_LETTERED = re.compile(r"(?<!\w)(?:\(([A-Z])\)|([A-Z])\s*[:)]|([A-Z])\.(?=\s+\w))")


@lru_cache(maxsize=4096)
def _strict_patterns(texts: tuple[str, ...]) -> tuple[list[tuple[str, re.Pattern[str]]], re.Pattern[str]]:
    """Compiled per option *set* (sorted texts, so every option order shares them): option-text phrases,
    longest first, and the explicit-answer form. Letters are mapped to options at match time."""
    order = sorted(texts, key=lambda t: (-len(t), t))
    phrases = [(t, re.compile(rf"(?<!\w){re.escape(t)}(?!\w)", re.IGNORECASE)) for t in order]
    alts = "|".join(re.escape(t) for t in order)
    explicit = re.compile(rf"(?<!\w){_ANSWER_CUE}\s*(?:\(\s*([A-Z])\s*\)|([A-Z])(?!\w)|((?i:{alts}))(?!\w))")
    return phrases, explicit


def _lone_letters(pred: str, n: int) -> list[int] | None:
    """Indices if the whole output is just letters ("B", "(B).", "Answer: B", "A, C and D"); else None.

    Case does not matter here because nothing else is in the output; a letter beyond the options gives [].
    """
    found = (_lone_letter_indices if len(pred) <= _CACHED_LEN else _lone_letter_indices.__wrapped__)(pred, n)
    return None if found is None else list(found)


@lru_cache(maxsize=65536)
def _lone_letter_indices(pred: str, n: int) -> tuple[int, ...] | None:
    """:func:`_lone_letters`, cached: it depends on the output and the option count only."""
    m = _LONE_LETTERS.match(pred)
    if not m:
        return None
    idx = []
    for tok in _LETTER_TOKEN.findall(m.group(1)):
        i = LETTERS.find(tok.upper())
        if i >= n:
            return ()
        idx.append(i)
    return tuple(sorted(set(idx)))


def _blank(m: re.Match[str]) -> str:
    return " " * len(m.group(0))


def _strict_mentions(pred: str, options: tuple[str, ...]) -> set[int]:
    """Options named by their text as a whole phrase (longest first) or by an upper-case lettered form.

    Matched text spans are blanked out before the next search, so "Skin thickening" cannot also count as
    "Skin retraction", nor "Fatty-glandular" as "Fatty", nor the "A." of "Level A." as a letter.
    """
    parts = _mention_parts if len(pred) <= _CACHED_LEN else _mention_parts.__wrapped__
    named, letters = parts(pred, tuple(sorted(options)))
    index = {o: i for i, o in enumerate(options)}
    chosen = {index[t] for t in named}
    chosen.update(i for i in letters if i < len(options))
    return chosen


@lru_cache(maxsize=65536)
def _mention_parts(pred: str, texts: tuple[str, ...]) -> tuple[frozenset[str], tuple[int, ...]]:
    """The option texts ``pred`` names and the letter indices of its lettered forms (after blanking the texts).

    Why apart from :func:`_strict_mentions`: none of this depends on the order the options are shown in (only
    the letter-to-option mapping does), so it is computed once per output and option *set*; 565K predictions
    over shuffled option orders share a few thousand of these.
    """
    phrases, _ = _strict_patterns(texts)
    named: set[str] = set()
    text = pred
    for t, pat in phrases:
        text, k = pat.subn(_blank, text)
        if k:
            named.add(t)
    letters = tuple(LETTERS.index(next(g for g in m.groups() if g)) for m in _LETTERED.finditer(text))
    return frozenset(named), letters


def _explicit_answers(pred: str, options: tuple[str, ...]) -> set[int] | None:
    """Options given in an explicit answer form ("answer is B", "Answer: Left"); None if there is none.

    A lettered explicit answer followed by another option's text ("The answer is B: Right") is contradictory
    and yields both options, hence no choice; so does a letter beyond the options ("The answer is E").
    """
    parts = _explicit_parts if len(pred) <= _CACHED_LEN else _explicit_parts.__wrapped__
    found = parts(pred, tuple(sorted(options)))
    if found is None:
        return None
    lower = {o.lower(): i for i, o in enumerate(options)}
    index = {o: i for i, o in enumerate(options)}
    named: set[int] = set()
    for letter, text in found:
        if letter is None:
            named.add(lower[text])
            continue
        named.add(letter)
        if text is not None:
            named.add(index[text])
    if any(i >= len(options) for i in named):
        return {-1, -2}  # an impossible letter: treat as ambiguous
    return named


@lru_cache(maxsize=65536)
def _explicit_parts(pred: str, texts: tuple[str, ...]) -> tuple[tuple[int | None, str | None], ...] | None:
    """The explicit answers in ``pred``, independent of the option order: ``(None, lower-cased text)`` for a
    text answer, ``(letter index, option text named right after it or None)`` for a lettered one; None when
    there is no explicit answer form (see :func:`_mention_parts` for why this is cached per option set)."""
    phrases, explicit = _strict_patterns(texts)
    out: list[tuple[int | None, str | None]] = []
    for m in explicit.finditer(pred):
        letter = m.group(1) or m.group(2)
        if not letter:
            out.append((None, m.group(3).lower()))
            continue
        rest = pred[m.end():]
        start = _JOIN.match(rest).end()
        after = next((t for t, pat in phrases if pat.match(rest, start)), None)
        out.append((LETTERS.index(letter), after))
    return tuple(out) if out else None


def _strict_single(pred: str, options: tuple[str, ...]) -> int | None:
    """Strict single choice: one clearly named option, else no choice.

    Examples with options [Right, Left]:
      "B", "(B)", "b.", "Answer: B", "The answer is B"   -> Left (whole output a letter, or an explicit cue)
      "B: Left", "Left", "left breast", "LEFT."          -> Left
      "The answer is B. The right side is unremarkable"  -> Left (an explicit answer wins over other mentions)
      "Left or right, hard to say", "A: Right, B: Left"  -> no choice (two options named: ambiguous)
      "I cannot determine", "", "a mammogram"            -> no choice (the article "a" is not the letter A)
      "B: Right", "The answer is B: Right"               -> no choice (letter and text disagree)
    """
    lone = _lone_letters(pred, len(options))
    if lone is not None:
        return lone[0] if len(lone) == 1 else None
    named = _explicit_answers(pred, options)
    if named is None:
        named = _strict_mentions(pred, options)
    return next(iter(named)) if len(named) == 1 else None


def _strict_multiple(pred: str, options: tuple[str, ...]) -> list[int]:
    """Strict multiple choice: every option clearly named.

    Examples with options [Normal, Mass, Calcification, Skin thickening, Skin retraction]:
      "B, C", "B and C", "Answer: (B), (C)"             -> Calcification, Mass (whole output is letters)
      "Mass, Calcification", "B: Mass, C: Calcification" -> Calcification, Mass
      "Skin thickening"                                 -> Skin thickening only
      "a mass is seen"                                  -> Mass (the article "a" is not the letter A)
      "I cannot tell", ""                               -> no choice
    """
    lone = _lone_letters(pred, len(options))
    if lone is not None:
        return lone
    return sorted(_strict_mentions(pred, options))
