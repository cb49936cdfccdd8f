# The two commands a fresh machine needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test bench install install-test l10n clean

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

test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Benchmarks, run by hand (tests never assert on timings).
bench: install-test
	$(BIN)/python bench/latency.py

# Re-extract the message catalogue and recompile the translations after editing texts.
l10n: install
	$(BIN)/pybabel extract -F gateway/i18n/babel.cfg -o gateway/i18n/messages.pot gateway
	$(BIN)/pybabel update -i gateway/i18n/messages.pot -d gateway/i18n/locale
	$(BIN)/pybabel compile -d gateway/i18n/locale

clean:
	rm -rf $(VENV) build *.egg-info
