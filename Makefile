# Every target installs what it needs; a fresh clone needs only `make demo` or `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SHELL := /bin/bash

.PHONY: install redis rabbitmq browser demo test test-unit lint format typecheck docs worker flower bench bench-console clean

# Python packages only: the fast layer, lint and typecheck need nothing else.
install: $(STAMP)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

# The demo, the bench and the integration tests start private redis-servers; redis-cli (Debian's
# redis-tools, a dependency of redis-server) joins the test clusters.
redis:
	@{ command -v redis-server && command -v redis-cli; } >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1; then \
	    echo "installing redis-server and redis-tools with apt-get"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools) >/dev/null; \
	  else \
	    echo "redis-server or redis-cli is missing and no package manager is known here: install Redis 6+ and retry" >&2; exit 1; \
	  fi; }

demo: install redis
	$(BIN)/python -m executor.demo

# The broker tests also run on RabbitMQ at 127.0.0.1:5672: start it (installing it with apt-get
# if needed) when nothing answers there.
rabbitmq:
	@up() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }; \
	if ! up; then \
	  if ! command -v rabbitmq-server >/dev/null 2>&1; then \
	    echo "installing rabbitmq-server with apt-get"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server) >/dev/null; \
	  fi; \
	  echo "starting rabbitmq-server"; \
	  rabbitmq-server -detached; \
	  for _ in $$(seq 120); do up && break; sleep 1; done; \
	  rabbitmqctl -q --timeout 60 await_startup; \
	fi

# The Flower browser test drives Debian's chromium (never a downloaded browser); without one it
# is skipped, so a failed install here does not stop the rest. Only the tests need it.
browser:
	@command -v chromium >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1 || { \
	  echo "installing chromium with apt-get"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null \
	    || echo "chromium could not be installed: the Flower browser test will be skipped" >&2; }

# The integration tests mostly wait on workers and servers, so files run side by side: each
# pytest-xdist process has its own redis-server, and a file stays in one process (--dist
# loadfile) so its module fixtures (a Sentinel group, a cluster) are started once.
TEST_WORKERS ?= 3

test: install redis rabbitmq browser
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile

# The fast layer loads only the pytest plugins it uses: the others (schemathesis, xdist, anyio)
# would be imported, and their modules rewritten for assertions, on every run.
test-unit: install
	PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 $(BIN)/pytest -q -p pytest_timeout -p _hypothesis_pytestplugin \
	  -m "not integration" tests/unit

lint: install
	$(BIN)/ruff check executor destinations tests docs/hooks
	$(BIN)/ruff format --check executor destinations tests docs/hooks
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format executor destinations tests docs/hooks
	$(BIN)/ruff check --fix executor destinations tests docs/hooks

typecheck: install
	$(BIN)/mypy

# The documentation site from docs/ into site/ (git-ignored); --strict fails on a broken link or
# reference. The reference pages are generated from the code by docs/hooks/reference.py.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

worker: install
	$(BIN)/executor worker --app $(APP)

flower: install
	$(BIN)/executor flower --app $(APP)

# Plain Celery against this engine on a private redis-server; see docs/figures/performance.md.
bench: install redis
	$(BIN)/executor bench --n 2000 --rounds 3 --json .bench/latest.json

# The console's pages over 100,000 stored invocations; see docs/figures/console.md.
bench-console: install redis
	$(BIN)/executor bench --console --n 100000 --samples 100 --json .bench/console.json

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info site
