# The two commands a fresh machine needs: `make run` and `make test`.
# Both build the virtual environment from the pinned requirements on first use.

PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements/*.txt pyproject.toml | sha1sum | cut -c1-12)
WITH_DB := $(BIN)/python scripts/with_db.py

.PHONY: run test lint bench bench-fix test-fix-campaign venv migrate clean

venv: $(STAMP)

$(STAMP): requirements/base.txt requirements/dev.txt requirements/production.txt pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements/dev.txt
	@$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	@rm -f $(VENV)/.installed-* && touch $@

## run: web server, Celery worker and beat, with demo data (embedded PostgreSQL unless DATABASE_URL is set)
run: $(STAMP)
	$(BIN)/python scripts/run.py

## test: the whole suite on real PostgreSQL (DATABASE_URL, else the embedded one)
test: $(STAMP)
	@sh scripts/ensure_chromium.sh
	$(WITH_DB) $(BIN)/pytest $(PYTEST_ARGS)

## lint: ruff (lint and format), mypy, and the layers (import-linter, docs/architecture.md)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

## bench: throughput and latency figures (no pass/fail)
bench: $(STAMP)
	$(WITH_DB) $(BIN)/python -m bench

## bench-fix: the order round trip over the local FIX session (bench/fix_roundtrip.py)
bench-fix: $(STAMP)
	$(WITH_DB) $(BIN)/python -m bench.fix_roundtrip

## test-fix-campaign: a long FIX campaign under the auditor (FIX_CAMPAIGN_SEEDS, _STEPS, _START)
test-fix-campaign: $(STAMP)
	FIX_CAMPAIGN_SEEDS=$${FIX_CAMPAIGN_SEEDS:-20} FIX_CAMPAIGN_STEPS=$${FIX_CAMPAIGN_STEPS:-200} \
	  $(WITH_DB) $(BIN)/pytest -q -p no:cacheprovider tests/plugins/fix44/test_campaign.py

migrate: $(STAMP)
	$(WITH_DB) $(BIN)/python manage.py migrate

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache .hypothesis
