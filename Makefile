# The two commands a new user needs:  make run  and  make test.
# Every step is idempotent: stamps and fingerprints skip work already done.

PYTHON_VERSION := $(shell cat .python-version)
PYTHON_MINOR := $(shell cut -d. -f1,2 .python-version)
PY := .venv/bin/python
export TF_CPP_MIN_LOG_LEVEL := 3
# Rasa's telemetry and error reports would call out to the internet: never.
export RASA_TELEMETRY_ENABLED := false
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup system-deps venv model seed run cluster soak shell lint test test-fast validate eval clean

setup: system-deps venv model seed

# Debian packages: redis-server (tracker/lock store, queue, outboxes); redis-sentinel and
# haproxy: make cluster's failover and load balancer; chromium: the headless browser
# tests/browser drives through Playwright.
SYSTEM_PACKAGES := redis-server redis-sentinel haproxy chromium
system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

venv: .venv/.installed

.venv/.installed: pyproject.toml
	@test -x .venv/bin/python || { \
	  py=$$(command -v python$(PYTHON_MINOR) || true); \
	  pyenv_py="$${PYENV_ROOT:-$$HOME/.pyenv}/versions/$(PYTHON_VERSION)/bin/python"; \
	  [ -x "$$pyenv_py" ] && py="$$pyenv_py"; \
	  [ -n "$$py" ] || { echo "Python $(PYTHON_VERSION) not found (pyenv install $(PYTHON_VERSION))"; exit 1; }; \
	  echo "creating .venv with $$py"; "$$py" -m venv .venv; }
	$(PY) -m pip install -q --upgrade "pip<24.1"
	$(PY) -m pip install -q -e ".[test]"
	@touch $@

model: venv
	@$(PY) -m bot.nlu.training

seed: venv
	@$(PY) -m actions.orders.demo_store --db var/demo_store.db

# Every process under supervisord: a crashed one is restarted (bot/devtools/supervision.py).
run: setup
	@$(PY) -m bot.devtools.stack

# The production topology on one machine: Redis + Sentinel, 2 x actions, Rasa and handoff,
# HAProxy in front (docs/operations.md, "Topology").
cluster: setup
	@$(PY) -m bot.devtools.cluster

# The long fault test: the cluster under load, every kind of process crashed again and again
# for FAULT_SOAK_SECONDS (default half an hour); make test runs one round (tests/cluster).
soak: setup
	FAULT_SOAK_SECONDS=$${FAULT_SOAK_SECONDS:-1800} $(PY) -m pytest tests/cluster/test_failover.py -k soak -s

shell: venv
	@$(PY) -m bot.devtools.chat

validate: venv
	$(PY) -m rasa data validate --fail-on-warnings

# The gates: ruff (lint and format) over the whole tree, and the import contracts of
# pyproject.toml (layers point one way, the core imports no edge, no cycles).
lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	.venv/bin/lint-imports

# Lint first: it takes seconds, setup can take a quarter of an hour on a fresh machine.
test: lint setup
	$(PY) -m pytest

# The tests that need neither Redis nor a trained model: under a minute, no redis-server.
# tests/conftest.py marks each test's tier at collection (fast, redis, model or slow).
test-fast: venv
	$(PY) -m pytest -m fast

# NLU figures on the public benchmarks (../shared/benchmarks), ours vs Rasa's default
# pipeline; trains what is missing, writes docs/benchmarks/nlu.md and plots.
eval: setup
	$(PY) -m bot.evaluation.benchmark

clean:
	rm -rf models build var .rasa results
