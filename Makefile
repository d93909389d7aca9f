# One command to run the service, one to run the tests (see README Quickstart).
# Serving installs only what the service needs; the test tools come with `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SERVE_STAMP := $(VENV)/.installed-serve
TEST_STAMP := $(VENV)/.installed-test

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "make: KATO needs Python 3.11 or newer; $(PYTHON) is $$($(PYTHON) --version 2>&1)"; exit 1; }
	@echo "make: creating the virtualenv $(VENV), with a current pip (it installs about twice as fast as the one venv bundles)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip

$(SERVE_STAMP): pyproject.toml $(wildcard setup.py kato/core/*.c) | $(PY)
	@echo "make: installing KATO and what serving needs (pip install -e .); the C cores are"
	@echo "      compiled when a C compiler is found, else KATO runs on their pure-Python fallback"
	$(PY) -m pip install --quiet --disable-pip-version-check -e .
	@touch $@

$(TEST_STAMP): $(SERVE_STAMP)
	@echo "make: adding the test tools (pip install -e '.[test]')"
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $@

.PHONY: install system-deps serve test test-fast lint bench
install: $(TEST_STAMP)

# Servers the tests start themselves (on free loopback ports): redis-server and nginx;
# wrk drives benchmarks/service_load.py; Debian's chromium runs the Explorer's browser tests (tests/ui).
system-deps:
	@command -v redis-server >/dev/null && command -v nginx >/dev/null && command -v wrk >/dev/null && test -x /usr/bin/chromium || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server nginx wrk chromium >/dev/null; }

serve: $(SERVE_STAMP)
	@echo "make: serving on http://127.0.0.1:$${KATO_PORT:-8000} (data in $${KATO_DATA_DIR:-./kato-data});"
	@echo "      the Explorer is at /ui, the API reference at /docs; Ctrl-C stops"
	$(VENV)/bin/kato serve

test: $(TEST_STAMP) system-deps
	$(PY) -m pytest -q

# Everything but the tests marked slow (multi-process, failure injection, builds).
test-fast: $(TEST_STAMP) system-deps
	$(PY) -m pytest -q -m 'not slow'

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check kato tests benchmarks clients
	$(VENV)/bin/ruff format --check kato tests benchmarks clients
	$(VENV)/bin/mypy kato
