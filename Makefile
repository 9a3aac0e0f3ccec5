# Two commands set up a fresh machine: `make run` and `make test` (see README.md).
# The first interpreter that really runs and is >= 3.11 (version managers leave shims that fail).
PYTHON ?= $(shell for c in python3.13 python3.12 python3.11 python3; do \
	$$c -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { command -v $$c; break; }; done)
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_PATIENTS ?= 200
HOST ?= 127.0.0.1
PORT ?= 8000
TEST_ENV := DJANGO_SETTINGS_MODULE=config.settings.test

.PHONY: run test install migrate demo serve check-services lint format schemathesis bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is needed; none was found on PATH."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

## make run: install, migrate, load the synthetic demo cohort once, serve on http://127.0.0.1:8000
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo --patients $(DEMO_PATIENTS) --if-empty --demo-users
	@echo ""
	@echo "  GNE registry on http://$(HOST):$(PORT)/  (log in at /accounts/login/; API docs /api/docs/, admin /admin/)"
	@echo "  Demo logins (synthetic data only): demo.staff (/staff/), demo.site-staff (one site only), demo.patient (portal /me/), demo.researcher (/research/)"
	@echo "  password for each: demo-registry-pass"
	@echo "  First real staff user: $(PY) manage.py createsuperuser"
	@echo ""
	$(PY) manage.py runserver $(HOST):$(PORT)

## make test: the whole suite against real PostgreSQL and Redis (fails at once if they are down)
test: install
	@$(TEST_ENV) $(PY) manage.py check_services
	$(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/ruff check .
	$(TEST_ENV) $(PY) -m pytest -q $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## make bench: API throughput against PostgreSQL with 5,000 demo patients (on demand, not in CI)
bench: install
	$(TEST_ENV) $(PY) bench/api_bench.py

## make bench-validity: time-to-milestone estimates against the demo cohort's known truth (on demand, not in CI)
.PHONY: bench-validity
bench-validity: install
	$(TEST_ENV) $(PY) bench/validity.py $(VALIDITY_ARGS)

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles
