"""Report-generation metrics: BLEU-1..4, ROUGE-L, METEOR, CIDEr, BI-RADS/density accuracy, finding-term F1.

Why these and why so careful about names: AMRG (docs/protocol.md §8) reports ROUGE-L, METEOR, CIDEr and BI-RADS
accuracy, and the same metric name hides different numbers (NLTK's METEOR and the METEOR 1.5 jar differ by
~0.3 on the same text). Every table row therefore names the implementation and version that produced it.

* Text normalisation for the n-gram metrics follows coco-caption's PTB step in spirit (lower-case, punctuation
  removed) but in Python, so no CoreNLP Java process is needed: ``coco_tokenize``.
* BLEU and CIDEr are pycocoevalcap 1.2's scorers, fed all pairs at once. CIDEr's IDF comes from the
  references of the scored set, so per-pair CIDEr depends on that set (fine for paired comparisons, which
  share references).
* ROUGE-L is rouge-score 0.1.2's F-measure (its tokenizer, no stemming) computed with a bit-parallel LCS that
  gives identical numbers (tested) about 30x faster than its pure-Python table.
* METEOR is the METEOR 1.5 jar shipped in pycocoevalcap (Java), driven once for the whole batch, or
  NLTK's ``meteor_score`` (needs WordNet) on request.
* Clinical scores parse generated and reference text with ``report.parse``: a generation that states no BI-RADS
  is wrong; a reference without BI-RADS is excluded from that metric and counted.
* Confidence intervals are not drawn here: ``stats.report_intervals`` (the one home of clustered bootstraps,
  ``stats/``) draws the patient resamples and builds intervals and paired comparisons. What this module adds
  is what only the implementations can do: given those resamples (``resample=``), corpus BLEU and METEOR 1.5
  recomputed on each of them (``ReportScores.corpus_boot``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import threading
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from ..errors import MammoVQAError
from ..report.parse import BIRADS_CATEGORIES, collapse_birads, finding_terms, parse_birads, parse_density

MeteorBackend = Literal["1.5", "nltk", "none"]
DISPLAY = {"bleu_1": "BLEU-1", "bleu_2": "BLEU-2", "bleu_3": "BLEU-3", "bleu_4": "BLEU-4", "rouge_l": "ROUGE-L",
           "meteor": "METEOR", "cider": "CIDEr", "birads_acc": "BI-RADS accuracy",
           "birads4_acc": "BI-RADS accuracy (4a-4c as 4)", "density_acc": "Density accuracy",
           "finding_precision": "Finding precision", "finding_recall": "Finding recall", "finding_f1": "Finding F1"}


class MissingBackendError(MammoVQAError):
    """A metric's backend (Java, a jar, WordNet) is missing; the message names it and the alternative."""


def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "absent"


# ----------------------------------------------------------------------------------------------- text


_PUNCT_RE = re.compile(r"[^\w\s]|_", re.UNICODE)


def coco_tokenize(text: str | None) -> str:
    """Lower-cased, punctuation-free, single-spaced text (coco-caption PTB-like, pure Python)."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", str(text)).lower()
    return " ".join(_PUNCT_RE.sub(" ", text).split())


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Longest common subsequence length by the bit-parallel algorithm (Allison-Dix / Hyyro), O(n*m/wordsize)."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return 0
    masks: dict[str, int] = {}
    for i, tok in enumerate(a):
        masks[tok] = masks.get(tok, 0) | (1 << i)
    full = (1 << len(a)) - 1
    v = full
    for tok in b:
        u = v & masks.get(tok, 0)
        v = ((v + u) | (v - u)) & full
    return len(a) - v.bit_count()


def _rouge_tokens(text: str) -> list[str]:
    from rouge_score import tokenize

    return tokenize.tokenize(text or "", None)


def rouge_l(hyps: Sequence[str], refs: Sequence[str]) -> np.ndarray:
    """Per-pair ROUGE-L F-measure exactly as rouge-score 0.1.2 ``RougeScorer(["rougeL"])`` computes it."""
    out = np.zeros(len(hyps))
    for i, (h, r) in enumerate(zip(hyps, refs)):
        th, tr = _rouge_tokens(h), _rouge_tokens(r)
        if not th or not tr:
            continue
        lcs = lcs_length(tr, th)
        p, rc = lcs / len(th), lcs / len(tr)
        out[i] = 0.0 if lcs == 0 else 2 * p * rc / (p + rc)
    return out


# ----------------------------------------------------------------------------------------------- n-gram metrics


def bleu(hyps: Sequence[str], refs: Sequence[str]) -> tuple[list[float], np.ndarray]:
    """Corpus BLEU-1..4 and per-pair sentence BLEU (shape n x 4), pycocoevalcap's BleuScorer ('closest')."""
    from pycocoevalcap.bleu.bleu_scorer import BleuScorer

    scorer = BleuScorer(n=4)
    for h, r in zip(hyps, refs):
        scorer += (h, [r])
    corpus, per = scorer.compute_score(option="closest", verbose=0)
    return [float(x) for x in corpus], np.asarray(per, dtype=float).T


