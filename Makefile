# The whole set-up is `make run` or `make test`: each installs what is missing.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
STUBS := genproto/.generated
SYSTEM_TOOLS := $(VENV)/.system-tools
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
PROTOS := $(shell find protos -name '*.proto')
TOKEN_USER := $(if $(filter command line,$(origin USER)),$(USER),alice)

.PHONY: run test token protos bench check lint install clean

run: $(STUBS)
	$(PY) -m gateway run

test: $(STUBS)
	$(PY) -m pytest

token: $(INSTALLED)
	@$(PY) -m gateway token $(TOKEN_USER)

bench: $(STUBS)
	$(PY) -m bench

protos: $(INSTALLED)
	$(PY) protos/generate.py
	@touch $(STUBS)

check: $(STUBS)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy mesh media_service post_service gateway bench
	$(PY) -m pytest

install: $(INSTALLED)

# ffmpeg/ffprobe (video probing and poster frames) come from Debian's packages.
$(SYSTEM_TOOLS):
	@command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || { \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends ffmpeg; }
	@mkdir -p $(VENV) && touch $@

$(INSTALLED): pyproject.toml $(SYSTEM_TOOLS)
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
