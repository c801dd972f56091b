"""The report-generation stage of a run (AMRG, docs/protocol.md §8): data -> fine-tune -> generate -> baselines ->
metrics with patient-clustered CIs -> tables and manuscript variables (figures: notebook 06, from these files).

Why one function writes every data file: the notebook (06) and the paper read only these files, so restyling a
figure never re-runs a model, and figures are drawn in one place (the notebooks) for every stage. The profile's
caps (``caps_for``) come from ``configs/profiles.yaml``: the recipe is the method (what the study would publish),
the caps are the budget of a machine (the default profile must finish in six minutes on two CPU cores).

The tiny CPU model (recipe ``report_tiny_cpu.yaml``) is fine-tuned from ``report_tiny_vlm()``, a tiny VLM built at
the phantom's full 256 px with 32-px patches (the same 64 image tokens as the shared 64-px tiny VLM, whose lesions
are one or two pixels), for 2 epochs with reports naming a finding seen twice per epoch (``lesion_oversample``).
See ``configs/profiles.yaml`` for the measurements behind that choice; METEOR 1.5 comes from
``eval.report_metrics.score_systems`` (all systems in one Java process).

Outputs (``RunPaths``):
    results/<run>/reports/dataset.jsonl(+.meta.json)   rows, patient split, checksum, unparseable references
    results/<run>/reports/generations/<system>_test.jsonl   provenance line, then id, patient_id, generated,
                                                             reference
    results/<run>/reports/per_pair.csv                   every per-pair score of every system
    results/<run>/reports/stage_summary.json             timings, counts, caps, METEOR backend
    results/<run>/train/<recipe>/                        checkpoints, final/, log_history.csv
    results/<run>/tables/report_metrics.{csv,md}        metrics + 95% CIs, published AMRG rows beside them
    results/<run>/tables/report_comparisons.{csv,md}    paired model-minus-baseline differences
    results/<run>/tables/report_clinical_errors.{csv,md}  clinical errors per system next to BLEU/ROUGE-L/METEOR/
                                                         CIDEr (``eval.clinical``), errors per report with a CI
    results/<run>/tables/report_clinical_facts.{csv,md}  per-fact precision/recall/F1 with patient-clustered CIs
    results/<run>/reports/clinical_per_pair.csv          every pair's clinical errors and per-fact tp/fp/fn
    results/<run>/vars/report.json                      manuscript variables ``report_*``
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..budgets import ReportBudget, report_budget
from ..config import get_profile
from ..data.records import Record
from ..errors import MammoVQAError
from ..io import read_jsonl, write_json_atomic
from ..outputs import data_note, write_table, write_variables
from ..paths import PAPER_DIR, RunPaths, portable_path, resolve, safe_name
from ..train.recipe import load_recipe
from .train import (
    generations_current,
    read_generations,
    select_rows,
    train_report_model,
    write_generations,
)

# ----------------------------------------------------------------------------------------------- budget


MODEL_SYSTEM = "fine-tuned"
#: The extractor's hand-written phrasing corpus; its per-fact accuracy is quoted by the manuscript. Found beside
#: the package sources (not under ``MAMMOVQA_ROOT``, which may be a scratch run folder).
CLINICAL_CORPUS = Path(__file__).resolve().parents[3] / "tests" / "data" / "clinical_corpus.yaml"
BASELINE_NAMES = {"mode report": "baseline: mode report", "nearest neighbour": "baseline: nearest neighbour",
                  "majority BI-RADS": "baseline: majority BI-RADS"}
PUBLISHED_SYSTEM = "AMRG (published)"
#: Metrics of the table and figure.
HEADLINE = ("rouge_l", "meteor", "cider", "bleu_4", "birads_acc", "density_acc", "finding_f1")
FIGURE_METRICS = ("rouge_l", "meteor", "cider", "birads_acc")
#: published.yaml keys of the AMRG numbers, by metric key.
PUBLISHED_KEYS = {"rouge_l": "amrg_rouge_l", "meteor": "amrg_meteor", "cider": "amrg_cider",
                  "birads_acc": "amrg_birads_accuracy"}


def caps_for(profile: str) -> ReportBudget:
    """The profile's budget (``configs/profiles.yaml``, section ``report``; measurements there); an unknown
    profile (a user-defined one) gets the default budget."""
    get_profile(profile)  # raises a ConfigError naming the known profiles
    return report_budget(profile)


def source_label(run: RunPaths) -> str:
    return "phantom (synthetic)" if run.source == "phantom" else "real"


# ----------------------------------------------------------------------------------------------- data


def report_records(records: Sequence[Record], source: str) -> list[Record]:
    """Whole-breast images with a report, as in DMID (one report per image).

    Finding crops and exams are left out: a report describes one full mammogram. Phantom breast records lacking a
    report get one from the grammar (``build_report_dataset(phantom_seed=...)``); real records without a report
    (every dataset but DMID) are simply not report data.
    """
    keep = [r for r in records if r.kind == "breast"]
    if source != "phantom":
        keep = [r for r in keep if r.report and r.report.strip()]
    return keep


def build_stage_dataset(run: RunPaths) -> Any:
    """Report rows of the run, patient-split with the run's seed, written beside the other stage outputs."""
    from .data import build_report_dataset, write_report_dataset

    if not run.records.exists():
        raise MammoVQAError(f"{run.records} not found: run `mammovqa data build --source {run.source} "
                            f"--profile {run.profile} --seed {run.seed}` first")
    records = [Record.from_json({k: v for k, v in r.items() if k in Record.__dataclass_fields__})
               for r in read_jsonl(run.records)]
    chosen = report_records(records, run.source)
    ds = build_report_dataset(chosen, seed=run.seed, phantom_seed=run.seed if run.source == "phantom" else None)
    if not ds.split("train") or not ds.split("test"):
        raise MammoVQAError(f"{run.records}: report data has no train or no test rows ({ds.counts()}); "
                            "a report needs at least three patients with reports")
    write_report_dataset(ds, run.reports / "dataset.jsonl")
    return ds


