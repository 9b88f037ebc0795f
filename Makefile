# Everything a fresh machine needs is installed from here: the venv, the Python
# requirements and Azurite from npm (and, for the browser test only, Debian's chromium
# with apt). Nothing is assumed to be pre-installed but Python 3.11+, Node and npm.
# `make demo` and `make ui` install only what they use: the app's venv and Azurite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
APP_STAMP := $(VENV)/.app-installed
PIP := pip install -q --disable-pip-version-check
AZURITE := node_modules/.bin/azurite-table
# checkov pins its own dependency tree; it gets a venv of its own so it cannot move the app's pins.
IAC_VENV := .venv-iac
IAC_STAMP := $(IAC_VENV)/.installed
WITH_AZURITE := $(PY) scripts/with_azurite.py --
# The browser test needs Debian's chromium; installed with apt when missing (sudo unless root).
CHROMIUM := command -v chromium >/dev/null 2>&1 || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }

# Where `make demo` leaves its estate for `avdimage --demo` and `make ui` (see README).
DEMO_STATE := .demo

.PHONY: install app test test-browser lint demo ui bench reliability mutation clean

install: app $(STAMP) $(IAC_STAMP)

# The app's runtime requirements and Azurite: all that the demo, the CLI and the status page need.
app: $(APP_STAMP) $(AZURITE)

$(APP_STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	@echo "pip install -r requirements.txt"
	@$(PY) -m $(PIP) -r requirements.txt
	@echo "pip install -e . (the app, editable)"
	@$(PY) -m $(PIP) --no-deps -e .
	touch $@

# The test and lint tools on top (pytest, mypy, ruff, hypothesis).
$(STAMP): $(APP_STAMP) requirements-dev.txt
	@echo "pip install -r requirements-dev.txt"
	@$(PY) -m $(PIP) -r requirements-dev.txt
	touch $@

$(IAC_STAMP): requirements-iac.txt
	$(PYTHON) -m venv $(IAC_VENV)
	$(IAC_VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements-iac.txt
	touch $@

$(AZURITE): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

test: install
	@$(CHROMIUM)
	$(WITH_AZURITE) $(PY) -m pytest -q -n 2
	$(MAKE) --no-print-directory lint

test-browser: $(STAMP)
	@$(CHROMIUM)
	$(PY) -m pytest -q tests/browser

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The demo runs on perturbed durations (seeded) with Event Grid delivering 10-120 s late.
AVD_SIM_SEED ?= 7
demo: app
	AVD_SIM_SEED=$(AVD_SIM_SEED) $(PY) -m localrun.demo --state $(DEMO_STATE)

# The status page and read API of the demo's estate at http://127.0.0.1:7071/api/status.
ui: app
	AVD_DEMO_DIR=$(DEMO_STATE) $(PY) -m localrun.ui

bench: app
	$(WITH_AZURITE) $(PY) -m benchmarks

# Starts its own persisted Azurite (it restarts it mid-run on purpose).
reliability: app
	$(PY) -m benchmarks.reliability

# Mutation testing of shared/domain and shared/steps (tens of minutes; not part of `make test`).
# mutmut 3: maintained, runs pytest in-process on a mutated copy (mutants/) and only the tests
# that cover each mutant, so it stays feasible on two cores; writes docs/mutation.md.
mutation: install  # the mutmut test set is tests/unit (pyproject [tool.mutmut]): no Azurite needed
	$(PY) scripts/mutation_report.py run
	$(PY) scripts/mutation_report.py

clean:
	rm -rf $(VENV) $(IAC_VENV) node_modules .mypy_cache .ruff_cache .pytest_cache mutants $(DEMO_STATE)
