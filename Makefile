# Two commands on a fresh machine: `make demo` and `make test`. Everything else is here for convenience.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PATH := $(abspath $(BIN)):$(PATH)
export TZ ?= UTC

.PHONY: setup browser demo test ui bench lint lock clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

## setup: create .venv and install the pinned dependencies (idempotent)
setup: $(STAMP)

## demo: generate a world and run the whole loop on the embedded DuckDB warehouse
demo: setup
	$(BIN)/crmguard demo

## browser: Debian's headless Chromium for the report's browser test (installed once, if missing)
browser:
	@command -v chromium >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "chromium could not be installed: tests/test_report.py will skip and say so" >&2

## test: the full test suite (what CI runs) on two workers by default, as the 2-core machines have (TEST_WORKERS=1: serial);
## each test file runs whole on one worker, so module and session fixtures are built once per worker
TEST_WORKERS ?= 2
test: setup browser
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

## ui: the Dagster UI (dagster dev) on http://127.0.0.1:3000
ui: setup
	mkdir -p data/dagster_home
	cp dagster_project/dagster.yaml data/dagster_home/dagster.yaml
	DAGSTER_HOME=$(abspath data/dagster_home) $(BIN)/dagster dev -m crmguard.definitions

## bench: every benchmark, printing figures and ratios against the raw engine
bench: setup
	$(BIN)/crmguard bench all

lint: setup
	$(BIN)/ruff check dagster_project tests

## lock: re-freeze constraints.txt from the current venv after changing a pin
lock: setup
	( echo "# Exact versions the test suite ran against (pip freeze of a fresh \`make setup\`). Regenerate with \`make lock\`."; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -v '^crmguard' ) > constraints.txt

clean:
	rm -rf data/demo data/warehouse.duckdb* target dbt_project/target dbt_project/logs
