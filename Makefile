# azure-backup-exporter — `make demo` and `make test` work on a fresh machine with Python >= 3.11.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench install clean k8s

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## The exporter against the embedded Azure simulator: http://127.0.0.1:9984/metrics
demo: $(STAMP)
	$(BIN)/azure-backup-exporter --demo --web.listen-address=127.0.0.1:9984

## Lint, types, then the whole suite (unit, component, end-to-end).
test: lint
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile

## SPEC §12 benchmarks (under 10 minutes on 2 cores); tables in bench/RESULTS.md.
bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python -m bench

## deploy/kubernetes' copies of prometheus/alerts.yml and the Grafana dashboard (checked by the tests).
k8s: $(STAMP)
	$(BIN)/python deploy/kubernetes/generate.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
