# Nuvio. `make run` and `make test` work on a fresh machine with python3 (3.11+).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip -q --disable-pip-version-check

.PHONY: run test install install-dev migrate seed lint format check schema clean bench bench-smoke

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(PIP) install -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## run: set up and serve Nuvio with demo data on http://127.0.0.1:8000
run: $(VENV)/.installed
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py seed_demo
	@echo "Serving Nuvio on http://127.0.0.1:8000 (Ctrl-C stops it)"
	$(PY) manage.py runserver 127.0.0.1:8000

## test: set up and run the whole test suite
test: $(VENV)/.installed-dev
	$(VENV)/bin/pytest

migrate: $(VENV)/.installed
	$(PY) manage.py migrate --noinput

seed: $(VENV)/.installed
	$(PY) manage.py seed_demo

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## check: migrations in sync and an OpenAPI schema without warnings
check: $(VENV)/.installed-dev
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) manage.py spectacular --validate --fail-on-warn --file /dev/null

schema: $(VENV)/.installed
	$(PY) manage.py spectacular --validate --file docs/openapi.yaml

## bench: Nuvio vs a minimal Django baseline and pgbench, side by side (about 9 minutes)
bench: $(VENV)/.installed-dev
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(PY) bench/run.py

bench-smoke: $(VENV)/.installed-dev
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(PY) bench/run.py --smoke --duration 1 --reps 1 --output /tmp/nuvio-bench-smoke.json

## chaos: faults injected under load into the Procfile stack, own DB and Redis (about 4 minutes)
.PHONY: chaos fuzz
chaos: $(VENV)/.installed-dev
	$(PY) bench/chaos.py

## fuzz: schemathesis over the whole API, longer than CI's run and with new inputs each time
fuzz: $(VENV)/.installed-dev
	NUVIO_FUZZ_EXAMPLES=$${NUVIO_FUZZ_EXAMPLES:-60} NUVIO_FUZZ_RANDOM=1 \
		$(VENV)/bin/pytest -p no:cacheprovider nuvio/tests/test_fuzz_schema.py

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
