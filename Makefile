# topomaps: two commands on a fresh machine.
#   make run   - set up .venv and start the dashboard on http://$(HOST):$(PORT)
#   make test  - set up .venv with the test tools, lint, run the whole suite (installs Chromium
#                and redis-server with apt-get when missing)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8050
export HOST PORT

.PHONY: run test lint format bench clean browser-deps services-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamps make the second run instant; they are rebuilt when a requirements file changes.
$(VENV)/.requirements: requirements.txt | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt
	touch $@

$(VENV)/.requirements-test: requirements-test.txt $(VENV)/.requirements
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-test.txt
	touch $@

# The project itself, editable and without dependencies (the lock above pins them): its
# packages import from anywhere, so no code sets sys.path or PYTHONPATH.
$(VENV)/.project: pyproject.toml $(VENV)/.requirements
	$(BIN)/pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	touch $@

# The demos, built once and deterministically (a data directory copies them: the first Run on a
# fresh install does not train them); rebuilt when the code that builds them changes.
DEMOS := build/demos/.built
$(DEMOS): $(VENV)/.project topomap_core/io/demo.py topomap_core/regularizers/fit.py
	$(BIN)/python -m topomap_core.io.demo --build build/demos
	touch $@

run: $(VENV)/.project $(DEMOS)
	$(BIN)/python app.py

lint: $(VENV)/.requirements-test $(VENV)/.project
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint browser-deps services-deps $(DEMOS)
	$(BIN)/python -m pytest

# Browser tests drive Debian's chromium + chromium-driver; installed only when missing
# (sudo only when not root).
browser-deps:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
		echo "Installing chromium and chromium-driver (browser tests)"; \
		$$SUDO apt-get update -qq && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	fi

# Deployment tests (tests/deploy/) start a real redis-server next to the Celery worker;
# installed only when missing (sudo only when not root).
services-deps:
	@if ! command -v redis-server >/dev/null 2>&1; then \
		SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
		echo "Installing redis-server (deployment tests)"; \
		$$SUDO apt-get update -qq && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; \
	fi

format: $(VENV)/.requirements-test $(VENV)/.project
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(VENV)/.project
	$(BIN)/python benchmarks/bench_layouts.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info build
