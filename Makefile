# The two commands a newcomer needs: `make demo` and `make test`. Everything installs from the
# project's own lock files (uv pip compile --generate-hashes); uv itself is bootstrapped from PyPI.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
TOOLS := .tools
STAMP := $(VENV)/.installed
export UV_PYTHON_DOWNLOADS := never
export UV_NO_CONFIG := 1
UV := $(shell command -v uv 2>/dev/null || echo $(TOOLS)/bin/uv)
LOCKS := requirements/dev.lock pyproject.toml

.PHONY: help venv test lint demo bench locks clean package artifacts browser

help:
	@echo "make demo   - run the local runtime: the return-exception flow and both incidents"
	@echo "make test   - install from the lock files and run the whole test suite"
	@echo "make lint   - ruff and mypy (strict for shared/)"
	@echo "make browser - install Debian's chromium for the console's browser tests (make test does it)"
	@echo "make bench  - run every script in benchmarks/"
	@echo "make locks  - re-resolve the lock files after a change to pyproject.toml"
	@echo "make package   - build every deployment artifact into dist/deploy/ (Lambda arm64, Function App x64; py3.12)"
	@echo "make artifacts - the same artifacts for this machine's platform and Python, zipped and unzipped in dist/host/"
	@echo "make cloud-smoke STACK=<stack> - deploy (or use) a stack and prove it end to end (infra/DEPLOY.md)"

$(TOOLS)/bin/uv:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --require-hashes --no-deps -r requirements/bootstrap.lock

$(STAMP): $(LOCKS) | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(VENV)
	# --compile-bytecode: the Pulumi providers import in seconds instead of a minute when
	# PYTHONDONTWRITEBYTECODE=1 stops Python from caching bytecode itself.
	$(UV) pip sync --quiet --python $(VENV)/bin/python --require-hashes --compile-bytecode requirements/dev.lock
	$(UV) pip install --quiet --python $(VENV)/bin/python --no-deps --no-build-isolation --compile-bytecode -e .
	touch $(STAMP)

venv: $(STAMP)

# The whole suite, on one pytest-xdist worker per core (PYTEST_XDIST_AUTO_NUM_WORKERS=N overrides it).
# The host artifacts are built (or reused: cached by lock hash) first, once: the artifact tier and the
# artifact-hosted local runtime test them, and parallel workers should not each start a build.
test: $(STAMP) artifacts browser
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider -n auto

# The console's browser tests (tests/integration/console) drive Debian's chromium through Playwright
# (its executable path set; Playwright's own browser download is never used). Installed once from apt,
# as root or with sudo: CI is a fresh clone running `make test` as root.
CHROMIUM := /usr/bin/chromium
browser: $(CHROMIUM)

$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "$(CHROMIUM) is missing and apt-get is not here: install chromium"; exit 1; }
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq
	$(if $(filter 0,$(shell id -u)),,sudo) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy -p infra

demo: $(STAMP)
	$(VENV)/bin/agentcage demo

bench: $(STAMP)
	@for script in benchmarks/*.py; do \
		echo "== $$script"; \
		$(VENV)/bin/python "$$script"; \
	done

# One builder (infra/packaging.py) for both, and for `pulumi up`: each artifact from its own lock file,
# dependencies cached in .agentcage/wheels by lock hash (the first build downloads them from PyPI).
ARCH ?= arm64
package: $(STAMP)
	$(VENV)/bin/python -m infra.packaging deploy --architecture $(ARCH) --uv $(UV)

artifacts: $(STAMP)
	$(VENV)/bin/python -m infra.packaging host --uv $(UV)

locks: | $(UV)
	$(UV) pip compile pyproject.toml --all-extras --generate-hashes --python-version 3.11 --no-header --quiet -o requirements/dev.lock
	$(UV) pip compile requirements/bootstrap.in --generate-hashes --no-header --quiet -o requirements/bootstrap.lock
	# Deployment artifacts: what infra/packaging.py installs into each (one extra per artifact).
	$(UV) pip compile pyproject.toml --extra aws --generate-hashes --no-header --quiet \
		--python-version 3.12 --python-platform aarch64-manylinux_2_28 -o requirements/lambda.lock
	$(UV) pip compile pyproject.toml --extra aws-data --generate-hashes --no-header --quiet \
		--python-version 3.12 --python-platform aarch64-manylinux_2_28 -o requirements/lambda-data.lock
	$(UV) pip compile pyproject.toml --extra aws-bridge --generate-hashes --no-header --quiet \
		--python-version 3.12 --python-platform aarch64-manylinux_2_28 -o requirements/lambda-bridge.lock
	$(UV) pip compile pyproject.toml --extra azure --generate-hashes --no-header --quiet \
		--python-version 3.12 --python-platform x86_64-manylinux_2_28 -o requirements/functionapp.lock

clean:
	rm -rf $(VENV) $(TOOLS) .agentcage .pytest_cache .mypy_cache .ruff_cache

# Prove a deployment with real accounts (infra/DEPLOY.md, "Prove a deployment"): deploy STACK (or use
# it: SMOKE_ARGS=--skip-deploy), publish dist/deploy/function-app.zip, play the return-exception flow
# with an Entra token, and find its trace id with the saved Logs Insights query and KQL search.
.PHONY: cloud-smoke
cloud-smoke: $(STAMP)
	@test -n "$(STACK)" || { echo "usage: make cloud-smoke STACK=<stack> [SMOKE_ARGS='--skip-deploy ...']"; exit 2; }
	$(MAKE) package
	$(VENV)/bin/python -m infra.smoke --stack "$(STACK)" $(SMOKE_ARGS)
