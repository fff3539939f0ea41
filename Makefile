# ember_dist: two commands do all set-up on a fresh machine.
#   make demo   -> virtual environment, then the demo (toy maps, bundled models, LocalCluster, zarr + PNG)
#   make test   -> virtual environment, then the whole test suite (what CI runs)
PY ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test,jax]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ember-dist demo --out ember_demo --overwrite

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/engine.py

clean:
	rm -rf $(VENV) ember_demo *.egg-info
