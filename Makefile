# tsunagu — the two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

.PHONY: run test install install-test lint typecheck eval bench-triage clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[test,st]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

## run: install and start the main job
run: install
	$(VENV)/bin/tsunagu serve

## test: install with test extras (and the system packages the browser tests need), run everything
test: install-test
	bash scripts/system-deps.sh
	$(VENV)/bin/ruff check bot triage knowledge handoff tests bench
	$(VENV)/bin/ruff format --check bot triage knowledge handoff tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q

eval: install
	$(VENV)/bin/tsunagu eval ../shared/eval/dev.jsonl --json

bench-triage: install
	$(VENV)/bin/tsunagu bench triage

clean:
	rm -rf $(VENV) data
