# `make demo` and `make test` work on a fresh machine: they create .venv as needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP_INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: demo test venv clean

venv: $(STAMP)

# the built-in methods (plugins/*) are part of the mlcap distribution; the uninstall removes the
# separate mlcap-<method> distributions that older venvs of this project hold
OLD_METHOD_DISTS := mlcap-arnn mlcap-bce mlcap-cnnrnn mlcap-orderfree mlcap-orderless mlcap-ria mlcap-scnnrnn

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	-$(BIN)/python -m pip uninstall --quiet --yes $(OLD_METHOD_DISTS) >/dev/null 2>&1
	$(PIP_INSTALL) -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash examples/synthetic_demo.sh

# two pytest-xdist workers of one torch thread each (tests/conftest.py), an idle one taking queued
# tests from the other; TEST_WORKERS=0 runs in one process; the 25 slowest tests are printed at the end
TEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist worksteal --durations=25

clean:
	rm -rf $(VENV) demo-out
