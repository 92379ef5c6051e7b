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
# The browser client (web/): its npm packages, its generated messages, its build.
WEB_INSTALLED := web/node_modules/.installed
WEB_STUBS := web/src/gen/.generated
WEB_BUILT := web/dist/.built
WEB_SOURCES := $(shell find web/src web/demo web/scripts -type f -not -path 'web/src/gen/*' 2>/dev/null)
BROWSER := $(VENV)/.browser
BENCH_TOOLS := $(VENV)/.bench-tools

.PHONY: run test token protos bench check lint install clean

run: $(STUBS) $(WEB_BUILT)
	$(PY) -m gateway run

test: $(STUBS) $(WEB_BUILT) $(BROWSER)
	cd web && npm test --silent
	$(PY) -m pytest

token: $(INSTALLED)
	@$(PY) -m gateway token $(TOKEN_USER)

bench: $(STUBS) $(WEB_BUILT) $(BROWSER) $(BENCH_TOOLS)
	$(PY) -m bench

protos: $(INSTALLED)
	$(PY) protos/generate.py
	@touch $(STUBS)

check: $(STUBS) $(WEB_BUILT) $(BROWSER)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy mesh media_formats media_client media_service post_service gateway bench
	cd web && npx tsc --noEmit
	cd web && npm test --silent
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

# The browser tests drive Debian's Chromium (never a downloaded browser).
$(BROWSER):
	@command -v chromium >/dev/null || { \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium; }
	@mkdir -p $(VENV) && touch $@

# The benchmarks' load generator (Companion, their peer, comes from npm into a cache).
$(BENCH_TOOLS):
	@command -v wrk >/dev/null || { \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends wrk; }
	@mkdir -p $(VENV) && touch $@

$(WEB_INSTALLED): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Like the Python stubs: generated, never committed, remade when a .proto changes.
$(WEB_STUBS): $(INSTALLED) $(WEB_INSTALLED) $(PROTOS) protos/generate.py
	rm -rf web/src/gen
	$(PY) protos/generate.py --typescript web/src/gen web/node_modules/.bin/protoc-gen-es
	@touch $@

$(WEB_BUILT): $(WEB_STUBS) $(WEB_SOURCES)
	cd web && node scripts/build.mjs
	@touch $@

# Stubs are generated, never committed: regenerated whenever a .proto changes.
$(STUBS): $(INSTALLED) $(PROTOS)
	$(PY) protos/generate.py
	@touch $@

clean:
	rm -rf genproto .data web/src/gen web/dist web/build
