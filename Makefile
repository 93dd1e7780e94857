# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install migrate lint bench vendor clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: install            ## install, migrate and serve on http://127.0.0.1:8000
	$(BIN)/linkmint dev

test: install           ## the whole suite (TEST_DATABASE_URL/DATABASE_URL, else the embedded server)
	$(BIN)/pytest $(PYTEST_ARGS)

migrate: install
	$(BIN)/linkmint migrate

lint: install
	$(BIN)/ruff check app tests

BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)   ## seed, serve and load the app on loopback, print the table (needs wrk; BENCHMARKS.md)
	$(BIN)/python -m bench $(BENCH_ARGS)

vendor:                 ## re-vendor htmx and SortableJS from npm and check their hashes
	bash static/vendor/update.sh

.PHONY: assets
assets:                 ## rebuild the payout island static/payouts/dist/island.js (needs Node + npm)
	cd static/payouts && npm ci --no-audit --no-fund && npm run build

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
