# LLMOps Factory — one entry point. `make demo` runs the lifecycle locally, `make test` runs the tests.
# Every target sets itself up: the virtual environment from the pinned lock, then the local platform
# home (.llmops/: Airflow home + SQLite DB, storage root, DuckDB warehouse, MLflow store).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
LOCK := requirements/local.lock
STAMP := $(VENV)/.llmops-lock.sha256
# Tools whose pins clash with the local lock (checkov) live in their own venv.
TOOLS_VENV := $(CURDIR)/.venv-tools
TOOLS_LOCK := requirements/tools.lock

export LLMOPS_TARGET ?= local
export LLMOPS_LOCAL__HOME ?= $(CURDIR)/.llmops
export AIRFLOW_HOME := $(LLMOPS_LOCAL__HOME)/airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION := True
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS := admin:admin
export AIRFLOW__API__PORT ?= 8080
# Task processes call the API back on these URLs: derived from the port, so any free port works.
export AIRFLOW__API__BASE_URL ?= http://localhost:$(AIRFLOW__API__PORT)
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL ?= $(AIRFLOW__API__BASE_URL)/execution/
MLFLOW_PORT ?= 5000
export AIRFLOW__LOGGING__LOGGING_LEVEL ?= INFO
export PYTHONDONTWRITEBYTECODE := 1
export TOKENIZERS_PARALLELISM := false
export HF_HUB_OFFLINE := 1
export MLFLOW_TRACKING_URI := sqlite:///$(LLMOPS_LOCAL__HOME)/mlflow/mlflow.db
export LLMOPS_CHECKOV := $(TOOLS_VENV)/bin/checkov

.PHONY: help venv tools init demo demo-fast demo-rest test test-fast prompts airflow airflow-demo mlflow bundle lint bench lock clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

venv: $(STAMP) ## Create or refresh .venv from the pinned lock

$(STAMP): $(LOCK) pyproject.toml
	@scripts/setup_venv.sh "$(PYTHON)" "$(VENV)" "$(LOCK)"

tools: $(TOOLS_VENV)/.llmops-lock.sha256 ## Create or refresh .venv-tools (checkov) from requirements/tools.lock

$(TOOLS_VENV)/.llmops-lock.sha256: $(TOOLS_LOCK)
	@scripts/setup_venv.sh "$(PYTHON)" "$(TOOLS_VENV)" "$(TOOLS_LOCK)" no-project

init: venv ## Initialise the local platform home (.llmops/)
	@$(PY) -m llmops_factory.platform init

demo: init ## Run the whole lifecycle on the local target (DEMO_ARGS="--from N" resumes at phase N)
	@$(PY) scripts/demo.py $(DEMO_ARGS)

demo-fast: init ## The same story in its small mode (fewer requests, smaller monitoring samples)
	@$(PY) scripts/demo.py --fast $(DEMO_ARGS)

test: init tools lint ## Lint, then run the whole test suite (what CI runs)
	@$(PY) -m pytest

test-fast: init tools ## Unit and DAG tests only (no end-to-end runs)
	@$(PY) -m pytest -m "not integration"

prompts: init ## Publish the prompt bundles to the local storage root (idempotent)
	@$(PY) -m llmops_factory.prompts publish

airflow: init ## Publish the prompts, then start Airflow (UI, scheduler, triggerer) with all DAGs
	@$(PY) scripts/airflow_standalone.py

airflow-demo: init ## `make airflow` with the demo story's settings (LLMOPS_DEMO_FAST=1: small mode)
	@$(PY) scripts/airflow_standalone.py --demo

demo-rest: init ## The demo's story through the REST API, against a running `make airflow-demo` (ARGS=--resume picks up an interrupted one)
	@$(PY) scripts/demo_rest.py $(ARGS)

mlflow: init ## Open the MLflow UI (runs, metrics, model registry) on the local store
	@echo "MLflow UI: http://127.0.0.1:$(MLFLOW_PORT)   (store $(MLFLOW_TRACKING_URI)) — Ctrl-C to stop"
	@$(VENV)/bin/mlflow ui --backend-store-uri "$(MLFLOW_TRACKING_URI)" \
		--default-artifact-root "file://$(LLMOPS_LOCAL__HOME)/mlflow/artifacts" --host 127.0.0.1 --port $(MLFLOW_PORT)

bundle: venv ## Build the Cloud Composer upload bundle in build/composer/
	@$(PY) -m llmops_factory.bundle build --out build/composer

lint: venv ## Ruff lint (with Airflow's AIR rules) and format check, and the prompt validator
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(PY) -m llmops_factory.prompts validate

bench: init ## Run every benchmark (prints figures)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b; done

lock: ## Re-resolve requirements/local.in into the pinned lock
	@scripts/lock.sh "$(PYTHON)"

clean: ## Remove the local platform home and build outputs (keeps .venv)
	rm -rf "$(LLMOPS_LOCAL__HOME)" build
