# Custos: `make demo` runs the back office with demo data; `make test` runs the test suite.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PORT ?= 8000

.PHONY: demo test bench lint format install install-dev clean-demo

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Custos needs Python 3.11 or newer (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Stamps make a second run skip the install unless pyproject.toml changed.
$(VENV)/.installed-runtime: pyproject.toml | $(PY)
	$(PIP) install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed-runtime

install: $(VENV)/.installed-runtime
install-dev: $(VENV)/.installed-dev

demo: install
	$(PY) manage.py migrate --no-input
	$(PY) manage.py seed_demo
	@echo ""
	@echo "Custos back office: http://127.0.0.1:$(PORT)/admin/  (Ctrl-C stops web, worker and beat)"
	@echo ""
	CUSTOS_PORT=$(PORT) $(VENV)/bin/honcho start -f Procfile

test: install-dev
	$(VENV)/bin/pytest

# Every benchmark runs even if an earlier one misses a target; the exit status is 1 if any did.
# `make bench BENCH_ARGS=--quick` checks in a minute or two that each still works (CI does).
BENCHMARKS := run vault package retention
BENCH_ARGS ?=
bench: install-dev
	@status=0; for name in $(BENCHMARKS); do \
		echo "nice -n 10 $(PY) benchmarks/$$name.py $(BENCH_ARGS)"; \
		nice -n 10 $(PY) benchmarks/$$name.py $(BENCH_ARGS) || status=1; \
	done; exit $$status

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean-demo:
	rm -rf var/
