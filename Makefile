# One virtual environment, installed from the pinned constraints. `make help` lists the targets.
#
# Python versions every extra has wheels for; keep in step with requires-python in pyproject.toml.
SUPPORTED_PYTHONS := 3.11 3.12 3.13
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONSTRAINTS := requirements/constraints.txt
# A PYTHON given on the command line or in the environment rebuilds a .venv of another version.
PYTHON_EXPLICIT := $(if $(filter command line environment,$(origin PYTHON)),1,0)

.DEFAULT_GOAL := help
.PHONY: help venv install-serve install-all serve test lint chaos clean clients-venv

help: ## list the targets
	@echo "make TARGET [PYTHON=python3.12]   (Python $(SUPPORTED_PYTHONS); default PYTHON=$(PYTHON))"
	@grep -E '^[a-z-]+:.*## ' $(firstword $(MAKEFILE_LIST)) | sed -E 's/^([a-z-]+):.*## /  \1\t/' | expand -t 18

venv: ## create .venv with a supported PYTHON, or rebuild one made by another Python
	@MAKE_GOAL="$(or $(MAKECMDGOALS),venv)" bash scripts/ensure-venv.sh "$(PYTHON)" "$(VENV)" $(PYTHON_EXPLICIT) $(SUPPORTED_PYTHONS)

install-serve: venv ## install the serve extra (onnxruntime, FastAPI; no TensorFlow)
	$(BIN)/pip install -q -c $(CONSTRAINTS) -e '.[serve]'

install-all: venv ## install every extra: serve, train (TensorFlow) and dev (test tools)
	$(BIN)/pip install -q -c $(CONSTRAINTS) -e '.[serve,train,dev]'

serve: install-serve ## start the API on the bundled models, port 8000
	$(BIN)/python -m service --models-dir models

lint: install-all ## ruff and mypy
	$(BIN)/ruff check contract service training bench loadtest tests scripts deploy
	$(BIN)/ruff format --check contract service training bench loadtest tests scripts deploy
	$(BIN)/mypy

test: lint clients-venv ## lint, then the whole pytest suite (what .ci/run runs)
	$(BIN)/python -m pytest

chaos: install-all ## the chaos suite alone: faults and hostile clients under load (~4 min)
	$(BIN)/python -m pytest -m chaos -s tests/chaos

clean: ## remove .venv and every cache (pytest, mypy, ruff, __pycache__, egg-info)
	@case "$(VENV)" in ""|/|.|..) echo "refusing to remove VENV=$(VENV)" >&2; exit 2;; esac
	rm -rf -- "$(VENV)" "$(CLIENTS_VENV)" .pytest_cache .mypy_cache .ruff_cache *.egg-info build
	find . -path ./.git -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

# The protocol clients of tests/v2/test_clients.py: their pins conflict with the service's
# (requirements/clients.txt says which), so they live in a venv of their own.
CLIENTS_VENV ?= .venv-clients

clients-venv: $(CLIENTS_VENV)/.installed ## a venv with the KServe V2 clients of tests/v2 (tritonclient, kserve)

$(CLIENTS_VENV)/.installed: requirements/clients.txt
	$(PYTHON) -m venv $(CLIENTS_VENV)
	$(CLIENTS_VENV)/bin/pip install -q -r requirements/clients.txt
	touch $@
