# Custos: `make demo` runs the back office with demo data; `make test` runs the test suite.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PORT ?= 8000
# The address in the links of the demo's emails (reminders): the demo's own, unless set.
CUSTOS_SITE_URL ?= http://127.0.0.1:$(PORT)

.PHONY: demo test bench lint format install install-dev lock clean-demo

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Custos needs Python 3.11 or newer (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# The exact versions (with their hashes) come from the lock files under requirements/, made from
# pyproject.toml's ranges by `make lock`; Custos itself is installed on top without resolving again.
# Stamps make a second run skip the install unless a lock file or pyproject.toml changed.
$(VENV)/.installed-runtime: pyproject.toml requirements/runtime.txt | $(PY)
	$(PIP) install --quiet --require-hashes -r requirements/runtime.txt
	$(PIP) install --quiet --no-deps -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml requirements/dev.txt | $(PY)
	$(PIP) install --quiet --require-hashes -r requirements/dev.txt
	$(PIP) install --quiet --no-deps -e .
	@touch $@ $(VENV)/.installed-runtime

# Re-resolve the lock files after a change to pyproject.toml's dependencies (versions already
# locked are kept where the ranges allow; `make lock UPGRADE=1` takes the newest).
lock: | $(PY)
	$(PIP) install --quiet 'uv>=0.5,<1'
	for lock in runtime dev; do \
		extra=$$([ $$lock = dev ] && echo '--extra dev'); \
		$(VENV)/bin/uv pip compile pyproject.toml $$extra --python-version 3.11 --universal \
			--generate-hashes --custom-compile-command "make lock" $(if $(UPGRADE),--upgrade) \
			-o requirements/$$lock.txt -q || exit 1; \
	done

install: $(VENV)/.installed-runtime
install-dev: $(VENV)/.installed-dev

demo: install
	$(PY) manage.py migrate --no-input
	CUSTOS_SITE_URL=$(CUSTOS_SITE_URL) $(PY) manage.py seed_demo
	@echo ""
	@echo "Custos back office: http://127.0.0.1:$(PORT)/admin/  (Ctrl-C stops web, worker and beat)"
	@echo ""
	CUSTOS_PORT=$(PORT) CUSTOS_SITE_URL=$(CUSTOS_SITE_URL) $(VENV)/bin/honcho start -f Procfile

test: install-dev
	$(VENV)/bin/pytest

# Every benchmark runs even if an earlier one misses a target; the exit status is 1 if any did.
# `make bench BENCH_ARGS=--quick` checks in a minute or two that each still works (CI does).
BENCHMARKS := run vault package retention recompute horizon reviews formats redaction_at_rest
BENCH_ARGS ?=
bench: install-dev
	@status=0; for name in $(BENCHMARKS); do \
		echo "nice -n 10 $(PY) benchmarks/$$name.py $(BENCH_ARGS)"; \
		nice -n 10 $(PY) benchmarks/$$name.py $(BENCH_ARGS) || status=1; \
	done; exit $$status

# mypy reads its settings (files, plugins, strictness) from pyproject.toml.
lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean-demo:
	rm -rf var/
