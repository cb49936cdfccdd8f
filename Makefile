# The two commands a fresh machine needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test test-fast bench bench-api bench-soak install install-test system-deps l10n clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel

# Reinstall whenever setup.py changes (the stamp files live inside the venv).
$(VENV)/.installed: $(BIN)/python setup.py
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(BIN)/python setup.py
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

run: install
	$(BIN)/msisdn-gateway serve --simulate

# The tiers a change to logic needs, in seconds: no processes, PostgreSQL, system tools or
# hardware (the markers are declared in pytest.ini).
FAST_MARKERS := not e2e and not pg and not deploy and not hardware
# Both targets run their tests on every core (pytest-xdist; 0 runs them in this process,
# as pdb needs). `make test` keeps each test module on one worker (--dist loadscope), so
# that a module's gateway, started once for its tests, is not started on both.
TEST_WORKERS ?= auto
TEST_FAST_WORKERS ?= $(TEST_WORKERS)

test: install-test system-deps
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

test-fast: install-test
	$(BIN)/python -m pytest -n $(TEST_FAST_WORKERS) -m "$(FAST_MARKERS)" $(PYTEST_ARGS)

# Debian tools some tests use (systemd-analyze verify, shellcheck, a PostgreSQL server,
# headless Chromium and its driver for the admin page's browser test);
# installed only when missing and when we can (root with apt-get), else those tests skip.
SYSTEM_TOOLS := systemd-analyze:systemd shellcheck:shellcheck initdb:postgresql \
  chromium:chromium chromedriver:chromium-driver
system-deps:
	@missing=""; for pair in $(SYSTEM_TOOLS); do tool=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$tool >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/$$tool >/dev/null 2>&1 \
	  || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) \
	      >/dev/null || echo "could not install$$missing: those tests will skip"; \
	  else echo "missing$$missing: those tests will skip"; fi; fi

# Benchmarks, run by hand (tests never assert on timings): latency from the API to the modem,
# then SMS/s across 1, 2, 4, 8 simulated modems and the idle worker's CPU (bench/modems.py;
# BENCH_MODEMS_ARGS=--help for its knobs). About three minutes.
bench: install-test
	$(BIN)/python bench/latency.py
	$(BIN)/python bench/modems.py $(BENCH_MODEMS_ARGS)

# Throughput, latency, memory and storage of the API against serve --simulate, with wrk
# (bench/api.py; `make bench-api BENCH_ARGS=--help`). wrk is installed when missing and
# we can (root with apt-get).
bench-api: install-test
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing wrk"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk) \
	      >/dev/null || { echo "could not install wrk"; exit 1; }; \
	  else echo "bench-api needs wrk: sudo apt-get install wrk"; exit 1; fi; }
	$(BIN)/python bench/api.py $(BENCH_ARGS)

# The long soak: 100 rounds of SIGKILLs of the worker and unplugged modems under traffic,
# then nothing lost, duplicated or stuck (bench/soak.py; BENCH_ARGS="--rounds 20 --seed S").
bench-soak: install-test
	$(BIN)/python bench/soak.py $(BENCH_ARGS)

# Re-extract the message catalogue and recompile the translations after editing texts.
l10n: install
	$(BIN)/pybabel extract -F gateway/i18n/babel.cfg -o gateway/i18n/messages.pot gateway
	$(BIN)/pybabel update -i gateway/i18n/messages.pot -d gateway/i18n/locale
	$(BIN)/pybabel compile -d gateway/i18n/locale

clean:
	rm -rf $(VENV) build *.egg-info
