# The two commands of the README.  `make run` sets up and runs live detection with the
# default rules; `make test` sets up and runs the test suite (what .ci/run does).
# Setup: a venv with falcoish, and (as root) BCC + kernel headers from Debian for live
# capture.  Without them falcoish says why and replays its bundled sample trace instead.
VENV ?= .venv
PY := $(VENV)/bin/python

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test,hunt]'
	touch $@

# liburing-dev: the live io_uring tests build their own small C programs against it.
setup: $(VENV)/.installed
	-$(PY) -m falcoish.sources.live
	-@test -e /usr/include/liburing.h || ! command -v apt-get >/dev/null || \
		apt-get install -y -qq liburing-dev >/dev/null

run: setup
	$(VENV)/bin/falcoish run $(ARGS)

test: setup
	$(PY) -m pytest -q -rs $(PYTEST_ARGS)

.PHONY: setup run test