def bleu_stats(hyps: Sequence[str], refs: Sequence[str], n: int = 4) -> np.ndarray:
    """Per-pair BLEU sufficient statistics ``[testlen, reflen, guess_1..n, correct_1..n]`` (pycocoevalcap's
    cooking, one reference per pair), so corpus BLEU of any resample is a function of column sums."""
    from pycocoevalcap.bleu.bleu_scorer import BleuScorer

    scorer = BleuScorer(n=n)
    for h, r in zip(hyps, refs):
        scorer += (h, [r])
    rows = []
    for comps in scorer.ctest:
        reflen = comps["reflen"]
        reflen = min(reflen, key=lambda x: (abs(x - comps["testlen"]), x)) if isinstance(reflen, list) else reflen
        rows.append([comps["testlen"], reflen, *comps["guess"], *comps["correct"]])
    return np.asarray(rows, dtype=float).reshape(-1, 2 + 2 * n)


def corpus_bleu_from_sums(sums: np.ndarray, n: int = 4) -> np.ndarray:
    """Corpus BLEU-1..n from summed :func:`bleu_stats` rows (shape (..., 2 + 2n)) -> (..., n), exactly
    pycocoevalcap's corpus formula (its tiny/small smoothing and brevity penalty)."""
    small, tiny = 1e-9, 1e-15
    testlen, reflen = sums[..., 0], sums[..., 1]
    guess, correct = sums[..., 2:2 + n], sums[..., 2 + n:2 + 2 * n]
    logp = np.cumsum(np.log((correct + tiny) / (guess + small)), axis=-1) / np.arange(1, n + 1)
    ratio = (testlen + tiny) / (reflen + small)
    bp = np.where(ratio < 1, np.exp(1 - 1 / np.maximum(ratio, tiny)), 1.0)
    return np.exp(logp) * bp[..., None]


def cider(hyps: Sequence[str], refs: Sequence[str]) -> tuple[float, np.ndarray]:
    """Corpus (mean) and per-pair CIDEr from pycocoevalcap's CiderScorer (n=4, sigma=6)."""
    from pycocoevalcap.cider.cider_scorer import CiderScorer

    scorer = CiderScorer(n=4, sigma=6.0)
    for h, r in zip(hyps, refs):
        scorer += (h, [r])
    score, per = scorer.compute_score()
    return float(score), np.asarray(per, dtype=float)


# ----------------------------------------------------------------------------------------------- METEOR


def meteor15_jar() -> Path:
    """The jar beside pycocoevalcap's METEOR wrapper (pycocoevalcap is a namespace package: no ``__file__``)."""
    import importlib.util

    spec = importlib.util.find_spec("pycocoevalcap.meteor.meteor")
    if spec is None or spec.origin is None:
        raise MissingBackendError("pycocoevalcap is not installed (METEOR 1.5 jar); pip install pycocoevalcap==1.2 "
                                  "or use --meteor nltk")
    return Path(spec.origin).parent / "meteor-1.5.jar"


