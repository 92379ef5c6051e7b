# The whole set-up is `make run` or `make test`: each installs what is missing.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
STUBS := genproto/.generated
PROTOS := $(shell find protos -name '*.proto')
TOKEN_USER := $(if $(filter command line,$(origin USER)),$(USER),alice)

.PHONY: run test token protos bench check lint install clean

run: $(STUBS)
	$(PY) -m gateway run

test: $(STUBS)
	$(PY) -m pytest

token: $(INSTALLED)
	@$(PY) -m gateway token $(TOKEN_USER)

protos: $(INSTALLED)
	$(PY) protos/generate.py
	@touch $(STUBS)

check: $(STUBS)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy mesh media_service post_service gateway
	$(PY) -m pytest

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

# Stubs are generated, never committed: regenerated whenever a .proto changes.
$(STUBS): $(INSTALLED) $(PROTOS)
	$(PY) protos/generate.py
	@touch $@

clean:
	rm -rf genproto .data
