# The runner's everyday commands; `make help` lists them.
.DEFAULT_GOAL := help
VENV := .venv
BIN := $(VENV)/bin

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml scripts/setup.sh
	bash scripts/setup.sh

$(VENV)/.installed-dev: pyproject.toml scripts/setup.sh
	bash scripts/setup.sh dev

install: $(VENV)/.installed  ## create .venv and install the runner (CPU torch where at hand)

install-dev: $(VENV)/.installed-dev  ## the same plus the test tools (pytest, Ray, PostgreSQL driver, Playwright, mkdocs, Jupyter)

run: install  ## run the default job offline on the embedded tiny BERT and sample data
	$(BIN)/runner

test: install-dev  ## run the whole test suite (two workers, a test file each)
	$(BIN)/pytest -q -n 2 --dist loadfile --no-loadscope-reorder

test-fast: install-dev  ## the edit loop: the unit and pipeline tests (markers set by tests/<room>/)
	$(BIN)/pytest -q -n 2 -m "(unit or pipeline) and not slow"

lint: install-dev  ## ruff lint and format check, mypy on runner/ (every def typed)
	$(BIN)/ruff check runner tests benchmarks
	$(BIN)/ruff format --check runner tests benchmarks
	$(BIN)/mypy runner

docs: install-dev  ## build the docs site (docs/, mkdocs.yml) into outputs/site; a broken link fails
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

bench: install-dev  ## run the benchmark suite (prints ratios against baselines)
	$(BIN)/python benchmarks/run.py

ui: install  ## open the MLflow dashboard on the default store
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/outputs/mlflow.db --host 127.0.0.1

server: install  ## a local MLflow tracking server for one user (sqlite + served artifacts)
	bash scripts/mlflow_server.sh

.PHONY: help install install-dev run test test-fast lint docs bench ui server
