# mammovqa: `make all` reproduces every figure, table and the manuscript; `make test` runs the tests.
# Both create/refresh the project interpreter .venv/ first. `make help` lists every target.
#
# Re-run one stage with other parameters, e.g.:
#   make stats PROFILE=smoke SEED=3        (re-executes notebooks/01_dataset_stats.ipynb into notebooks/executed/phantom-smoke-s3/)
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
EXEC    := notebooks/executed/$(RUN)
PKG_SRC := $(shell find src/mammovqa -name '*.py' 2>/dev/null)
MANIFEST := $(wildcard data_manifest/*.yaml data_manifest/labels/*.yaml)
export MAMMOVQA_RUN := $(RUN)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export MPLBACKEND := Agg

# papermill: pinned kernel, execution timeout, atomic output (tmp file renamed only on success)
define papermill
	@mkdir -p $(dir $(2))
	$(PY) -m papermill $(1) $(2).tmp.ipynb -k $(KERNEL) --execution-timeout $(NB_TIMEOUT) --log-level WARNING \
	  -p source $(SOURCE) -p profile $(PROFILE) -p seed $(SEED) $(3)
	@mv $(2).tmp.ipynb $(2)
endef

.PHONY: help all venv data stats test lint clean clean-run bench

help: ## list targets (default)
	@echo "mammovqa — make targets (PROFILE=$(PROFILE) SOURCE=$(SOURCE) SEED=$(SEED) -> run '$(RUN)')"
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*?## "}{printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'
	@echo "Profiles: smoke (about a minute), default (figures worth reading), full (tens of thousands of images)."
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
data: $(DATA)/qa/items.jsonl ## build the benchmark: records, images, QA items (JSONL + official JSON)
$(DATA)/qa/items.jsonl: $(STAMP) $(MANIFEST) $(PKG_SRC)
	$(PY) -m mammovqa.cli data build --source $(SOURCE) --profile $(PROFILE) --seed $(SEED)

stats: $(EXEC)/01_dataset_stats.ipynb ## stage 1: dataset statistics notebook (Fig. 1a, 1e)
$(EXEC)/01_dataset_stats.ipynb: notebooks/01_dataset_stats.ipynb $(DATA)/qa/items.jsonl
	$(call papermill,$<,$@)

all: stats ## reproduce every figure, table and the manuscript

# ---------------------------------------------------------------- quality
test: $(STAMP) ## run the test suite (includes a smoke-profile notebook run)
	$(PY) -m pytest -q -p no:cacheprovider

lint: $(STAMP) ## ruff
	$(PY) -m ruff check src tests benchmarks

bench: $(STAMP) ## run every benchmark script (each prints a JSON line last)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b; done

clean-run: ## remove this run's generated outputs (data, results, figures, executed notebooks)
	rm -rf $(DATA) $(RESULTS) $(FIGS) $(EXEC) paper/_build/$(RUN)

clean: ## remove every generated output and the virtual environment
	rm -rf data results figures/*/ notebooks/executed/*/ paper/_build $(VENV)
