# Two commands a newcomer needs: `make demo` and `make test`. Each bootstraps .venv itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench test-all clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[testing,redis,dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

test: lint pytest

lint: $(STAMP)
	$(BIN)/ruff check leanix_auth tests benchmarks examples
	$(BIN)/ruff format --check leanix_auth tests benchmarks examples
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --maxprocesses=4

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -r benchmarks/requirements.txt
	$(BIN)/python benchmarks/run.py

# Every CPython 3.10-3.13 that pyenv or the PATH offers, then the oldest dependencies allowed.
test-all:
	bash scripts/test-all.sh

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache
