# One command to run the service, one to run the tests (see README Quickstart).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml $(wildcard setup.py kato/core/*.c)
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

.PHONY: install system-deps serve test lint bench
install: $(STAMP)

# Servers the tests start themselves (on free loopback ports): redis-server and nginx;
# wrk drives benchmarks/service_load.py; Debian's chromium runs the Explorer's browser tests (tests/ui).
system-deps:
	@command -v redis-server >/dev/null && command -v nginx >/dev/null && command -v wrk >/dev/null && test -x /usr/bin/chromium || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server nginx wrk chromium >/dev/null; }

serve: $(STAMP)
	$(VENV)/bin/kato serve

test: $(STAMP) system-deps
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check kato tests benchmarks
	$(VENV)/bin/ruff format --check kato tests benchmarks
	$(VENV)/bin/mypy kato
