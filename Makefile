# The README's commands. Each target sets up what it needs first (idempotent, seconds when warm).
SHELL := /bin/bash
PY := .venv/bin/python
PORT ?= 5000

.PHONY: setup run test test-fast lint bench soak train eval-personas clean

setup:
	@scripts/setup.sh

run: setup
	@$(PY) -m server run --port $(PORT)

test: setup
	@scripts/run-tests.sh

test-fast: setup
	@$(PY) -m pytest tests/unit -q

lint: setup
	@$(PY) -m ruff check server personas_engine tests
	@$(PY) -m ruff format --check server personas_engine tests
	@$(PY) -m mypy

train: setup
	@$(PY) -m personas_engine.train

eval-personas: setup
	@$(PY) -m personas_engine.evaluate

bench: setup
	@$(PY) -m tests.bench.run

soak: setup
	@$(PY) -m tests.bench.soak

clean:
	rm -rf var/bench var/artifacts .pytest_cache
