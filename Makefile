# Featurehouse dev loop. `make demo` and `make test` are the two commands a new user needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export DBT_PROFILES_DIR := $(CURDIR)
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup services deps demo test test-fast lint format bench docs clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt setup.py sync/featurehouse/online/redis/_speedups.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# Redis, PostgreSQL, Chromium and the Kafka jars for `make test`: installs what is missing
# (apt-get, as root) and starts what is not running. `make demo` does not need it.
services:
	bash dev/services.sh

# The featurehouse dbt package into the demo and the integration tests (`dbt deps`, local path
# in packages.yml: offline). `make demo` and the test fixtures run it themselves.
deps: setup
	$(BIN)/dbt deps --quiet
	cd integration_tests && ../$(BIN)/dbt deps --quiet

demo: setup
	$(BIN)/python -m featurehouse.demo

test: setup
	$(BIN)/python -m pytest

# The pure tests (marked `fast`): no dbt, Redis, Postgres or Kafka; the URLs point nowhere so
# that a test reaching a service fails here instead of passing by chance.
test-fast: setup
	FEATUREHOUSE_REDIS_URL=redis://127.0.0.1:1/0 FEATUREHOUSE_PG_PORT=1 \
		$(BIN)/python -m pytest -m fast -q -p no:cacheprovider

lint: deps
	$(BIN)/ruff check sync seeds benchmarks dev examples
	$(BIN)/ruff format --check sync seeds benchmarks dev examples
	$(BIN)/sqlfluff lint models macros tests
	cd integration_tests && ../$(BIN)/sqlfluff lint models tests

format: setup
	$(BIN)/ruff format sync seeds benchmarks dev examples
	$(BIN)/ruff check --fix sync seeds benchmarks dev examples

# Issue 19's table of targets, each against its reference measured in the same run (~6 min on
# 2 cores; it installs wrk, the HTTP load generator, when missing: dev/services.sh);
# `make bench BENCH_ARGS=--quick` runs it at 100k entities in a few minutes.
bench: deps
	FEATUREHOUSE_SERVICES="redis wrk" bash dev/services.sh
	$(BIN)/python -m benchmarks table $(BENCH_ARGS)

docs: deps
	$(BIN)/dbt docs generate

# The embedded online store keeps its data under target/: stop its server before removing it.
clean:
	-[ -x $(BIN)/featurehouse ] && FEATUREHOUSE_REDIS_URL= $(BIN)/featurehouse online stop
	rm -rf target logs dbt_packages integration_tests/target integration_tests/dbt_packages $(VENV)
