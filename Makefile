# Two commands on a fresh machine with only Python 3.11+:  make run  |  make test
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run dev test manage lint format bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit("error: Python 3.11 or newer is required (PYTHON=$(PYTHON))") if sys.version_info < (3, 11) else None'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

run: $(VENV)/.installed
	$(PY) -m portal.devrun

# The same with DEBUG on and Django's autoreloading development server instead of gunicorn.
dev: $(VENV)/.installed
	$(PY) -m portal.devrun dev

test: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

# One management command with make run's environment (database, emulator, demo mode): make manage ARGS="roles list"
manage: $(VENV)/.installed
	$(PY) -m portal.devrun manage $(ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(VENV)/.installed
	for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) var staticfiles
