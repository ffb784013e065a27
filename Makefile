# The two commands of the quick start: `make serve` and `make test`. Each creates .venv when missing;
# `make serve` installs only what serving needs, `make test` adds the test extra. `make lock` refreshes requirements.lock.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8080
BENCH_CACHE ?= $(HOME)/.cache/mock-runtype-bench

.PHONY: serve test lock bench bench-engines bench-fairness clean

# What serving needs: the package and its dependencies, no extra.
$(BIN)/mock-runtype: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	@touch $@

# What the suite needs besides: the `test` extra.
$(VENV)/.test-extra: $(BIN)/mock-runtype
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

serve: $(BIN)/mock-runtype
	$(BIN)/mock-runtype serve --host $(HOST) --port $(PORT)

test: $(VENV)/.test-extra
	$(BIN)/python -m pytest

# requirements.lock, which the image installs: the dependencies of pyproject.toml (no extra), each
# pinned with the hashes of its files, as the index has them today. Commit the file it rewrites.
lock: $(BIN)/mock-runtype
	$(BIN)/pip install --quiet -e '.[lock]'
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --no-emit-index-url --no-emit-find-links \
		--output-file requirements.lock pyproject.toml

# Benchmarks (not part of `make test`): installs wrk (apt, as root) and Prism 5 (npm, into
# BENCH_CACHE) when missing, and goes on without them if that fails. BENCH_DURATION, BENCH_ROUNDS,
# BENCH_CONNECTIONS, BENCH_SERVERS, BENCH_SCALING_SIZES, BENCH_HOL_* tune it; bench/ holds the details.
bench: $(BIN)/mock-runtype
	$(BIN)/pip install --quiet -e '.[bench]'
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && { apt-get install -y -qq wrk >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }; }; } || \
		echo "wrk could not be installed: the bench falls back to its Python load generator"
	@[ -x "$(BENCH_CACHE)/node_modules/.bin/prism" ] || npm install --silent --no-audit --no-fund \
		--prefix "$(BENCH_CACHE)" @stoplight/prism-cli@5 || echo "Prism could not be installed: mock-runtype is measured alone"
	BENCH_CACHE="$(BENCH_CACHE)" $(BIN)/python -m bench $(BENCH_PARTS)

bench-engines: BENCH_PARTS = engines
bench-engines: bench

bench-fairness: BENCH_PARTS = fairness
bench-fairness: bench

clean:
	rm -rf $(VENV) build dist *.egg-info
