# Two commands on a fresh machine:  `make demo`  and  `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)  ## create .venv and install recstream with its dev tools

demo: $(STAMP)  ## run the whole loop locally: broker, SQLite, worker, replay, recommendations
	$(BIN)/recstream demo

test: $(STAMP)  ## unit + integration tests (PostgreSQL tests run when 127.0.0.1:5432 answers)
	$(BIN)/python -m pytest

bench: $(STAMP)  ## every benchmark; each prints JSON
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/freshness.py
	$(BIN)/python bench/replay.py
	$(BIN)/python bench/hotswap.py
	$(BIN)/python bench/retrain.py

clean:
	rm -rf $(VENV) var build *.egg-info
