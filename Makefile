# Agent Ops Control Room — developer entry points. `make run` starts everything locally.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   := .venv
PYTHON := $(VENV)/bin/python
BYTECODE_STAMP := $(VENV)/.bytecode
# uv installed with `pip install --user` lands here; put it on PATH for every recipe.
export PATH := $(HOME)/.local/bin:$(PATH)
# Python comes from the machine (.python-version); uv must not try to download one.
export UV_PYTHON_DOWNLOADS := never

NPM_STAMP := node_modules/.installed
VENDOR    := static/vendor
VENDORED  := $(VENDOR)/htmx.min.js $(VENDOR)/htmx-ext-ws.min.js $(VENDOR)/chart.umd.min.js
CHROMIUM  := /usr/bin/chromium
# The flow editor island (frontend/) bundled by esbuild into a git-ignored folder; the stamp
# makes a second `make assets` a no-op while sources and the lockfile are unchanged. Unit tests
# (*.test.js) and their doubles (testing.js) are not part of the bundle.
EDITOR_OUT   := static/editor
EDITOR_STAMP := $(EDITOR_OUT)/.built
EDITOR_SRC   := $(shell find frontend -type f -not -name '*.test.js' -not -name 'testing.js' 2>/dev/null)

.PHONY: help venv assets run test lint bench bench-peers chromium

help:
	@echo "make run     start the control room (embedded PostgreSQL + Redis, web, worker, beat)"
	@echo "make test    run the test suite (real PostgreSQL, Redis, Celery, Chromium)"
	@echo "make lint    ruff, mypy, import contracts; ESLint + tsc on frontend/ (make test runs it first)"
	@echo "make bench   run the benchmarks in tests/bench (each against its comparator)"
	@echo "make bench-peers  install a pinned n8n and compare our 5-step flow with it"
	@echo "make venv    create/refresh .venv from uv.lock; make assets: front-end files"

# The installed packages' bytecode is written once per lock (checking 12k files at every
# sync would cost `make run` a second): every process then loads it instead of compiling each
# module again where PYTHONDONTWRITEBYTECODE is set, as on these machines.
venv:
	@command -v uv >/dev/null 2>&1 || python3 -m pip install --user uv \
		|| python3 -m pip install --user --break-system-packages uv || pip install uv
	uv sync --frozen --quiet
	@if [ ! -e $(BYTECODE_STAMP) ] || [ uv.lock -nt $(BYTECODE_STAMP) ]; then \
		uv sync --frozen --quiet --compile-bytecode && touch $(BYTECODE_STAMP); fi

# npm runs only when package.json or package-lock.json changed since the last install.
$(NPM_STAMP): package.json package-lock.json
	npm install --no-audit --no-fund
	@touch $@

$(VENDOR)/htmx.min.js: node_modules/htmx.org/dist/htmx.min.js $(NPM_STAMP)
	@mkdir -p $(VENDOR)
	cp $< $@

$(VENDOR)/htmx-ext-ws.min.js: node_modules/htmx-ext-ws/dist/ws.min.js $(NPM_STAMP)
	@mkdir -p $(VENDOR)
	cp $< $@

# Chart.js for the ROI dashboards (static/js/roi.js draws with it). Its source-map comment
# names a file we do not ship, which production's manifest storage refuses at collectstatic.
$(VENDOR)/chart.umd.min.js: node_modules/chart.js/dist/chart.umd.min.js $(NPM_STAMP)
	@mkdir -p $(VENDOR)
	sed '/sourceMappingURL=/d' $< > $@

node_modules/htmx.org/dist/htmx.min.js node_modules/htmx-ext-ws/dist/ws.min.js node_modules/chart.js/dist/chart.umd.min.js: $(NPM_STAMP)

$(EDITOR_STAMP): $(EDITOR_SRC) package.json package-lock.json $(NPM_STAMP)
	npm run --silent build:editor
	@touch $@

assets: $(VENDORED) $(EDITOR_STAMP)

run: venv assets
	$(PYTHON) -m controlroom.supervisor

chromium:
	@test -x $(CHROMIUM) || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; }

# Benchmarks run through `make bench` only (DESIGN.md), never as part of `make test`.
# The 25 slowest tests and the total time are printed last, to keep an eye on the suite's cost.
# The editor's pure modules first (Node's test runner, frontend/**/*.test.js): a failure stops here.
test: venv assets chromium lint
	node --test frontend/
	@start=$$(date +%s); status=0; \
	$(PYTHON) -m pytest --ignore=tests/bench --durations=25 $(PYTEST_ARGS) || status=$$?; \
	echo "make test: pytest took $$(( $$(date +%s) - start )) s"; exit $$status

# ruff and mypy stay clean (STYLE.md); `make test` runs this first. pyproject.toml makes mypy
# strict and has ruff check complexity (C901, at most 10 per function).
# ESLint (eslint.config.js) and TypeScript's checkJs (tsconfig.json) keep frontend/ clean too.
lint: venv $(NPM_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	CONTROLROOM_SECRET_KEY=type-checking-only $(VENV)/bin/mypy controlroom agents flows
	$(VENV)/bin/lint-imports --no-cache
	npx --no-install eslint --max-warnings=0 frontend
	npx --no-install tsc -p tsconfig.json

# Each benchmark against its comparator, alternating rounds; one JSON per benchmark and the
# summary table in .data/bench/. Sizes and rounds: BENCH_* variables (tests/bench/*.py).
bench: venv assets chromium
	$(PYTHON) -m pytest tests/bench --ignore=tests/bench/peers $(PYTEST_ARGS)

# Our 5-step flow side by side with n8n's (a pinned n8n installed from npm, about 2.4 GB).
bench-peers: venv
	bench/peers/n8n/install.sh
	$(PYTHON) -m pytest tests/bench/peers $(PYTEST_ARGS)
