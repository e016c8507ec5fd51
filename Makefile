# Every target sets itself up: a virtual environment in .venv with zipfit and its test tools.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench
OUT ?= out

.PHONY: default demo test test-fast lint format docs bench clean

default: test lint

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,dask,isal,parquet,remote]'
	touch $(STAMP)

# The benchmarks' own extra (DSIR for benchmarks/quality.py), never a runtime dependency.
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $(BENCH_STAMP)

demo: $(STAMP)
	@mkdir -p $(OUT)
	$(BIN)/zipfit select sample_data/source.jsonl -t sample_data/target.jsonl \
		--target-template '{prompt}{canonical_solution}' -k 200 \
		-o $(OUT)/selected.jsonl --report $(OUT)/report.json --force
	@echo "demo: the 200 best-aligned records are in $(OUT)/selected.jsonl, the run report in $(OUT)/report.json"
	@echo "demo: kinds among them:"
	@$(BIN)/python -c "import collections, json; \
		c = collections.Counter(json.loads(l)['source'] for l in open('$(OUT)/selected.jsonl')); \
		print('  ' + ', '.join(f'{k} {v}' for k, v in c.most_common()))"

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check zipfit_cli tests benchmarks
	$(BIN)/ruff format --check zipfit_cli tests benchmarks
	$(BIN)/mypy zipfit_cli
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff check --fix zipfit_cli tests benchmarks
	$(BIN)/ruff format zipfit_cli tests benchmarks

# README.md's options reference, rewritten from the option declarations (zipfit_cli/cli/flags.py).
docs: $(STAMP)
	$(BIN)/python -m zipfit_cli.cli.optspec --readme README.md

bench: $(BENCH_STAMP)
	$(BIN)/python benchmarks/bench.py
	$(BIN)/python benchmarks/corpus_mode.py
	$(BIN)/python benchmarks/quality.py
	$(BIN)/python benchmarks/adaptive.py
	$(BIN)/python benchmarks/adaptive_overhead.py
	$(BIN)/python benchmarks/read_speed.py

clean:
	rm -rf .venv .venv-py310 $(OUT) .pytest_cache .mypy_cache .ruff_cache
