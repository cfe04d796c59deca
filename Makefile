# The two commands: `make run` (the whole stack locally) and `make test` (the whole test suite).
# Both create the virtual environment and install everything on a fresh machine.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: run test install lint format clean

$(VENV)/.installed: pyproject.toml devtools/install_system_deps.sh
	bash devtools/install_system_deps.sh
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

## run: the whole stack on embedded defaults (SecantusDB, local RabbitMQ, SMTP sink); Ctrl-C stops it
run: install
	$(PY) -m devtools.run_local

## test: lint, then every test against the real RabbitMQ and a SecantusDB server; a selection
## (PYTEST_ARGS) that collects no test fails (pytest's exit 5), so a mistyped -k or -m is never green
test: install
	bash devtools/ensure_rabbitmq.sh
	$(MAKE) --no-print-directory lint
	$(PY) -m pytest $(PYTEST_ARGS)

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format:
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
