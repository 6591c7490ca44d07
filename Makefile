# Five Safes Governance — the two commands of the quick start are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test
PORT ?= $(or $(GOVERNANCE_PORT),8000)

.PHONY: vendor-htmx run test lint typecheck unit pytest-sqlite pytest-postgres system-deps bench clean help

help:
	@echo "make run   - serve the API with demo data on http://127.0.0.1:$(PORT) (SQLite under var/)"
	@echo "make test  - lint, type-check and run the whole suite on SQLite and on a real PostgreSQL"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@ $(STAMP_RUN)

run: $(STAMP_RUN)
	@mkdir -p var
	GOVERNANCE_ENV=dev GOVERNANCE_DEV_LOGIN=true $(BIN)/governance db upgrade
	GOVERNANCE_ENV=dev GOVERNANCE_DEV_LOGIN=true $(BIN)/governance demo seed
	@echo
	@echo "Five Safes Governance: open http://127.0.0.1:$(PORT)/ and choose a demo user under \"Sign in as\""
	@echo "  (API docs: http://127.0.0.1:$(PORT)/docs)"
	@echo "Get a token for a demo user (admin sam stella olivia oscar aud alice bob carol):"
	@echo "  curl -s -X POST http://127.0.0.1:$(PORT)/api/v1/dev/login -H 'content-type: application/json' -d '{\"username\": \"alice\"}'"
	@echo "  or: GOVERNANCE_ENV=dev $(BIN)/governance token create --username alice"
	@echo
	GOVERNANCE_ENV=dev GOVERNANCE_DEV_LOGIN=true $(BIN)/governance serve --port $(PORT)

system-deps:
	bash scripts/ensure-system-deps.sh

lint: $(STAMP_TEST)
	$(BIN)/ruff check governance tests bench migrations/env.py
	$(BIN)/ruff format --check governance tests bench migrations/env.py

typecheck: $(STAMP_TEST)
	$(BIN)/mypy governance

pytest-sqlite: $(STAMP_TEST)
	GOVERNANCE_TEST_BACKEND=sqlite bash scripts/pytest.sh -m "not integration"

pytest-postgres: $(STAMP_TEST) system-deps
	GOVERNANCE_TEST_BACKEND=postgres bash scripts/pytest.sh

test: system-deps lint typecheck pytest-sqlite pytest-postgres
	@echo "make test: all checks passed"

bench: $(STAMP_TEST) system-deps
	@echo "see bench/README.md for each benchmark's command"

# docs/screenshots/: every page as each of the demo cast sees it (a dev server on a throwaway SQLite db).
.PHONY: screenshots
screenshots: $(STAMP_TEST) system-deps
	$(BIN)/python scripts/screenshots.py

# The pages' htmx, vendored from its npm package (pinned; the tarball is cached under .cache/npm).
HTMX_VERSION := 2.0.11
vendor-htmx:
	mkdir -p .cache/npm && cd .cache/npm && npm pack htmx.org@$(HTMX_VERSION) >/dev/null && tar xzf htmx.org-$(HTMX_VERSION).tgz
	cp .cache/npm/package/dist/htmx.min.js governance/web/static/htmx-$(HTMX_VERSION).min.js
	cp .cache/npm/package/LICENSE governance/web/static/htmx-LICENSE.txt

clean:
	rm -rf var .mypy_cache .ruff_cache .pytest_cache