def _check_java() -> str:
    java = shutil.which("java")
    if java is None:
        raise MissingBackendError("METEOR 1.5 needs Java 17 (`java` not found on PATH); install "
                                  "openjdk-17-jre-headless or use --meteor nltk (NLTK meteor_score, needs WordNet) "
                                  "or --meteor none")
    if not meteor15_jar().exists():
        raise MissingBackendError(f"METEOR 1.5 jar not found at {meteor15_jar()}; reinstall pycocoevalcap==1.2 "
                                  "or use --meteor nltk")
    return java


def meteor15(hyps: Sequence[str], refs: Sequence[str]) -> tuple[float, np.ndarray]:
    """Corpus and per-pair METEOR 1.5 (``-l en -norm``) of one system: :func:`meteor15_systems` with one system."""
    return meteor15_systems({"": hyps}, refs)[""]


def _meteor_text(text: str) -> str:
    return " ".join(text.replace("|||", " ").split())


def _resampled_pairs(inv: np.ndarray, w: np.ndarray) -> list[np.ndarray]:
    """Pair indices of each bootstrap replicate: every pair of a cluster, repeated as often as it was drawn."""
    members = [np.flatnonzero(inv == c) for c in range(w.shape[1])]
    sizes = np.array([len(m) for m in members])
    flat = np.concatenate(members) if members else np.zeros(0, int)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]) if len(sizes) else np.zeros(0, int)
    out = []
    for row in w:
        picked = np.repeat(np.arange(len(members)), row)
        out.append(np.concatenate([flat[starts[c]:starts[c] + sizes[c]] for c in picked]) if picked.size
                   else np.zeros(0, int))
    return out


