# make run     install cachecyt and start a node on the default config (port 6379)
# make test    install cachecyt, the test tools and the servers they compare with; run every test
# make compile build the extension in place; make debug: with invariant checks
PYTHON ?= python3
PIP = $(PYTHON) -m pip
SYSTEM_PACKAGES = redis-server redis-tools memcached libmemcached-tools chromium

.PHONY: run install test system-packages compile debug bench clean

install:
	$(PIP) install -e .

run: install
	cachecyt server

system-packages:
	@missing=""; for p in redis-server redis-cli redis-benchmark memcached memccapable chromium; do \
	  command -v $$p >/dev/null 2>&1 || missing=yes; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $(SYSTEM_PACKAGES); \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq $(SYSTEM_PACKAGES); fi; \
	fi

test: system-packages
	$(PIP) install -q -e '.[test]'
	$(PYTHON) -m pytest -n 2 tests

compile:
	$(PYTHON) setup.py build_ext --inplace

debug:
	CACHECYT_DEBUG=1 $(PYTHON) setup.py build_ext --inplace --force

bench: install
	$(PYTHON) tools/bench.py

clean:
	rm -rf build *.egg-info cachecyt/*.so cachecyt/*.c cachecyt/*.html
