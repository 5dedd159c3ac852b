# The two commands: `make demo` and `make test`. Both create .venv and install pinned versions.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
COMPILED := $(VENV)/.compiled
# uv resolves and installs the same pins as pip, in seconds instead of minutes (the install is most of a fresh `make demo`).
UV_VERSION := 0.13.8
export PYTHONPATH := $(CURDIR)/plugins:$(CURDIR)

.PHONY: venv test demo ui browser bench bench-scale lint constraints clean

$(STAMP): pyproject.toml constraints.txt
	@echo "==> creating $(VENV) with $(PYTHON) and installing pinned requirements"
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version' 
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check pip==26.3 uv==$(UV_VERSION)
	$(BIN)/uv pip install -q --python $(BIN)/python -e ".[dev]" -c constraints.txt
	@touch $(STAMP)

venv: $(STAMP)

# uv, unlike pip, installs no .pyc files; where PYTHONDONTWRITEBYTECODE is set (as in many container images) every
# process then compiles what it imports from source: 4.0 s instead of 1.35 s to import what opens the lake, 4.2 s
# instead of 1.9 s for Airflow, 9.4 s instead of 3.8 s for GX. The targets that start many processes (the suite's
# Airflow components and CLI runs, the benchmarks, the UI) compile the installed packages once (≈25 s); the demo
# does not, as it runs Airflow in its own process and would win back only ≈8 s of the 25 (docs/performance.md).
$(COMPILED): $(STAMP)
	@echo "==> compiling the installed packages to bytecode"
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib
	@touch $(COMPILED)

# loadscope: a module's tests run on one worker, so its module fixtures (an Airflow cluster, a lake) are built
# once; xdist 3.8's loadgroup no longer groups under pytest 9 (it renames items' _nodeid, which pytest 9
# no longer reads), which had started the scheduler module's cluster on both workers.
test: $(COMPILED) browser
	$(BIN)/python -m pytest -n 2 --dist loadscope -q --durations=15

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(COMPILED)
	$(BIN)/python benchmarks/run.py

# The embedded engine at 10,000 and 50,000 instances (≈11 GB under benchmarks/.data, ≈40 min): where Athena pays.
bench-scale: $(COMPILED)
	$(BIN)/python benchmarks/scale.py

# A month of history through the real DAGs on a local moto server; report in ./out, runs in ./airflow_home.
demo: venv
	$(BIN)/python -m sim.demo run

# The Airflow UI on 127.0.0.1:8080 (api-server, scheduler, dag-processor, triggerer; nothing else listens) over ./airflow_home.
ui: $(COMPILED)
	$(BIN)/python -m sim.demo ui

# The UI test drives headless Chromium (Debian's `chromium`); install it when it is missing.
browser:
	@[ -x /usr/bin/chromium ] || { echo "==> installing chromium for the UI test"; \
	  SUDO=$$([ "$$(id -u)" -ne 0 ] && command -v sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }

constraints:
	rm -rf /tmp/pc-constraints && $(PYTHON) -m venv /tmp/pc-constraints
	/tmp/pc-constraints/bin/pip install -q ".[dev]"
	(echo "# Every transitive version, frozen from a clean install of the package with its dev extra on Python 3.11."; \
	 echo "# Regenerate with: make constraints"; /tmp/pc-constraints/bin/pip freeze | grep -v '^-e\|^patch-compliance') > constraints.txt

clean:
	rm -rf $(VENV) out airflow_home .demo .pytest_cache .ruff_cache
