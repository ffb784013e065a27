# The two commands of the quick start: `make serve` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: serve test bench clean

$(BIN)/mock-runtype: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

serve: $(BIN)/mock-runtype
	$(BIN)/mock-runtype serve --host $(HOST) --port $(PORT)

test: $(BIN)/mock-runtype
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) build dist *.egg-info
