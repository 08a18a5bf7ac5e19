# The two commands a newcomer needs: `make run` and `make test`. Both install what is
# missing first (a virtualenv in .venv from requirements*.txt).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# The one address runs, pages and sweep trials use (dashboard/run.py, settings); set it
# when clients reach the server another way (a proxy, another host name).
TRACKER_PUBLIC_URL ?= http://$(HOST):$(PORT)
export TRACKER_PUBLIC_URL
PG_URL ?= postgres://postgres@127.0.0.1:5432/tracker
REDIS_TEST_URL ?= redis://127.0.0.1:6379/0
# Two test processes: most tests wait on servers, workers and browsers, not on the CPU.
PYTEST_ARGS ?= -n 2

.PHONY: install run web worker migrate test test-sqlite test-postgres lint format bench browser clean

$(VENV)/.installed-runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed-runtime requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed-runtime

migrate: install
	$(PY) manage.py migrate --noinput

# The dashboard (ASGI: HTTP + websockets) and a Celery worker, on the embedded default
# unless DATABASE_URL / REDIS_URL say otherwise. Ctrl-C stops both.
run: migrate
	$(PY) manage.py bootstrap
	@$(PY) -m dashboard.run --host $(HOST) --port $(PORT)

web: migrate
	$(PY) -m uvicorn dashboard.asgi:application --host $(HOST) --port $(PORT)

worker: install
	$(PY) -m celery -A dashboard worker --loglevel=INFO

# The whole suite on the embedded default, then again on PostgreSQL + Redis when they
# are reachable (a note says why not when they are not). Tests marked `once` (their
# subject does not depend on the database: framework trainings, importers, make run, pip,
# what pages draw) run in the first pass only; `pg_once` (the schema fuzzer) in the
# PostgreSQL pass when there is one (tests/conftest.py).
test: $(VENV)/.installed-dev browser
	@if $(PY) tests/services_reachable.py "$(PG_URL)" "$(REDIS_TEST_URL)"; then \
		$(MAKE) --no-print-directory test-sqlite SQLITE_MARKS="not pg_once" && \
		$(MAKE) --no-print-directory test-postgres; \
	else \
		$(MAKE) --no-print-directory test-sqlite && \
		echo "SKIPPED the PostgreSQL + Redis pass: not reachable (see above)."; \
	fi

SQLITE_MARKS ?=
test-sqlite: $(VENV)/.installed-dev
	env -u DATABASE_URL -u REDIS_URL $(PY) -m pytest $(PYTEST_ARGS) $(if $(SQLITE_MARKS),-m "$(SQLITE_MARKS)")

test-postgres: $(VENV)/.installed-dev
	@if $(PY) tests/services_reachable.py "$(PG_URL)" "$(REDIS_TEST_URL)"; then \
		DATABASE_URL=$(PG_URL) REDIS_URL=$(REDIS_TEST_URL) $(PY) -m pytest $(PYTEST_ARGS) -m "not once"; \
	else \
		echo "SKIPPED the PostgreSQL + Redis pass: not reachable (see above)."; \
	fi

# Chromium for the browser tests, from the system package manager when we may use it;
# without it those tests are skipped with a reason.
browser:
	@test -x /usr/bin/chromium || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "Installing Chromium for the browser tests (apt-get install chromium)"; \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null \
			|| echo "Could not install Chromium: browser tests will be skipped."; \
		else echo "Chromium not installed (apt-get install chromium): browser tests will be skipped."; fi; }

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) tests/import_cycles.py

format: $(VENV)/.installed-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

BENCHMARKS := sdk_overhead ingest query live_latency page group_charts

bench: $(VENV)/.installed-dev
	@for b in $(BENCHMARKS); do echo "== benchmarks/$$b.py"; $(PY) benchmarks/$$b.py || exit 1; done

clean:
	rm -rf var/test .pytest_cache
