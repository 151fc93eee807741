# honeyguard: `make run` starts the whole stack on loopback; `make test` installs what the tests need and runs them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NATIVE_SOURCES := $(shell find src/honeyguard -name '*.[ch]')  # the optional C extensions (setup.py)

.PHONY: run test lint bench system-deps clean help

help:
	@echo "make run    - set up .venv and start sensor + collector on 127.0.0.1 (HTTP 8080, SSH 2222, API 8470)"
	@echo "make test   - install test tools (Python and Debian packages) and run the suite"
	@echo "make lint   - ruff and mypy"
	@echo "make bench  - benchmarks, one JSON line per figure"

$(STAMP): pyproject.toml setup.py $(NATIVE_SOURCES)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/honeyguard up

system-deps:
	scripts/system-deps.sh

test: system-deps $(STAMP)  # the compiler first: the install builds the native flow reader
	$(BIN)/honeyguard rules test
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

bench: $(STAMP) system-deps
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .honeyguard
