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
    "n_subdatasets": str(comp.shape[0]),
    "n_patients": f"{len({(r.dataset.split('-')[0], r.patient_id) for r in records}):,}",
    "n_external_items": f"{sum(it.split == 'external' for it in items):,}",
    "n_test_items": f"{sum(it.split == 'test' for it in items):,}",
    "n_exam_items": f"{sum(it.level == 'exam' for it in items):,}",
    "data_source_note": note,
})"""),
    ],
)

NOTEBOOKS = {"01_dataset_stats.ipynb": NB01}
