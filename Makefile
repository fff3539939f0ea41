# ember_dist: two commands do all set-up on a fresh machine.
#   make demo   -> virtual environment, then the demo (held-out suite maps, suite models, LocalCluster, zarr + PNG)
#   make test   -> virtual environment, then the whole test suite (what CI runs)
PY ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed

.PHONY: demo test bench clean gadget2

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test,jax]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ember-dist demo --out ember_demo --overwrite

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Gadget-2 for `ember-dist simulate`: Debian packages (as root), then the cached build
# (simulate also builds it on first use and names missing packages).
gadget2: $(STAMP)
	$(BIN)/python -m ember_dist.sim.gadget_build --install-deps

bench: $(STAMP)
	$(BIN)/python bench/engine.py

clean:
	rm -rf $(VENV) ember_demo *.egg-info
