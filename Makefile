# Two commands on a fresh machine:  `make demo`  and  `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# MovieLens latest-small, for the benchmarks that replay real data (tests never need it)
ML ?= ../shared/data/ml-latest-small/ratings.csv

.PHONY: setup browser demo test bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)  ## create .venv and install recstream with its dev tools

demo: $(STAMP)  ## run the whole loop locally: broker, SQLite, worker, replay, recommendations
	$(BIN)/recstream demo

browser:  ## Debian's chromium, for the test that opens a drift report in a real browser
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium (drift report browser test)"; \
	    apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; \
	  else echo "chromium is not installed (needs root and apt-get): the drift report browser check will be skipped"; fi; }

test: $(STAMP) browser  ## unit + integration tests (PostgreSQL tests run when 127.0.0.1:5432 answers)
	$(BIN)/python -m pytest

bench: $(STAMP)  ## every benchmark; each prints JSON
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/freshness.py
	$(BIN)/python bench/replay.py
	@if [ -f $(ML) ]; then $(BIN)/python bench/served.py $(ML) --workers 1,2,4; else echo "served.py on MovieLens skipped: $(ML) not found (ML=path/to/ratings.csv)"; fi
	$(BIN)/python bench/served.py --synthetic
	$(BIN)/python bench/served.py --synthetic --sessions
	$(BIN)/python bench/closed_loop.py --short
	$(BIN)/python bench/hotswap.py
	$(BIN)/python bench/retrain.py
	$(BIN)/python bench/drift.py

clean:
	rm -rf $(VENV) var build *.egg-info
