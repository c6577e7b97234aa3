# latencylab: the two commands are `make bench` and `make test`.
# Both create .venv (Python 3.11+) if needed and install the project into it,
# editable: meson-python builds the C libraries, and importing `cimpl` later
# re-runs ninja, so an edited .c file is picked up on the next run.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.latencylab-installed
OUT    ?=

.PHONY: help setup test bench bench-full bench-pytest asv-check sanitize notebooks notebooks-build readme clean distclean

help:
	@echo "make bench        quick run of every lab: results, plots, table (a few minutes on 2 cores)"
	@echo "make bench-full   full run, for committed results (results/<machine-id>/)"
	@echo "make test         the whole test suite (unit, property, cross-process, notebooks)"
	@echo "make bench-pytest the pytest-benchmark suite (JSON in .benchmarks/)"
	@echo "make asv-check    asv check + a quick asv run on the current environment"
	@echo "make sanitize     C tests and C-backed Python tests under ASan+UBSan, and TSan"
	@echo "make clean        remove leftover shared-memory segments and build folders"

$(STAMP): pyproject.toml meson.build
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c 'import sys; assert sys.version_info >= (3, 11), "latencylab needs Python 3.11+"'
	$(BIN)/python -m pip install --quiet --upgrade pip
	# build dependencies first: the editable install builds without isolation
	$(BIN)/python -m pip install --quiet "meson-python>=0.15" "meson>=1.1" ninja
	$(BIN)/python -m pip install --quiet --no-build-isolation --editable ".[dev]"
	@touch $(STAMP)

setup: $(STAMP)

test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/latencylab run --quick $(if $(OUT),--out $(OUT))

bench-full: setup
	$(BIN)/latencylab run $(if $(OUT),--out $(OUT))

bench-pytest: setup
	$(BIN)/python -m pytest bench/pytest -p no:cacheprovider --benchmark-only \
	    --benchmark-autosave --benchmark-json=.benchmarks/latest.json -o testpaths=bench/pytest

asv-check: setup
	$(BIN)/asv machine --yes
	$(BIN)/asv check --python=same
	$(BIN)/asv run --python=same --quick --dry-run --show-stderr

notebooks: setup
	$(BIN)/python -m pytest tests/test_notebooks.py

SAN_PRELOAD = $(shell $(CC) -print-file-name=libasan.so) $(shell $(CC) -print-file-name=libubsan.so)
sanitize: setup
	# 1. ASan+UBSan: the C tests, then the C-backed Python tests against that build
	$(BIN)/meson setup --reconfigure build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug >/dev/null
	$(BIN)/meson compile -C build-asan
	$(BIN)/meson test -C build-asan --print-errorlogs
	LATENCYLAB_LIBDIR=$(CURDIR)/build-asan LD_PRELOAD="$(SAN_PRELOAD)" ASAN_OPTIONS=detect_leaks=0 \
	    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    $(BIN)/python -m pytest -p no:cacheprovider -q -k "cimpl and not notebook" tests
	# 2. TSan: the cross-thread C tests (seqlock writer/reader threads, c2c ping-pong, ring streams, litmus threads)
	$(BIN)/meson setup --reconfigure build-tsan -Db_sanitize=thread -Db_lundef=false -Dbuildtype=debug >/dev/null
	TSAN_OPTIONS=halt_on_error=1 $(BIN)/meson test -C build-tsan --print-errorlogs

clean:
	-test -x $(BIN)/latencylab && $(BIN)/latencylab clean
	rm -rf build-asan build-tsan .benchmarks

distclean: clean
	rm -rf $(VENV) build .asv

readme: setup
	$(BIN)/python -c 'from pathlib import Path; from labs import report; \
	    print("README updated" if report.update_readme(Path("README.md"), report.all_committed(Path("results"))) else "README unchanged")'

notebooks-build: setup
	$(BIN)/python results/make_notebooks.py
