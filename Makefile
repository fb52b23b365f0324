# conn-reconcile developer tasks. `make demo`, `make test` and `make lint` work on a fresh machine with Python 3.11+.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test demo bench lint requirements clean

# wheelhouse/: the wheels of the package's dependencies and of its build backend, from which the
# pre-commit hook's tests build the hook's environment without asking an index (tests/conftest.py)
$(STAMP): pyproject.toml requirements/build.in
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,lint]'
	$(BIN)/python -m pip download --quiet --dest $(VENV)/wheelhouse . -r requirements/build.in
	touch $(STAMP)

install: $(STAMP)

# pytest-xdist: 4 workers (more than the 2 cores of CI: many tests wait on loopback servers or CLI
# processes); --dist worksteal: an idle worker takes tests still queued on a busy one. Bytecode is
# written even under PYTHONDONTWRITEBYTECODE, or every CLI subprocess compiles the package again.
test: $(STAMP)
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -q -n 4 --dist worksteal

# ruff's settings and mypy's (strict, files = src) are in pyproject.toml
lint: $(STAMP)
	$(BIN)/ruff check
	$(BIN)/ruff format --check
	$(BIN)/mypy --strict src/

demo: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" bash scripts/demo.sh

# The benchmark times the tool as a user installs it: built from this checkout into a virtualenv of
# its own that holds its dependencies and check-jsonschema (the validate peer) and nothing else - no test
# tooling, no editable install, none of their .pth start-up hooks in every process it times. pip
# rebuilds and reinstalls a project given as a directory on every run; the dependencies stay.
BENCH_VENV ?= .venv-bench

bench:
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet 'check-jsonschema>=0.29' .
	$(BENCH_VENV)/bin/python bench/bench.py $(BENCH_ARGS)

# the action's pinned, hashed dependencies (see README, "Pinned install"); needs the package index
requirements: $(STAMP)
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
		--no-emit-find-links --output-file=requirements/action.txt pyproject.toml requirements/build.in

clean:
	rm -rf $(VENV) $(BENCH_VENV) .pytest_cache build dist src/*.egg-info .conn-reconcile
