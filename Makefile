# The two set-up commands: `make run` (micro profile) and `make test`.
VENV := .venv
PY := $(VENV)/bin/python
# Two stamps: `make run` needs only the runtime packages, the test and bench targets the dev ones
# too. Each is redone only when its requirements file changes, so switching costs nothing.
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev
# The real JavaScript SDKs tests/sdk drives (pinned in their package-lock.json).
JS_DIR := tests/sdk/js
JS_STAMP := $(JS_DIR)/node_modules/.installed-lock
# The TypeScript compiler tests/codegen runs on the generated code (pinned in its package-lock.json).
TS_DIR := tests/codegen/typescript
TS_STAMP := $(TS_DIR)/node_modules/.installed-lock
# The Kotlin compiler (npm kotlin-compiler, on the JDK) that compiles the generated Kotlin in tests/codegen.
KOTLIN_DIR := tests/codegen/kotlin
KOTLIN_STAMP := $(KOTLIN_DIR)/node_modules/.installed-lock

.PHONY: run test test-unit test-integration test-system up down faults scale bench flamegraphs bench-patterns pages retention loadtest screenshots system-packages lint format

$(RUNTIME): requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements.txt
	touch $(RUNTIME)

# The CI client (client/, command `lvd`) is installed editable: its tests run the command, and
# lint-imports checks its layer contract.
$(DEV): $(RUNTIME) requirements-dev.txt client/pyproject.toml
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
	$(VENV)/bin/pip install -q --disable-pip-version-check -e ./client
	touch $(DEV)

# npm ci only when the lock file changed since the last install (order-only: node/npm first).
$(JS_STAMP): $(JS_DIR)/package-lock.json | system-packages
	cd $(JS_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $(JS_STAMP)

$(TS_STAMP): $(TS_DIR)/package-lock.json | system-packages
	cd $(TS_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $(TS_STAMP)

$(KOTLIN_STAMP): $(KOTLIN_DIR)/package-lock.json | system-packages
	cd $(KOTLIN_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $(KOTLIN_STAMP)

## run: the API and dashboard in the micro profile (no servers needed) on 127.0.0.1:$${PORT:-5000}
run: $(RUNTIME)
	$(PY) run.py

# Test processes: every fixture starts its own servers on free ports, so files run side by side
# (tests of one file stay together in one process).
TEST_WORKERS ?= 2

## test: install what the tests need (Python and npm packages, the Kotlin compiler, Redis, PostgreSQL, nginx, node) and run them all
test: $(DEV) system-packages $(JS_STAMP) $(TS_STAMP) $(KOTLIN_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -v -n $(TEST_WORKERS) --dist loadfile

## test-unit: the unit tier only (no database, server or process; well under a minute; docs/testing.md)
test-unit: $(DEV)
	$(PY) -m pytest -q -m unit -n $(TEST_WORKERS) --dist loadfile

## test-integration: the integration tier (the app in process on SQLite, PostgreSQL and Redis)
test-integration: $(DEV) system-packages
	$(PY) -m pytest -q -m integration -n $(TEST_WORKERS) --dist loadfile

## test-system: the system tier (gunicorn, Celery, beat, nginx, run.py, chromium, the npm SDKs, tsc, mypy, kotlinc)
test-system: $(DEV) system-packages $(JS_STAMP) $(TS_STAMP) $(KOTLIN_STAMP)
	$(PY) -m pytest -q -m system -n $(TEST_WORKERS) --dist loadfile

## up / down: the full profile (nginx :8080 → gunicorn :8000 → Redis → Celery → PostgreSQL)
up: $(RUNTIME) system-packages
	$(PY) -m stack up

down:
	$(PY) -m stack down

## faults: the full profile under a steady stream, one fault at a time (a few minutes; loopback)
faults: $(DEV) system-packages
	$(PY) -m stack.faults

## scale: the full profile as 7 hosts (network namespaces, root), a worker host then an API host killed (~3.5 min)
scale: $(DEV) system-packages
	$(PY) -m stack.scale

## bench: ours against the limit, the ceiling and baselines S and C, one table (~6 min; loopback); OLD=REV adds ours at that commit, GRANIAN=1 the ceiling and ours on granian
bench: $(DEV) system-packages
	$(PY) -m loadtests.bench $(if $(OLD),--old $(OLD)) $(if $(GRANIAN),--granian)

## flamegraphs: py-spy flame graphs of the API and the drain under single-event load into docs/perf/ (OLD=REV: that commit, as before.svg)
flamegraphs: $(DEV) system-packages
	$(PY) -m loadtests.flamegraphs $(if $(OLD),--old $(OLD) --label before)

## bench-patterns: adversarial plan patterns against 32 KB strings, and another app's p99 (~1 min)
bench-patterns: $(DEV)
	$(PY) -m benchmarks.patterns
	$(PY) -m loadtests.patterns

## pages: the dashboard's pages and read API with 1,000,000 stored events, EXPLAINed (~3 min)
pages: $(DEV) system-packages
	$(PY) -m loadtests.pages

## retention: retention on 10,000,000 events before and after partitioning, time and WAL (~20 min)
retention: $(DEV) system-packages
	$(PY) -m loadtests.retention

## screenshots: run the browser tests and copy their screenshots to docs/screenshots/ (docs/dashboard.md)
screenshots: $(DEV) system-packages
	$(PY) -m pytest -q tests/browser
	mkdir -p docs/screenshots
	find test-artifacts/screenshots -name '*.png' ! -name 'browser-*' ! -name 'long-*' -exec cp {} docs/screenshots/ \;

## loadtest: Locust SDK-like users against the full profile for 2 minutes, with thresholds
loadtest: $(DEV) system-packages
	$(PY) -m loadtests.loadtest

system-packages:
	@bash stack/install-system-packages.sh

lint: $(DEV)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/lint-imports

format: $(DEV)
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .
