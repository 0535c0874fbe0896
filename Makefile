# Operator and developer targets; each is a thin call of the CLI or a tool.
# `make test` and `make demo` bootstrap everything they need on a fresh machine.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
TD      := $(BIN)/titan-deploy
# The demo: the real prod file + rendered overlay + one override that swaps images for local
# stand-ins (demo/README.md). Project name titan-demo; its secrets are ./secrets as in production.
DEMO    := -f docker-compose.prod.yml -f demo/docker-compose.demo.yml -p titan-demo

.PHONY: help install engine test test-unit test-integration lint typecheck fmt check-secrets render demo demo-down demo-swarm demo-swarm-down demo-vault demo-vault-down demo-images bench

help:
	@echo "make demo       build the demo images and deploy the demo stack (main command)"
	@echo "make test       ruff + mypy + the whole test suite on a real Docker engine"
	@echo "make install    create $(VENV) with titan-deploy and its test/dev tools"
	@echo "make demo-swarm the demo on a single-node Docker Swarm (demo-swarm-down restores the engine)"
	@echo "make demo-vault the demo on the agent path against a local OpenBao (demo-vault-down removes it)"
	@echo "make check-secrets | render | lint | typecheck | fmt | demo-down | bench"

$(BIN)/titan-deploy: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

install: $(BIN)/titan-deploy

engine: install
	PYTHON=$(BIN)/python bash scripts/engine.sh

# The suite runs on 2 pytest-xdist workers (engine tests wait on containers while unit tests use
# the CPU; each test file runs whole on one worker, so its module fixtures start once, and the
# files that share the session's demo stack run on one worker, so it starts once: the groups are
# set in tests/conftest.py, which also queues the long groups first; every stack has a random tdtest-* project name and the Swarm tests run
# on dockerds of their own in network namespaces, so files on different workers never meet).
# --durations lists the slowest tests in every log: CI time is budgeted.
test: install engine demo-images
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	TITAN_REQUIRE_DOCKER=1 $(BIN)/pytest -q -n 2 --dist loadgroup --no-loadscope-reorder --durations=30

test-unit: install
	$(BIN)/pytest -q tests/unit tests/cli

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(TD) lint

# the package's type hints, checked ([tool.mypy] in pyproject.toml); also part of `make test`
typecheck: install
	$(BIN)/mypy

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

demo-images: engine
	bash scripts/build-demo-images.sh

demo: install engine demo-images
	$(TD) init
	$(BIN)/python demo/gen_exchange_keys.py secrets --registry .titan-deploy/demo
	$(TD) check-secrets --fix
	$(TD) $(DEMO) up
	$(TD) $(DEMO) verify
	$(TD) $(DEMO) status
	$(TD) $(DEMO) audit-logs

demo-down: install
	$(TD) $(DEMO) down --volumes
	# the demo's data is gone: forget its rotation state and re-render the committed overlay
	rm -f .titan-deploy/state.json
	$(TD) render

# The demo on the agent path (README "Secrets managers"): a local OpenBao on 127.0.0.1 (random
# port) started and stopped by the script, the agent image built from the same `bao` binary.
demo-vault: install engine demo-images
	TD=$(TD) PY=$(BIN)/python bash scripts/demo-vault.sh up

demo-vault-down: install
	TD=$(TD) PY=$(BIN)/python bash scripts/demo-vault.sh down

# The demo on Docker Swarm (README "Several hosts"): a single-node swarm only if the engine is
# in none; demo-swarm-down removes the stack, its secret objects and volumes, and leaves the
# swarm only if demo-swarm created it.
demo-swarm: install engine demo-images
	TD=$(TD) bash scripts/demo-swarm.sh up

demo-swarm-down: install
	TD=$(TD) bash scripts/demo-swarm.sh down

# every figure next to its baseline measured in the same run, and the ratio; the load average
# before and after (a shared machine makes the figures noisy: README "Development")
bench: install engine demo-images
	@echo "load average before: $$(cut -d' ' -f1-3 /proc/loadavg) ($$(nproc) CPUs)"
	$(BIN)/python benchmarks/cli_startup.py
	$(BIN)/python benchmarks/up_overhead.py
	$(BIN)/python benchmarks/audit_throughput.py --size-mb 1024 --container-mb 128
	$(BIN)/python benchmarks/rotation.py
	$(BIN)/python benchmarks/log_read.py
	$(BIN)/python benchmarks/agent_rotation.py
	@echo "load average after: $$(cut -d' ' -f1-3 /proc/loadavg)"

check-secrets: install
	$(TD) check-secrets

render: install
	$(TD) render
