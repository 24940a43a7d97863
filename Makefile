# Two entry points for a newcomer: `make demo` and `make test`. Each installs what it needs into .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# CPU build of torch; a GPU user installs their CUDA torch into .venv first (see README).
TORCH ?= torch==2.13.0

.PHONY: install demo test test-slow clean

$(BIN)/vectorwan: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[test]'
	touch $(BIN)/vectorwan

install: $(BIN)/vectorwan

demo: install
	$(BIN)/python -m vectorwan demo --out runs/demo

test: install
	$(BIN)/python -m pytest -q

test-slow: install
	$(BIN)/python -m pytest -q -m slow

clean:
	rm -rf runs .pytest_cache
