# The two commands: `make run` and `make test`. Everything they need is installed from here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
NODE_STAMP := node_modules/.installed-$(shell cat package.json | cksum | cut -d' ' -f1)

.PHONY: help install browser run test lint typecheck unit synth deploy destroy smoke bench clean schemas

help:
	@echo "make run      start the platform locally (API, WebSocket, dashboard) on demo data"
	@echo "make test     lint, type-check and run every test suite"
	@echo "make synth    synthesise the AWS stack offline (cdk.out/)"
	@echo "make deploy   cdk deploy (needs an AWS account and credentials; STAGE=dev for a second stack)"
	@echo "make destroy  cdk destroy (the data is retained: docs/OPERATIONS.md)"
	@echo "make smoke    URL=<api url> KEY=<admin key>: a smoke test of a deployment"
	@echo "make bench    run the benchmarks and print the figures"

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip==25.3
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[local,dev]'
	rm -f $(VENV)/.installed-* && touch $@

$(NODE_STAMP): package.json
	npm install --no-audit --no-fund --no-package-lock --loglevel=error
	rm -f node_modules/.installed-* && touch $@

# Headless Chromium for the dashboard's browser tests, from Debian: browser builds cannot be
# downloaded here (so never `playwright install`); curl and jq, which the README's examples use
# (tests/e2e/test_readme_examples.py runs them). Only installed when missing, as root or via sudo.
browser:
	@missing=""; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium chromium-driver"; \
	command -v curl >/dev/null || missing="$$missing curl"; \
	command -v jq >/dev/null || missing="$$missing jq"; \
	if [ -n "$$missing" ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# The dashboard loads its chart library from node_modules (served at /vendor).
run: install $(NODE_STAMP)
	$(BIN)/trading demo seed --if-empty
	$(BIN)/trading serve

# ruff for style, lint-imports for the dependency rule (the contracts in pyproject.toml).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

test: install $(NODE_STAMP) browser lint typecheck
	$(BIN)/pytest -n 2 --dist loadgroup tests --ignore=tests/bench

unit: install
	$(BIN)/pytest tests/unit -q

schemas: install
	$(PY) -m trading_system.entrypoints.schemas events/schemas

synth: install $(NODE_STAMP)
	CDK_DISABLE_VERSION_CHECK=1 npx cdk synth --quiet $(CDK_STAGE)

# STAGE=dev deploys a second stack, TradingSystem-dev, beside the default one.
CDK_STAGE := $(if $(STAGE),-c stage=$(STAGE),)

deploy: install $(NODE_STAMP)
	CDK_DISABLE_VERSION_CHECK=1 npx cdk deploy $(CDK_STAGE) --require-approval broadening

# The data (table, buckets, bus archive) is retained: see docs/OPERATIONS.md to delete it too.
destroy: install $(NODE_STAMP)
	CDK_DISABLE_VERSION_CHECK=1 npx cdk destroy $(CDK_STAGE)

# make smoke URL=https://<api>.execute-api.<region>.amazonaws.com KEY=tsk_... [WS=wss://<ws api>/live]
smoke: install
	@test -n "$(URL)" -a -n "$(KEY)" || { echo "usage: make smoke URL=<the API's URL> KEY=<an admin key> [WS=<WebSocketUrl>]"; exit 2; }
	TRADING_SMOKE_KEY="$(KEY)" $(BIN)/trading deployment smoke --url "$(URL)" $(if $(WS),--stream-url "$(WS)")

# wrk loads the local server for the HTTP load bench; from Debian, only when missing.
bench: install
	@command -v wrk >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends wrk; }
	$(BIN)/pytest tests/bench -s -q -p no:xdist -p no:randomly

clean:
	rm -rf $(VENV) node_modules cdk.out .cache .pytest_cache .mypy_cache .ruff_cache
