"""Cell list of notebook 06 (report generation), in the format of tools/notebook_specs.py (NB01).

Thin on purpose: the stage (`mammovqa report stage`, report/stage.py) trained, generated and scored; this notebook
only reads the files it wrote and draws them with the stage's plotting functions (viz/reports.py).
"""

PARAMS = 'source = "phantom"  # phantom | real\nprofile = "default"  # smoke | default | full\nseed = 0\n'

NB06 = (
    "# Stage 6 — report generation (AMRG)\n\nA vision-language model fine-tuned to write the mammography report "
    "of one image (sections Breast Composition, BIRADS, Findings), scored against three weight-free baselines "
    "and next to the numbers AMRG published on real DMID reports. Inputs: the files of `mammovqa report stage` "
    "(`results/<run>/reports/`, `results/<run>/train/<recipe>/`, `results/<run>/tables/report_*`). Outputs: "
    "`figures/<run>/report_training_curve`, `report_metrics`, `birads_confusion`.",
    PARAMS,
    [
        ("code", """import json

import pandas as pd
from IPython.display import Markdown, display

from mammovqa.outputs import data_note, read_variables
from mammovqa.paths import RunPaths
from mammovqa.report import stage as rs
from mammovqa.report.train import read_generations
from mammovqa.viz import publish
from mammovqa.viz import reports as vr

run = RunPaths(source, profile, int(seed))
summary = json.loads((run.reports / "stage_summary.json").read_text())
note = data_note(source)
c = summary["counts"]
display(Markdown(f"**Run `{run.name}`** — {note} {c['train']:,} training, {c['test']:,} test reports; "
                 f"recipe `{summary['recipe']}`, {summary['steps']} steps in {summary['seconds']['train']:.0f} s. "
                 f"METEOR: {summary['meteor_impl']}."))"""),
        ("md", "## Training curve\n\nToken cross-entropy of the report (assistant turn only) on the training "
               "batches and on held-out validation reports."),
        ("code", """log = pd.read_csv(run.train / summary["recipe"] / "log_history.csv")
_ = publish(vr.training_curve_figure(log), run.figures / "report_training_curve", note=note)"""),
        ("md", "## Metrics against baselines and the published AMRG values\n\nValues with patient-clustered 95% "
               "bootstrap intervals. The AMRG rows are published numbers on real DMID reports, not this run's data; "
               "the baselines need no model: the most common training report, the report of the nearest training "
               "image, and a template stating the majority BI-RADS."),
        ("code", """table = pd.read_csv(run.tables / "report_metrics.csv")
_ = publish(vr.metrics_table_figure(table, rs.FIGURE_METRICS, rs.PUBLISHED_SYSTEM), run.figures / "report_metrics", note=note)
wide = table.pivot_table(index="metric", columns="system", values="value", sort=False)
wide.style.format("{:.3f}", na_rep="")"""),
        ("md", "## Paired differences: fine-tuned model minus each baseline\n\nSame test reports, resampled by "
               "patient; p is the two-sided bootstrap p-value."),
        ("code", """comp = pd.read_csv(run.tables / "report_comparisons.csv")
keep = comp["metric"].isin(["rouge_l", "meteor", "cider", "birads_correct", "finding_f1"])
comp[keep][["baseline", "metric", "model", "baseline_value", "diff", "ci_low", "ci_high", "p"]].round(3)"""),
        ("md", "## BI-RADS: reference vs generated\n\nParsed from both reports; a generated report that states "
               "no BI-RADS is counted in the `none` column (and wrong)."),
        ("code", """per_pair = pd.read_csv(run.reports / "per_pair.csv", dtype={"birads_ref": str, "birads_gen": str})
model_pairs = per_pair[per_pair["system"] == rs.MODEL_SYSTEM]
_ = publish(vr.confusion_matrix_figure(rs.birads_confusion(model_pairs)), run.figures / "birads_confusion",
            note=note)"""),
        ("md", "## Generated and reference reports, side by side\n\nThe first test cases in id order (no "
               "selection by quality)."),
        ("code", """_, gens = read_generations(summary["generations"])
for row in gens[:4]:
    display(Markdown(f"### `{row['id']}`\\n\\n**Generated**\\n\\n> " + row["generated"].replace("\\n", "\\n>\\n> ")
                     + "\\n\\n**Reference**\\n\\n> " + row["reference"].replace("\\n", "\\n>\\n> ")))"""),
        ("md", "## Manuscript variables (written by the stage)"),
        ("code", """pd.Series({k: v for k, v in read_variables(run).items() if k.startswith("report_")}, name="value")"""),
    ],
)
