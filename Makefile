# Brandcast: `make demo` runs the whole stack on this machine, `make test` runs every test.
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
PYTEST_ARGS ?=
export UV_LINK_MODE := copy

.PHONY: install tools protos lint test test-unit test-integration test-e2e demo bench clean

# Bytecode is compiled once at install: with PYTHONDONTWRITEBYTECODE set (as on CI
# machines) every worker and service process would otherwise compile each module it
# imports from source, for seconds after it starts.
install: ## Python workspace, node tools (buf) and the browser the admin tests drive
	@command -v uv >/dev/null 2>&1 || test -x "$(UV)" || python3 -m pip install --quiet --user uv
	$(UV) sync --all-packages --frozen --compile-bytecode
	@$(UV) run --frozen python -m compileall -q protos/python/src clients/python/src shared/src services/*/src >/dev/null
	@$(MAKE) --no-print-directory tools

tools:
	@# `npm ci` trips over the optional per-platform packages of buf; package.json pins the
	@# exact versions and install keeps to the lock file. The counting references
	@# (twitter-text, sms-segments-calculator, @atproto/api) are what tests compare with.
	@if [ ! -x node_modules/.bin/buf ] || [ ! -d node_modules/twitter-text ] \
		|| [ ! -d node_modules/sms-segments-calculator ] || [ ! -d node_modules/@atproto/api ]; then \
		npm install --no-audit --no-fund --loglevel=error; fi
	@# The Node example's own tools and runtime (ts-proto, TypeScript, @grpc/grpc-js).
	@if [ ! -x clients/node/node_modules/.bin/tsc ]; then \
		(cd clients/node && npm ci --no-audit --no-fund --loglevel=error); fi
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ]; then \
		echo "installing Debian's chromium for the admin browser tests"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "warning: could not install chromium; browser tests will fail"; fi

	@# promtool checks and unit-tests deploy/prometheus/alerts.yml (tests/deploy/test_monitoring.py);
	@# taken from Debian's prometheus package without installing it (no daemon is set up).
	@if [ ! -x .tools/promtool ] && ! command -v promtool >/dev/null 2>&1; then \
		echo "fetching promtool from Debian's prometheus package"; \
		tmp=$$(mktemp -d) && (cd $$tmp && apt-get download prometheus >/dev/null 2>&1) \
		&& dpkg-deb -x $$tmp/prometheus_*.deb $$tmp/x && mkdir -p .tools \
		&& cp $$tmp/x/usr/bin/promtool .tools/ \
		|| echo "warning: could not fetch promtool; the alert rule tests will fail"; \
		rm -rf $$tmp; fi

protos: tools ## regenerate the Python (protos/python: brandcast-contracts) and TypeScript (clients/node/src/gen) code
	$(UV) run python protos/generate.py
	cd protos && ../node_modules/.bin/buf generate

lint:
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy clients/python/src shared/src services/*/src tests bench examples
	cd protos && ../node_modules/.bin/buf lint
	@if git rev-parse -q --verify HEAD~1 >/dev/null && git cat-file -e HEAD~1:protos/buf.yaml 2>/dev/null; then \
		cd protos && ../node_modules/.bin/buf breaking --against '../.git#ref=HEAD~1,subdir=protos'; fi

test: install lint ## everything CI runs
	$(UV) run pytest $(PYTEST_ARGS)

test-unit: install
	$(UV) run pytest tests/unit $(PYTEST_ARGS)

test-integration: install
	$(UV) run pytest tests/integration $(PYTEST_ARGS)

test-e2e: install
	$(UV) run pytest tests/e2e $(PYTEST_ARGS)

demo: install ## start everything, send examples/spring-launch.yaml, summarise; Ctrl-C stops it all
	$(UV) run python examples/demo.py

bench: install
	$(UV) run python bench/run_all.py

clean:
	rm -rf var test-output .pytest_cache .mypy_cache .ruff_cache
