# Two entry points: `make run` (the main job) and `make test`. Both set up .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	# An editable install leaves no byte-code; compile it once so imports stay fast even where
	# PYTHONDONTWRITEBYTECODE is set.
	$(BIN)/python -m compileall -q filterbank
	touch $(STAMP)

# The main job: the seed Sequential CNN on MNIST (offline: the bundled 8,000/2,000 digits),
# 5 epochs of rmsprop, written to runs/main (replaced on every run), then 5 test predictions.
run: $(STAMP)
	$(BIN)/filterbank train --out runs/main --overwrite
	$(BIN)/filterbank predict runs/main/model.fbk --samples 5

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

LINT_PATHS := filterbank tests benchmarks scripts examples

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

format: $(STAMP)
	$(BIN)/ruff format $(LINT_PATHS)

# The comparison's peers: PyTorch (the CPU wheel CI uses) and ONNX Runtime (inference).
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install torch==2.13.0 onnxruntime onnx threadpoolctl
	touch $@

bench: $(BENCH_STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) runs build *.egg-info
