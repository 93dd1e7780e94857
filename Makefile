# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-unit install migrate lint lock bench bench-pinned bench-longtail bench-scaleout bench-sweep bench-flashsale vendor clean

# The runtime dependencies exactly as production installs them (requirements.lock), then
# Linkmint itself, editable, with the test tools (unpinned beyond pyproject.toml).
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: install            ## install, migrate and serve on http://127.0.0.1:8000
	$(BIN)/linkmint dev

test: install           ## the whole suite (TEST_DATABASE_URL/DATABASE_URL, else the embedded server)
	$(BIN)/pytest $(PYTEST_ARGS)

test-unit: install      ## the unit tests alone: no database, a few seconds
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

migrate: install
	$(BIN)/linkmint migrate

lint: install           ## ruff (lint and format), mypy, and the rooms' import contracts
	$(BIN)/ruff check app tests bench
	$(BIN)/ruff format --check app tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# Re-pins pyproject.toml's runtime dependencies, for every platform, with the hashes of their
# files on PyPI. Pins already in the file are kept when they still fit; LOCK_ARGS=--upgrade
# moves everything to the newest versions.
lock:                   ## regenerate requirements.lock (uv pip compile --generate-hashes)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet 'uv==0.13.9'
	$(BIN)/uv pip compile pyproject.toml --universal --generate-hashes --quiet \
	  --custom-compile-command 'make lock' --output-file requirements.lock $(LOCK_ARGS)

BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

# Debian's wrk (and nginx and pgbouncer for the scale-out proof): installed when missing and
# we are root, otherwise the command to run is printed.
define need_debian
	@command -v $(1) >/dev/null || test -x /usr/sbin/$(1) || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -q && apt-get install -y -q $(2); \
	  else echo "this needs $(1): sudo apt-get install -y $(2)"; exit 1; fi; }
endef

bench: $(BENCH_STAMP)   ## seed, serve and load the app on loopback, print the table (BENCHMARKS.md)
	$(call need_debian,wrk,wrk)
	$(BIN)/python -m bench $(BENCH_ARGS)

bench-pinned: $(BENCH_STAMP)   ## the same with wrk on CPU 0 and the servers on the other CPUs (latency)
	$(call need_debian,wrk,wrk)
	$(BIN)/python -m bench --pin $(BENCH_ARGS)

bench-longtail: $(BENCH_STAMP) ## 1,000,000 creators, a 5-minute Zipf mix over all of them: hit ratio, memory
	$(call need_debian,wrk,wrk)
	$(BIN)/python -m bench --long-tail $(BENCH_ARGS)

bench-scaleout: $(BENCH_STAMP) ## 3 app processes behind nginx, PgBouncer and a streaming standby
	$(call need_debian,wrk,wrk)
	$(call need_debian,nginx,nginx-light)
	$(call need_debian,pgbouncer,pgbouncer)
	$(BIN)/python -m bench.scaleout $(SCALEOUT_ARGS)

bench-sweep: $(BENCH_STAMP)    ## Whop calls of the reconciler's sweep and daily audit for 1,000 creators
	$(BIN)/python -m bench.sweep $(SWEEP_ARGS)

bench-flashsale: $(BENCH_STAMP) ## 5,000 buyers unlock one link within a minute; the webhook backlog
	$(call need_debian,wrk,wrk)
	$(BIN)/python -m bench.flashsale $(FLASHSALE_ARGS)

vendor:                 ## re-vendor htmx, SortableJS and the social icons from npm and check their hashes
	bash static/vendor/update.sh
	bash static/vendor/update-simple-icons.sh

.PHONY: assets
assets:                 ## rebuild the payout island static/payouts/dist/island.js (needs Node + npm)
	cd static/payouts && npm ci --no-audit --no-fund && npm run build

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