def oversample_lesions(rows: Sequence[dict[str, Any]], copies: int) -> list[dict[str, Any]]:
    """``rows`` with every report that names a finding repeated ``copies`` times (the Trainer shuffles)."""
    if copies <= 1:
        return list(rows)
    from .parse import finding_terms

    return [*rows, *(r for r in rows if finding_terms(r["report"]) for _ in range(copies - 1))]


# ----------------------------------------------------------------------------------------------- scoring


def choose_meteor(requested: str = "auto") -> str:
    """METEOR 1.5 (the jar coco-caption and most report papers use) when Java runs it, else NLTK, else none."""
    if requested != "auto":
        return requested
    from ..eval.report_metrics import MissingBackendError, _check_java, _nltk_wordnet

    try:
        _check_java()
        return "1.5"
    except MissingBackendError:
        pass
    try:
        _nltk_wordnet()
        return "nltk"
    except (MissingBackendError, ImportError):
        return "none"


def meteor15_systems(hyps: dict[str, Sequence[str]], refs: Sequence[str]) -> dict[str, tuple[float, np.ndarray]]:
    """METEOR 1.5 of several systems' raw report texts in one Java process (``coco_tokenize``d first, as in
    scoring): ``eval.report_metrics.meteor15_systems``, which every METEOR 1.5 score of the project goes through."""
    from ..eval.report_metrics import coco_tokenize
    from ..eval.report_metrics import meteor15_systems as _meteor15_systems

    return _meteor15_systems({n: [coco_tokenize(h) for h in texts] for n, texts in hyps.items()},
                             [coco_tokenize(r) for r in refs])


def score_systems(generations: dict[str, list[str]], rows: Sequence[dict[str, Any]], meteor: str, n_boot: int,
                  seed: int) -> dict[str, Any]:
    """``ReportScores`` per system, all on the same (id-ordered) pairs; METEOR 1.5 in one Java process; corpus
    BLEU and METEOR replicates on the ``n_boot`` patient resamples of ``seed`` that the intervals and the
    comparisons of this stage use too."""
    from ..eval.report_metrics import score_systems as _score_systems
    from ..stats.report_intervals import patient_resample

    patients = [r["patient_id"] for r in rows]
    return _score_systems(generations, [r["report"] for r in rows], [r["id"] for r in rows], patients,
                          meteor=meteor, resample=patient_resample(patients, n_boot, seed))  # type: ignore[arg-type]


