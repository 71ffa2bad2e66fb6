# One virtual environment, installed from the pinned constraints.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
CONSTRAINTS := requirements/constraints.txt

.PHONY: serve test lint install-serve install-all clients-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install-serve: $(BIN)/python
	$(BIN)/pip install -q -c $(CONSTRAINTS) -e '.[serve]'

install-all: $(BIN)/python
	$(BIN)/pip install -q -c $(CONSTRAINTS) -e '.[serve,train,dev]'

serve: install-serve
	$(BIN)/python -m service --models-dir models

lint: install-all
	$(BIN)/ruff check contract service training bench loadtest tests
	$(BIN)/ruff format --check contract service training bench loadtest tests
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

# The protocol clients of tests/v2/test_clients.py: their pins conflict with the service's
# (requirements/clients.txt says which), so they live in a venv of their own.
CLIENTS_VENV ?= .venv-clients

clients-venv:
	$(PYTHON) -m venv $(CLIENTS_VENV)
	$(CLIENTS_VENV)/bin/pip install -q -r requirements/clients.txt
