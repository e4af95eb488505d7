# Everything a fresh machine with python3 and make needs: `make demo`, `make test`.
PYTHON ?= python3
TOOLS  := .tools
UV     := $(TOOLS)/bin/uv
VENV   := .venv
PY     := $(VENV)/bin/python
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(PYTHON)
export UV_LINK_MODE := copy
export NO_MKDOCS_2_WARNING := 1

SOURCES := core/src adapters/stub/src adapters/langgraph/src adapters/openai-agents/src
# The tests are code too: type-checked with the sources; each adapter's tests/ on its own (they
# share module names such as conftest).
ADAPTER_TESTS := $(sort $(wildcard adapters/*/tests))

.PHONY: setup demo tour test lint typecheck pytest bench soak docs dist clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv>=0.5,<1"

$(VENV)/.synced: $(UV) pyproject.toml uv.lock core/pyproject.toml $(wildcard adapters/*/pyproject.toml)
	$(UV) sync --all-packages --locked --inexact --quiet
	@touch $@

setup: $(VENV)/.synced

demo: setup
	$(VENV)/bin/sessionful demo

tour: setup
	$(PY) examples/demo.py

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy $(SOURCES) tests
	status=0; for dir in $(ADAPTER_TESTS); do $(VENV)/bin/mypy $$dir || status=1; done; exit $$status

# Beside a throwaway PostgreSQL server started from the machine's binaries (the Postgres tests
# skip, loudly, on a machine without any).
pytest: setup
	bash scripts/with-postgres.sh $(VENV)/bin/pytest -q

test: lint typecheck pytest

bench: setup
	$(UV) sync --all-packages --locked --inexact --quiet --group bench
	bash scripts/with-postgres.sh $(PY) -m benchmarks

soak: setup
	SESSIONFUL_SOAK=1 bash scripts/with-postgres.sh $(VENV)/bin/pytest -q -m slow

# Regenerates the generated reference pages, then builds the site into site/ (offline, strict:
# a broken link or a missing reference fails).
docs: setup
	$(PY) scripts/gen_hook_reference.py
	$(PY) scripts/gen_cli_reference.py
	$(PY) scripts/gen_config_reference.py
	$(VENV)/bin/mkdocs build --strict --quiet --site-dir site

# Every member's sdist and wheel (each wheel built from its sdist), into dist/.
dist: $(UV)
	rm -rf dist
	$(UV) build --all-packages --out-dir dist

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache dist site