def metrics_table(scores: dict[str, Any], label: str, n_boot: int, seed: int,
                  published_yaml: Path | None = PAPER_DIR / "published.yaml") -> pd.DataFrame:
    """Long table: one row per (system, metric) with a patient-clustered 95% CI, then the published AMRG rows.

    The value is the implementation's corpus statistic (BLEU, METEOR), the micro finding F1 or the pair mean;
    the CI is of that same value (``value_interval``): the statistic recomputed on patient-clustered resamples.
    """
    from ..eval.report_metrics import DISPLAY
    from ..stats.report_intervals import value_interval

    rows = []
    for system, sc in scores.items():
        for key in HEADLINE:
            if key not in sc.corpus:
                continue
            ci = value_interval(sc, key, n_boot, seed)
            note = sc.notes.get(key, "")
            if key in ("meteor", "bleu_4"):
                how = ("CI: corpus statistic over patient resamples" if key in getattr(sc, "corpus_boot", {})
                       else "no CI: corpus statistic without patient resamples")
                note = "; ".join(x for x in (note, how) if x)
            n = sc.counts["pairs"] - (sc.counts["reference_without_birads"] if key.startswith("birads") else
                                      sc.counts["reference_without_density"] if key.startswith("density") else 0)
            rows.append({"system": system, "data_source": label, "metric": DISPLAY.get(key, key), "key": key,
                         "value": sc.corpus[key], "ci_low": ci["ci_low"], "ci_high": ci["ci_high"], "n": n,
                         "implementation": sc.implementations.get(key, ""), "note": note})
    rows.extend(published_rows(published_yaml))
    return pd.DataFrame(rows, columns=["system", "data_source", "metric", "key", "value", "ci_low", "ci_high", "n",
                                       "implementation", "note"])


def published_rows(published_yaml: Path | None) -> list[dict[str, Any]]:
    """AMRG's four numbers (paper/published.yaml), labelled as published on real DMID reports."""
    if published_yaml is None or not Path(published_yaml).exists():
        return []
    from ..eval.report_metrics import DISPLAY
    from ..published import load_published

    pub = load_published(Path(published_yaml))
    out = []
    for key, pkey in PUBLISHED_KEYS.items():
        if pkey in pub:
            out.append({"system": PUBLISHED_SYSTEM, "data_source": "published (real DMID reports)",
                        "metric": DISPLAY.get(key, key), "key": key, "value": float(pub[pkey]["value"]),
                        "ci_low": np.nan, "ci_high": np.nan, "n": np.nan, "implementation": pub[pkey].get("label", ""),
                        "note": pub[pkey]["source_text"]})
    return out


def per_pair_frame(scores: dict[str, Any]) -> pd.DataFrame:
    return pd.concat([sc.per_pair.assign(system=name) for name, sc in scores.items()], ignore_index=True)


# ----------------------------------------------------------------------------------------------- clinical errors

#: Text metrics copied beside the clinical errors, so one table shows wording and clinical truth together.
WORDING_METRICS = ("bleu_4", "rouge_l", "meteor", "cider")


