# Two commands on a fresh machine:  `make demo`  and  `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# MovieLens latest-small, for the benchmarks that replay real data (tests never need it)
ML ?= ../shared/data/ml-latest-small/ratings.csv

.PHONY: setup tools demo test bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)  ## create .venv and install recstream with its dev tools

demo: $(STAMP)  ## run the whole loop locally: broker, SQLite, worker, replay, recommendations
	$(BIN)/recstream demo

# Debian's chromium (the drift report opened in a real browser) and stunnel4 (TLS in front of the embedded broker)
TOOLS := chromium stunnel4
tools:  ## the Debian packages some tests drive: chromium and stunnel4
	@missing=""; command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	  command -v stunnel4 >/dev/null 2>&1 || missing="$$missing stunnel4"; \
	  if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	      echo "installing Debian's$$missing (browser and Kafka TLS tests)"; \
	      apt-get install -y -q $$missing >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q $$missing >/dev/null; }; \
	    else echo "not installed (needs root and apt-get):$$missing; the tests that need them will be skipped"; fi; fi

# Two test files at a time (pytest-xdist): most of an integration test waits on brokers and workers, so two
# share 2 cores well (581 s against 1001 s one at a time, measured on 2 cores); a file stays on one process.
test: $(STAMP) tools  ## unit + integration tests (PostgreSQL tests run when 127.0.0.1:5432 answers)
	$(BIN)/python -m pytest -n 2 --dist loadfile

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
	$(BIN)/python bench/soak.py --minutes 5
	$(BIN)/python bench/large.py --scale 0.1
	$(BIN)/python bench/sampled.py --large-share 0.1

clean:
	rm -rf $(VENV) var build *.egg-info