def meteor15_systems(hyps: Mapping[str, Sequence[str]], refs: Sequence[str],
                     resample: tuple[np.ndarray, np.ndarray] | None = None,
                     boot_out: dict[str, np.ndarray] | None = None) -> dict[str, tuple[float, np.ndarray]]:
    """Corpus and per-pair METEOR 1.5 (``-l en -norm``) of several systems against the same references, in ONE
    Java process (texts are scored as given: pass ``coco_tokenize``d text, as :func:`score_reports` does).

    Why one process: starting the jar (JVM + paraphrase tables) costs 5-20 s on two cores, and a report stage
    scores a model and three baselines. pycocoevalcap's wrapper does one pipe round trip per pair; here every
    distinct (hypothesis, reference) pair of every system is written once as a SCORE line by a thread while the
    main thread reads the statistics (a constant baseline repeats one text, so most of its pairs are shared),
    then one EVAL line per system returns its per-pair and corpus scores. The numbers equal one call per
    system (tested). The serial garbage collector changes no score; it saves ~10% CPU when Java shares a core.

    ``resample`` = (cluster code per pair, (B, k) multiplicities, see ``stats.bootstrap.cluster_multiplicities``) with ``boot_out``
    fills ``boot_out[name]`` with the corpus METEOR of each patient-clustered resample, computed by the same
    Java aggregation from the already computed per-pair statistics (one more EVAL line per resample): the
    interval of the corpus number itself, which a CI of the per-pair mean is not.
    """
    names = list(hyps)
    for name in names:
        if len(hyps[name]) != len(refs):
            raise ValueError(f"METEOR: system {name!r} has {len(hyps[name])} generations for {len(refs)} references")
    if not refs or not names:
        return {n: (float("nan"), np.zeros(0)) for n in names}
    java = _check_java()
    jar = meteor15_jar()
    clean_refs = [_meteor_text(r) for r in refs]
    unique: dict[tuple[str, str], int] = {}
    where = {n: np.array([unique.setdefault((_meteor_text(h), r), len(unique)) for h, r in zip(hyps[n], clean_refs)])
             for n in names}
    lines = [f"SCORE ||| {r} ||| {h}\n" for h, r in unique]
    out: dict[str, tuple[float, np.ndarray]] = {}
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([java, "-Xmx2G", "-XX:+UseSerialGC", "-jar", jar.name, "-", "-", "-stdio", "-l", "en", "-norm"],
                                cwd=jar.parent, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
        assert proc.stdin is not None and proc.stdout is not None
        stdin, stdout = proc.stdin, proc.stdout

        def feed() -> None:
            try:
                stdin.write("".join(lines).encode("utf-8"))
                stdin.flush()
            except BrokenPipeError:
                pass

        writer = threading.Thread(target=feed, daemon=True)
        writer.start()
        try:
            stats = [stdout.readline().decode().strip() for _ in lines]
            writer.join()
            if any(not s for s in stats):
                raise EOFError
            for name in names:
                # the corpus score pools statistics over *all* pairs, so duplicates are repeated in the EVAL line
                stdin.write(("EVAL ||| " + " ||| ".join(stats[i] for i in where[name]) + "\n").encode())
                stdin.flush()
                per = np.array([float(stdout.readline().strip()) for _ in where[name]])
                out[name] = (float(stdout.readline().strip()), per)
            if resample is not None and boot_out is not None:
                pairs = _resampled_pairs(*resample)
                for name in names:
                    boot_out[name] = _meteor_eval_many(stdin, stdout, [[stats[i] for i in where[name][p]]
                                                                       for p in pairs])
        except (EOFError, ValueError, BrokenPipeError) as exc:
            proc.kill()
            proc.wait()
            err.seek(0)
            tail = err.read().decode(errors="replace")[-800:]
            raise MissingBackendError(f"METEOR 1.5 (java -jar {jar.name}) failed: {tail or exc!r}; "
                                      "use --meteor nltk or --meteor none") from None
        stdin.close()
        proc.wait(timeout=60)
    return out


def _meteor_eval_many(stdin, stdout, stat_lists: list[list[str]]) -> np.ndarray:
    """Corpus METEOR of each list of per-pair statistics: EVAL lines written by a thread, answers read here."""
    def feed() -> None:
        try:
            for st in stat_lists:
                stdin.write(("EVAL ||| " + " ||| ".join(st) + "\n").encode())
            stdin.flush()
        except BrokenPipeError:
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    out = np.empty(len(stat_lists))
    for b, st in enumerate(stat_lists):
        for _ in st:
            stdout.readline()  # per-pair scores of the resample: not needed
        out[b] = float(stdout.readline().strip())
    writer.join()
    return out


WORDNET_DIRS: tuple[Path, ...] = (Path("/usr/share/wordnet"), Path("/usr/share/wordnet/dict"))


def _nltk_data_wordnet():
    from nltk.corpus import wordnet

    wordnet.ensure_loaded()
    return wordnet


def _nltk_wordnet():
    """NLTK's WordNet from nltk_data, or Debian's ``wordnet-base`` files in /usr/share/wordnet."""
    try:
        return _nltk_data_wordnet()
    except LookupError:
        pass
    for root in WORDNET_DIRS:
        if (root / "data.noun").exists():
            from nltk.corpus.reader.wordnet import WordNetCorpusReader

            return WordNetCorpusReader(str(root), None)
    raise MissingBackendError("NLTK meteor_score needs WordNet (not in nltk_data and /usr/share/wordnet absent); "
                              "run `apt-get install -y wordnet-base wordnet-sense-index` or use --meteor 1.5 "
                              "(Java 17)")


def meteor_nltk(hyps: Sequence[str], refs: Sequence[str]) -> tuple[float, np.ndarray]:
    """Per-pair NLTK ``meteor_score`` (alpha 0.9, beta 3, gamma 0.5) and their mean."""
    from nltk.translate.meteor_score import meteor_score

    wn = _nltk_wordnet()
    per = np.array([meteor_score([r.split()], h.split(), wordnet=wn) if h and r else 0.0
                    for h, r in zip(hyps, refs)])
    return (float(per.mean()) if len(per) else float("nan")), per


# ----------------------------------------------------------------------------------------------- clinical


def _finding_prf(gen: set[str], ref: set[str]) -> tuple[int, int, int, float, float, float]:
    tp, fp, fn = len(gen & ref), len(gen - ref), len(ref - gen)
    p = tp / (tp + fp) if tp + fp else (1.0 if not ref else 0.0)
    r = tp / (tp + fn) if tp + fn else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return tp, fp, fn, p, r, f


@lru_cache(maxsize=65536)
def _facts(text: str) -> tuple[str | None, str | None, frozenset[str]]:
    """Parsed (BI-RADS, density, finding terms) of one text, cached: baselines repeat one text thousands of times."""
    return parse_birads(text), parse_density(text), frozenset(finding_terms(text))


def clinical_scores(hyps: Sequence[str], refs: Sequence[str]) -> pd.DataFrame:
    """Per-pair parsed BI-RADS / density (reference and generation), correctness and finding-term P/R/F1.

    ``birads_correct`` is NaN where the reference states no BI-RADS (excluded); a generation without one is 0.
    Empty-set conventions: both empty -> P = R = F1 = 1; nothing generated but something referenced -> 0.
    """
    rows = []
    for h, r in zip(hyps, refs):
        b_ref, d_ref, f_ref = _facts(r or "")
        b_gen, d_gen, f_gen = _facts(h or "")
        tp, fp, fn, p, rc, f = _finding_prf(set(f_gen), set(f_ref))
        rows.append({
            "birads_ref": b_ref, "birads_gen": b_gen,
            "birads_correct": np.nan if b_ref is None else float(b_gen == b_ref),
            "birads4_correct": np.nan if b_ref is None else float(collapse_birads(b_gen) == collapse_birads(b_ref)),
            "density_ref": d_ref, "density_gen": d_gen,
            "density_correct": np.nan if d_ref is None else float(d_gen == d_ref),
            "finding_tp": tp, "finding_fp": fp, "finding_fn": fn,
            "finding_precision": p, "finding_recall": rc, "finding_f1": f,
        })
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------------- scoring


@dataclass
class ReportScores:
    per_pair: pd.DataFrame
    corpus: dict[str, float]
    counts: dict[str, int]
    implementations: dict[str, str]
    meteor_backend: str = "1.5"
    notes: dict[str, str] = field(default_factory=dict)
    # patient-clustered bootstrap replicates of corpus statistics that are not pair means (BLEU, METEOR 1.5):
    # the interval of the number actually reported, so it always contains its estimate
    corpus_boot: dict[str, np.ndarray] = field(default_factory=dict)

    def table(self, system: str = "") -> pd.DataFrame:
        """One row per metric: value, implementation (name and version), pairs counted, note."""
        rows = []
        for key, value in self.corpus.items():
            n = self.counts["pairs"]
            if key.startswith("birads"):
                n = self.counts["pairs"] - self.counts["reference_without_birads"]
            elif key.startswith("density"):
                n = self.counts["pairs"] - self.counts["reference_without_density"]
            rows.append({"system": system, "metric": DISPLAY.get(key, key), "key": key, "value": value,
                         "implementation": self.implementations.get(key, ""), "n": n,
                         "note": self.notes.get(key, "")})
        return pd.DataFrame(rows)


def _implementations(meteor: MeteorBackend) -> dict[str, str]:
    coco, rs, nl = _version("pycocoevalcap"), _version("rouge-score"), _version("nltk")
    impl = {f"bleu_{n}": f"pycocoevalcap {coco} BLEU (corpus, 'closest' ref length)" for n in range(1, 5)}
    impl["rouge_l"] = f"rouge-score {rs} ROUGE-L (F; bit-parallel LCS, identical scores)"
    impl["cider"] = f"pycocoevalcap {coco} CIDEr (n=4, sigma=6, IDF from the scored references)"
    impl["meteor"] = {"1.5": f"METEOR 1.5 (pycocoevalcap {coco} jar, Java; -l en -norm)",
                      "nltk": f"NLTK {nl} meteor_score (WordNet)", "none": "not computed"}[meteor]
    for k in ("birads_acc", "birads4_acc", "density_acc", "finding_precision", "finding_recall", "finding_f1"):
        impl[k] = "mammovqa.report.parse (rule-based)"
    return impl


def _checked_resample(resample: tuple[np.ndarray, np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """``resample`` if it codes exactly ``n`` pairs; a resample of other pairs would pair the wrong scores."""
    inv, w = resample
    if len(inv) != n:
        raise ValueError(f"the patient resample codes {len(inv)} pairs, but {n} pairs are scored")
    return np.asarray(inv), np.asarray(w)


def score_reports(generations: Sequence[str | None], references: Sequence[str | None],
                  ids: Sequence[str] | None = None, patient_ids: Sequence[str] | None = None,
                  meteor: MeteorBackend = "1.5",
                  resample: tuple[np.ndarray, np.ndarray] | None = None) -> ReportScores:
    """Score generated reports against references (same order); never raises on bad text.

    ``resample`` (patient code per pair, (B, k) multiplicities: ``stats.report_intervals.patient_resample``)
    also stores the corpus BLEU values of every resample (``corpus_boot``), from per-pair sufficient
    statistics: the replicates behind the interval of the corpus number itself.

    Bad input is scored and counted: empty generations score 0 on text metrics and are wrong on BI-RADS;
    ``None`` is treated as empty; non-ASCII text is kept (NFKC-normalised). Corpus BLEU and METEOR are the
    implementations' corpus statistics; ROUGE-L, CIDEr and the clinical accuracies are means over pairs;
    finding P/R/F1 are micro-averaged over all terms of all pairs.
    """
    if len(generations) != len(references):
        raise ValueError(f"{len(generations)} generations vs {len(references)} references")
    n = len(references)
    gens = ["" if g is None else str(g) for g in generations]
    refs = ["" if r is None else str(r) for r in references]
    tg, tr = [coco_tokenize(g) for g in gens], [coco_tokenize(r) for r in refs]

    per = pd.DataFrame({"id": list(ids) if ids is not None else [str(i) for i in range(n)],
                        "patient_id": list(patient_ids) if patient_ids is not None else
                        (list(ids) if ids is not None else [str(i) for i in range(n)])})
    corpus: dict[str, float] = {}
    notes: dict[str, str] = {}
    boot: dict[str, np.ndarray] = {}
    if n:
        b_corpus, b_per = bleu(tg, tr)
        for k in range(4):
            per[f"bleu_{k + 1}"] = b_per[:, k]
            corpus[f"bleu_{k + 1}"] = b_corpus[k]
        if resample is not None:
            inv, w = _checked_resample(resample, n)
            stats = bleu_stats(tg, tr)
            sums = np.stack([np.bincount(inv, weights=stats[:, j], minlength=w.shape[1])
                             for j in range(stats.shape[1])], axis=1)
            reps = corpus_bleu_from_sums(w.astype(float) @ sums)
            boot = {f"bleu_{k + 1}": reps[:, k] for k in range(4)}
        per["rouge_l"] = rouge_l(gens, refs)
        corpus["rouge_l"] = float(per["rouge_l"].mean())
        if meteor != "none":
            m_corpus, m_per = meteor15(tg, tr) if meteor == "1.5" else meteor_nltk(tg, tr)
            per["meteor"], corpus["meteor"] = m_per, m_corpus
        c_corpus, c_per = cider(tg, tr)
        per["cider"], corpus["cider"] = c_per, c_corpus
    clin = clinical_scores(gens, refs)
    per = pd.concat([per, clin], axis=1) if n else per
    counts = {
        "pairs": n,
        "empty_generation": sum(not t for t in tg),
        "generation_without_birads": int(clin["birads_gen"].isna().sum()) if n else 0,
        "reference_without_birads": int(clin["birads_ref"].isna().sum()) if n else 0,
        "reference_without_density": int(clin["density_ref"].isna().sum()) if n else 0,
        "non_ascii_generation": sum(not g.isascii() for g in gens),
        "non_ascii_reference": sum(not r.isascii() for r in refs),
        "unterminated_generation": sum(bool(g.strip()) and g.strip()[-1] not in ".!?" for g in gens),
    }
    if n:
        corpus["birads_acc"] = float(np.nanmean(clin["birads_correct"])) if clin["birads_correct"].notna().any() \
            else float("nan")
        corpus["birads4_acc"] = float(np.nanmean(clin["birads4_correct"])) if clin["birads4_correct"].notna().any() \
            else float("nan")
        corpus["density_acc"] = float(np.nanmean(clin["density_correct"])) if clin["density_correct"].notna().any() \
            else float("nan")
        tp, fp, fn = (int(clin[c].sum()) for c in ("finding_tp", "finding_fp", "finding_fn"))
        p = tp / (tp + fp) if tp + fp else float("nan")
        r = tp / (tp + fn) if tp + fn else float("nan")
        corpus["finding_precision"], corpus["finding_recall"] = p, r
        corpus["finding_f1"] = 2 * p * r / (p + r) if (tp and p + r) else 0.0
        notes["birads_acc"] = (f"{counts['reference_without_birads']} references without BI-RADS excluded; "
                               f"{counts['generation_without_birads']} generations without BI-RADS counted wrong")
        notes["birads4_acc"] = notes["birads_acc"]
        notes["density_acc"] = f"{counts['reference_without_density']} references without density excluded"
        notes["cider"] = "per-pair CIDEr depends on the reference set (IDF)"
    return ReportScores(per, corpus, counts, _implementations(meteor), meteor, notes,
                        corpus_boot=boot if n and resample is not None else {})


def score_systems(generations: Mapping[str, Sequence[str | None]], references: Sequence[str | None],
                  ids: Sequence[str] | None = None, patient_ids: Sequence[str] | None = None,
                  meteor: MeteorBackend = "1.5",
                  resample: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, ReportScores]:
    """:func:`score_reports` of several systems on the same pairs; with METEOR 1.5, one Java process for all.

    Every other metric is computed per system exactly as :func:`score_reports` does; the METEOR column and corpus
    value come from :func:`meteor15_systems`, so the scores equal one ``score_reports`` call per system.
    """
    if meteor != "1.5":
        return {name: score_reports(gens, references, ids, patient_ids, meteor=meteor, resample=resample)
                for name, gens in generations.items()}
    scores = {name: score_reports(gens, references, ids, patient_ids, meteor="none", resample=resample)
              for name, gens in generations.items()}
    if not len(references):
        return scores
    tokenized = {name: [coco_tokenize(g) for g in gens] for name, gens in generations.items()}
    impl = _implementations("1.5")["meteor"]
    boot: dict[str, np.ndarray] = {}
    for name, (corpus, per) in meteor15_systems(tokenized, [coco_tokenize(r) for r in references],
                                                resample, boot).items():
        sc = scores[name]
        sc.per_pair.insert(list(sc.per_pair.columns).index("cider"), "meteor", per)
        sc.corpus["meteor"] = corpus
        sc.implementations["meteor"], sc.meteor_backend = impl, "1.5"
        if name in boot:
            sc.corpus_boot["meteor"] = boot[name]
    return scores


# ----------------------------------------------------------------------------------------------- BI-RADS confusion

NO_BIRADS = "none"


def birads_confusion(reference: Sequence[str | None], generated: Sequence[str | None],
                     categories: Sequence[str] | None = None) -> pd.DataFrame:
    """Counts of (reference, generated) BI-RADS; references without BI-RADS are left out, a generation
    without one lands in the ``none`` column so missing statements stay visible."""
    pairs = [(r, g if g is not None else NO_BIRADS) for r, g in zip(reference, generated) if r is not None]
    seen = {c for p in pairs for c in p}
    cats = list(categories) if categories else [c for c in BIRADS_CATEGORIES if c in seen]
    cols = cats + ([NO_BIRADS] if NO_BIRADS in seen or categories is None else [])
    mat = pd.DataFrame(0, index=pd.Index(cats, name="reference"), columns=pd.Index(cols, name="generated"))
    for r, g in pairs:
        if r in mat.index and g in mat.columns:
            mat.loc[r, g] += 1
    return mat


def _birads_or_none(values: Sequence[object]) -> list[str | None]:
    """Category strings, with None for missing values (None, NaN, empty) as read back from a CSV."""
    return [v if isinstance(v, str) and v else None for v in values]


def per_pair_birads_confusion(per_pair: pd.DataFrame) -> pd.DataFrame:
    """:func:`birads_confusion` of a per-pair score table (columns ``birads_ref``, ``birads_gen``)."""
    return birads_confusion(_birads_or_none(per_pair["birads_ref"]), _birads_or_none(per_pair["birads_gen"]))