def clinical_per_pair(generations: dict[str, Sequence[str]], rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Every pair's clinical errors (``eval.clinical.clinical_error_rows``) for every system, tagged by system."""
    from ..eval.clinical import clinical_error_rows

    refs, ids, patients = [r["report"] for r in rows], [r["id"] for r in rows], [r["patient_id"] for r in rows]
    frames = [pd.DataFrame(clinical_error_rows(list(texts), refs, ids, patients)).assign(system=system)
              for system, texts in generations.items()]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _patient_sums(pairs: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """(patients, len(columns)) sums: the resampling unit of the clustered bootstrap is the patient."""
    return pairs.groupby(pairs["patient_id"].astype(str), sort=True)[list(columns)].sum().to_numpy(float)


def _ratio_ci(rows: np.ndarray, n_boot: int, seed: int, num: Sequence[int], den: Sequence[int]) -> tuple[float, ...]:
    """Estimate and percentile CI of sum(rows[num]) / sum(rows[den]) with ``stats.bootstrap.cluster_bootstrap``."""
    from ..stats.bootstrap import cluster_bootstrap

    def stat(s: np.ndarray) -> np.ndarray:
        d = s[:, list(den)].sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(d > 0, s[:, list(num)].sum(axis=1) / np.where(d > 0, d, 1), np.nan)

    if rows.shape[0] == 0:
        return float("nan"), float("nan"), float("nan")
    res = cluster_bootstrap(rows, stat, n_boot=n_boot, seed=seed)
    return res.estimate, res.ci_low, res.ci_high


def clinical_error_table(pairs: pd.DataFrame, scores: dict[str, Any], label: str, n_boot: int,
                         seed: int) -> pd.DataFrame:
    """One row per system: BLEU-4/ROUGE-L/METEOR/CIDEr beside the clinical error counts of ``eval.clinical``.

    ``errors_per_report`` (all five error types summed, per report) has a patient-clustered 95% CI; the counts
    are totals over the test reports; ``birads_distance_mean`` is over pairs where both state a category.
    """
    from ..eval.clinical import ERROR_TYPES

    out = []
    for system, g in pairs.groupby("system", sort=False):
        g = g.assign(total_errors=g[list(ERROR_TYPES)].sum(axis=1), one=1.0)
        est, lo, hi = _ratio_ci(_patient_sums(g, ["total_errors", "one"]), n_boot, seed, [0], [1])
        corpus = scores[system].corpus if system in scores else {}
        dist = pd.to_numeric(g["birads_distance"], errors="coerce")
        out.append({"system": system, "data_source": label, "n_reports": len(g),
                    **{k: corpus.get(k, np.nan) for k in WORDING_METRICS},
                    **{k: int(g[k].sum()) for k in ERROR_TYPES},
                    "birads_distance_mean": float(dist.mean()) if dist.notna().any() else np.nan,
                    "unanswerable": int(g["unanswerable"].sum()),
                    "errors_per_report": est, "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(out)


def clinical_fact_table(pairs: pd.DataFrame, label: str, n_boot: int, seed: int) -> pd.DataFrame:
    """Per system and fact: micro precision, recall and F1 over the test reports, each with a patient-clustered
    95% CI from the one clustered bootstrap of ``stats/`` (same seed, so the three share their resamples)."""
    from ..eval.clinical import FACTS

    out = []
    for system, g in pairs.groupby("system", sort=False):
        for fact in FACTS:
            cols = [f"{fact}_tp", f"{fact}_fp", f"{fact}_fn"]
            rows = _patient_sums(g, cols)
            row: dict[str, Any] = {"system": system, "data_source": label, "fact": fact,
                                   **{c.rsplit("_", 1)[1]: int(g[c].sum()) for c in cols}}
            # tp appears twice in the F1 denominator: 2tp / (2tp + fp + fn)
            for name, num, den in (("precision", [0], [0, 1]), ("recall", [0], [0, 2]), ("f1", [0, 0], [0, 0, 1, 2])):
                est, lo, hi = _ratio_ci(rows, n_boot, seed, num, den)
                row.update({name: est, f"{name}_ci_low": lo, f"{name}_ci_high": hi})
            out.append(row)
    return pd.DataFrame(out)


def clinical_variables(errors: pd.DataFrame, facts: pd.DataFrame) -> dict[str, str]:
    """Manuscript variables ``report_clin_*`` of the fine-tuned model and the retrieval baseline."""
    from ..eval.clinical import ERROR_TYPES

    e = errors.set_index("system")
    f = facts.set_index(["system", "fact"])
    nn = BASELINE_NAMES["nearest neighbour"]
    out: dict[str, str] = {}
    if MODEL_SYSTEM in e.index:
        m = e.loc[MODEL_SYSTEM]
        out["clin_errors_per_report"] = _f(float(m["errors_per_report"]), 2)
        out["clin_errors_per_report_ci"] = f"{_f(float(m['ci_low']), 2)}-{_f(float(m['ci_high']), 2)}"
        out.update({f"clin_{k}": f"{int(m[k]):,}" for k in ERROR_TYPES})
        for fact in ("abnormality", "birads", "density", "laterality"):
            if (MODEL_SYSTEM, fact) in f.index:
                out[f"clin_{fact}_f1"] = _f(float(f.loc[(MODEL_SYSTEM, fact), "f1"]))
    if nn in e.index:
        out["clin_retrieval_errors_per_report"] = _f(float(e.loc[nn, "errors_per_report"]), 2)
    best = e["errors_per_report"].idxmin() if e["errors_per_report"].notna().any() else None
    out["clin_fewest_errors_system"] = str(best) if best is not None else "n/a"
    return out


def extractor_variables(corpus: Path | None) -> dict[str, str]:
    """Per-fact accuracy of the extractor on the hand-written phrasing corpus (``tests/data/``); "n/a" for every
    value when the corpus is not there (an installed package without its tests), so the manuscript still builds."""
    from ..eval.clinical import FACTS, corpus_accuracy

    if corpus is None or not Path(corpus).exists():
        keys = [f"extractor_{k}_acc" for k in FACTS] + ["extractor_corpus_n", "extractor_misses",
                                                        "extractor_holdout_n", "extractor_holdout_min_acc"]
        return dict.fromkeys(keys, "n/a")
    res = corpus_accuracy(corpus)
    out = {f"extractor_{k}_acc": _f(100 * v, 1) for k, v in res["accuracy"].items() if k in FACTS}
    out["extractor_corpus_n"] = f"{res['n']:,}"
    out["extractor_misses"] = f"{len(res['misses']):,}"
    hold = corpus_accuracy(corpus, split="holdout")
    if hold["n"]:
        out["extractor_holdout_n"] = f"{hold['n']:,}"
        out["extractor_holdout_min_acc"] = _f(100 * min(hold["accuracy"].values()), 1)
    return out


# ----------------------------------------------------------------------------------------------- notebook 06 data


def birads_confusion(per_pair: pd.DataFrame) -> pd.DataFrame:
    """Counts of reference (rows) x generated (columns) BI-RADS; a generation stating none is column 'none'."""
    from ..eval.report_metrics import per_pair_birads_confusion

    return per_pair_birads_confusion(per_pair)


# ----------------------------------------------------------------------------------------------- variables


def _f(x: float, digits: int = 3) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def stage_variables(table: pd.DataFrame, comparisons: pd.DataFrame, scores: dict[str, Any], n_train: int,
                    train_seconds: float, meteor_impl: str) -> dict[str, str]:
    """Manuscript variables (``report_<name>``), every value a formatted string."""
    val = table.set_index(["system", "key"])

    def v(system: str, key: str) -> float:
        return float(val.loc[(system, key), "value"]) if (system, key) in val.index else float("nan")

    def ci(system: str, key: str) -> str:
        if (system, key) not in val.index:
            return "n/a"
        row = val.loc[(system, key)]
        return f"{_f(float(row['ci_low']))}-{_f(float(row['ci_high']))}"

    nn, mode, maj = (BASELINE_NAMES[k] for k in ("nearest neighbour", "mode report", "majority BI-RADS"))
    out = {k: _f(v(MODEL_SYSTEM, k)) for k in HEADLINE}
    out.update({f"{k}_ci": ci(MODEL_SYSTEM, k) for k in FIGURE_METRICS})
    out.update({
        "majority_birads_acc": _f(v(maj, "birads_acc")), "retrieval_rouge_l": _f(v(nn, "rouge_l")),
        "retrieval_birads_acc": _f(v(nn, "birads_acc")), "retrieval_meteor": _f(v(nn, "meteor")),
        "mode_rouge_l": _f(v(mode, "rouge_l")), "mode_birads_acc": _f(v(mode, "birads_acc")),
        "meteor_impl": meteor_impl, "n_test_reports": f"{scores[MODEL_SYSTEM].counts['pairs']:,}",
        "n_train_reports": f"{n_train:,}", "train_seconds": f"{train_seconds:.0f}",
    })
    for metric in ("rouge_l", "birads_acc"):
        sel = comparisons[(comparisons["baseline"] == nn) & (comparisons["metric"] == metric)]
        if len(sel):
            short = "birads" if metric == "birads_acc" else metric
            row = sel.iloc[0]
            out[f"{short}_gain_over_retrieval"] = _f(float(row["diff"]))
            out[f"{short}_gain_over_retrieval_ci"] = f"{_f(float(row['ci_low']))} to {_f(float(row['ci_high']))}"
            out[f"{short}_vs_retrieval_p"] = _f(float(row["p"]))
    return out


# ----------------------------------------------------------------------------------------------- degenerate output


def degenerate_reports(rows: Sequence[dict[str, Any]], generated: Sequence[str]) -> dict[str, Any] | None:
    """The fine-tuned model's generations through ``eval.degenerate.degenerate_outputs`` (None: they vary).

    Why: a report model that writes one report for every image (or nothing) still gets ROUGE-L, METEOR and a BI-RADS
    accuracy; the smoke profile's model writes the same report for all its test images. The stage summary, the
    notebook and the abstract must then say that its scores measure one repeated report, not the model.
    """
    from ..eval.degenerate import degenerate_outputs

    return degenerate_outputs({r["id"]: {"output": g, "error": None} for r, g in zip(rows, generated, strict=True)})


def degenerate_note(flag: dict[str, Any] | None) -> str:
    """The manuscript's sentence for a degenerate report model (``report_degenerate_note``); "" when it is not."""
    if not flag:
        return ""
    n_identical = round(flag["top_share"] * flag["n"])  # top_share is rounded to 4 digits: exact for n < 5000
    parts = [f"{flag['n_empty']:,} empty"] if flag["n_empty"] else []
    parts += [f"{n_identical:,} identical"] if n_identical else []
    return (f"The fine-tuned report model's output was degenerate ({' and '.join(parts)} of its {flag['n']:,} test "
            "reports), so its report metrics measure a constant output, not a reading of the images.")


# ----------------------------------------------------------------------------------------------- the stage


def _log(msg: str) -> None:
    print(f"[report] {msg}", flush=True)


def run_report_stage(run: RunPaths, recipe_file: str | Path = "report_tiny_cpu.yaml", *,
                     base_path: str | Path | None = None, caps: ReportBudget | None = None, meteor: str = "auto",
                     force: bool = False, max_steps: int = -1,
                     published_yaml: Path | None = PAPER_DIR / "published.yaml") -> dict[str, Any]:
    """Run the whole stage; resumable: a finished model is not retrained, current generations not redone."""
    from ..stats.report_intervals import compare_with_baselines
    from .baselines import run_baselines

    t_start = time.perf_counter()
    caps = caps or caps_for(run.profile)
    recipe = load_recipe(recipe_file)
    tiny = recipe.base_model == "tiny-vlm"
    if tiny and caps.max_new_tokens != recipe.max_new_tokens:
        recipe = replace(recipe, max_new_tokens=caps.max_new_tokens)
    ds = build_stage_dataset(run)
    train_rows = select_rows(ds.split("train"), caps.train_max, run.seed)
    val_rows = select_rows(ds.split("val"), caps.val_max, run.seed)
    test_rows = sorted(select_rows(ds.split("test"), caps.test_max, run.seed), key=lambda r: r["id"])
    _log(f"{run.name}: {len(train_rows)} train / {len(val_rows)} val / {len(test_rows)} test reports")

    base = Path(base_path) if base_path else _base_weights(recipe.base_model)
    out_dir = run.train / recipe.name
    fit_rows = oversample_lesions(train_rows, caps.lesion_oversample)
    summary = train_report_model(recipe, fit_rows, val_rows, base, out_dir, seed=run.seed,
                                 epochs=caps.epochs if tiny else None, max_steps=max_steps, force=force, root=run.root)
    _log(f"training {'skipped (final model exists)' if summary['skipped'] else 'done'}: "
         f"{summary['steps']} steps, {summary['train_seconds']} s")

    t0 = time.perf_counter()
    gen_dir = run.reports / "generations"
    model_file = gen_dir / f"{safe_name(recipe.name)}_test.jsonl"
    if summary["skipped"] and generations_current(model_file, test_rows, recipe.name, recipe.max_new_tokens):
        generated = [r["generated"] for r in read_generations(model_file)[1]]
        _log(f"generations current, reused: {model_file}")
    else:
        from .train import generate_reports, generation_model_dir

        model_dir = generation_model_dir(resolve(summary["model_dir"], run.root), base)
        generated = generate_reports(model_dir, test_rows, batch_size=caps.batch_size,
                                     max_new_tokens=recipe.max_new_tokens, seed=run.seed)
        write_generations(model_file, recipe.name, test_rows, generated, seed=run.seed,
                          max_new_tokens=recipe.max_new_tokens, decoding="greedy", model_path=summary["model_dir"],
                          data_sha256=ds.checksum)
    generate_seconds = time.perf_counter() - t0

    t0 = time.perf_counter()
    gens = {MODEL_SYSTEM: generated}
    for name, texts in run_baselines(train_rows, test_rows).items():
        system = BASELINE_NAMES[name]
        gens[system] = texts
        write_generations(gen_dir / f"{safe_name(system.replace(': ', '__').replace(' ', '-'))}_test.jsonl",
                          system, test_rows, texts, seed=run.seed, data_sha256=ds.checksum)
    backend = choose_meteor(meteor)
    scores = score_systems(gens, test_rows, backend, caps.n_boot, run.seed)
    label = source_label(run)
    table = metrics_table(scores, label, caps.n_boot, run.seed, published_yaml)
    comparisons = compare_with_baselines(scores[MODEL_SYSTEM], {k: v for k, v in scores.items() if k != MODEL_SYSTEM},
                                         n_boot=caps.n_boot, seed=run.seed)
    per_pair = per_pair_frame(scores)
    clinical_pairs = clinical_per_pair(gens, test_rows)
    clinical = clinical_error_table(clinical_pairs, scores, label, caps.n_boot, run.seed)
    clinical_facts = clinical_fact_table(clinical_pairs, label, caps.n_boot, run.seed)
    score_seconds = time.perf_counter() - t0

    note = data_note(run.source)
    write_table(table, run.tables / "report_metrics", float_digits=3, note=note)
    write_table(comparisons, run.tables / "report_comparisons", float_digits=3, note=note)
    write_table(clinical, run.tables / "report_clinical_errors", float_digits=3, note=note)
    write_table(clinical_facts, run.tables / "report_clinical_facts", float_digits=3, note=note)
    per_pair.to_csv(run.reports / "per_pair.csv", index=False, lineterminator="\n")
    clinical_pairs.to_csv(run.reports / "clinical_per_pair.csv", index=False, lineterminator="\n")
    meteor_impl = scores[MODEL_SYSTEM].implementations["meteor"]
    variables = stage_variables(table, comparisons, scores, len(train_rows), float(summary["train_seconds"]),
                                meteor_impl)
    variables.update(clinical_variables(clinical, clinical_facts))
    variables.update(extractor_variables(CLINICAL_CORPUS))
    degenerate = degenerate_reports(test_rows, generated)
    variables["degenerate_note"] = degenerate_note(degenerate)
    write_variables(run, "report", variables)
    stored = {k: portable_path(v, root=run.root, home=True) if str(v) else "" for k, v in
              (("recipe_file", recipe.source), ("base_model", base), ("generations", model_file))}
    result = {
        "run": run.name, "recipe": recipe.name, "recipe_file": stored["recipe_file"], "base_model": stored["base_model"],
        "caps": caps.model_dump(), "counts": {"train": len(train_rows), "val": len(val_rows), "test": len(test_rows),
                                          "split": ds.counts(), "problems": len(ds.problems)},
        "meteor_backend": backend, "meteor_impl": meteor_impl, "train_skipped": summary["skipped"],
        "steps": summary["steps"], "model_dir": summary["model_dir"],
        "seconds": {"train": float(summary["train_seconds"]), "generate": round(generate_seconds, 1),
                    "score": round(score_seconds, 1), "stage": round(time.perf_counter() - t_start, 1)},
        "generations": stored["generations"], "degenerate": degenerate, "variables": variables,
    }
    write_json_atomic(run.reports / "stage_summary.json", result)
    return result


#: The report stage's own tiny VLM: (image_size, patch_size). See ``report_tiny_vlm``.
REPORT_TINY_IMAGE = (256, 32)


def report_tiny_vlm(image_size: int = REPORT_TINY_IMAGE[0], patch_size: int = REPORT_TINY_IMAGE[1]) -> Path:
    """The tiny VLM the report stage fine-tunes, built once in ``models_local/tiny-vlm-report-<size>-p<patch>``.

    Why not the shared 64-px tiny VLM: a phantom lesion a few pixels wide in a 256-px image shrinks to one or two
    pixels at 64 px, and the report's BI-RADS and findings hinge on it. The same (size / patch)**2 = 64 image tokens
    at full phantom resolution (256 px, 32-px patches) cost the language model nothing more; only the patch
    embedding grows (3 x 32 x 32 -> 64 weights). Measured on phantom default (2 epochs): at 128 px / 16-px patches
    the model still wrote BI-RADS 1 for every image; at 256 px / 32 with lesions oversampled it varies.
    """
    from ..models.tiny import build_tiny_vlm
    from ..paths import LOCAL_MODELS_DIR

    path = LOCAL_MODELS_DIR / f"tiny-vlm-report-{image_size}-p{patch_size}"
    if not (path / "config.json").exists():
        build_tiny_vlm(path, seed=0, image_size=image_size, patch_size=patch_size)
    return path


def _base_weights(model_id: str) -> Path:
    from ..train.finetune import base_weights

    if model_id == "tiny-vlm":
        return report_tiny_vlm()
    return base_weights(model_id, None)


def clean_stage(run: RunPaths, recipe_name: str) -> None:
    """Remove the stage's model and generations (``--force`` retrains from scratch)."""
    for path in (run.train / recipe_name, run.reports / "generations"):
        if path.exists():
            shutil.rmtree(path)
