# feedgen — `make help` lists the targets.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PG_URL ?= postgresql+psycopg2://postgres@127.0.0.1:5432/test
export FEEDGEN_TEST_PG_URL ?= $(PG_URL)

.PHONY: all help venv demo serve test test-fast lint bench dist dist-check postgres browser libical \
	clean

all: lint test ## lint and test (the default)

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml setup.py feedgen/_speedups.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,lint]'
	touch $(STAMP)

venv: $(STAMP) ## create the virtualenv and install feedgen with its test tools

demo: $(STAMP) ## seed a demo CRM in SQLite and build every feed into var/feeds
	$(BIN)/feedgen --config config.demo.toml demo --reset
	$(BIN)/feedgen --config config.demo.toml build
	$(BIN)/feedgen --config config.demo.toml status --limit 5 --show-urls

serve: ## serve var/feeds on http://localhost:8000, the demo feeds' URL (Ctrl-C stops)
	$(BIN)/python -m http.server --bind 127.0.0.1 --directory var/feeds 8000

postgres: ## start the local PostgreSQL server when it is installed but stopped
	@if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then \
	  if command -v pg_ctlcluster >/dev/null; then \
	    echo "starting PostgreSQL"; \
	    pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | head -1) main start || true; \
	  fi; \
	fi

browser: ## install Debian's headless Chromium for the browser test (root with apt only)
	@if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  echo "installing chromium for the browser test"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	    || echo "chromium could not be installed: the browser test will be skipped"; \
	fi

libical: ## install Debian's libical, the feed checks' fifth parser (root with apt only)
	@if ! $(PYTHON) -c 'import ctypes; ctypes.CDLL("libical.so.3")' 2>/dev/null \
	    && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  echo "installing libical for the feed checks"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libical-dev >/dev/null) \
	    || echo "libical could not be installed: feeds will not be checked by libical"; \
	fi

test: $(STAMP) postgres browser libical ## run the whole test suite (PostgreSQL half when a server answers)
	$(BIN)/pytest

test-fast: $(STAMP) ## the suite without slow, browser and PostgreSQL tests
	$(BIN)/pytest -m "not slow and not browser and not postgres"

lint: $(STAMP) ## ruff and mypy
	$(BIN)/ruff check feedgen jobs tests bench
	$(BIN)/ruff format --check feedgen jobs tests bench
	$(BIN)/mypy

# Every target in one run, about 90 minutes; BENCH_ARGS='--quick' for a short one.
BENCH_ARGS ?= --full --postgres $(PG_URL)
bench: $(STAMP) postgres ## benchmark every target against the naive baseline; BENCH_ARGS='--quick'
	$(BIN)/python -m bench $(BENCH_ARGS)

dist: $(STAMP) ## build the sdist and the wheel into dist/ (python -m build)
	rm -rf dist
	$(BIN)/python -m build --outdir dist .

dist-check: dist ## install dist/'s wheel, and its sdist without a C compiler, in clean venvs; run them
	FEEDGEN_TEST_DIST=dist $(BIN)/pytest -q tests/test_packaging.py

clean: ## remove the virtualenv, caches, built distributions and generated data
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist *.egg-info
	find feedgen -name '*.so' -delete
