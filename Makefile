# The README's two commands:  make demo   and   make test
# Everything installs into ./.venv (created on first use). On a Raspberry Pi use
#   make demo VENV_FLAGS=--system-site-packages   so apt's picamera2/systemd-python are visible.
PYTHON ?= python3
VENV ?= .venv
VENV_FLAGS ?=
BIN := $(VENV)/bin
EXTRAS ?= litert,opencv,dev

.PHONY: setup demo test test-deps test-core test-tflite test-convert test-pip lint bench clean

# The passes of `make test` (= CI: .ci/run runs exactly `make test`), in this order. Every pass
# runs even after one fails; one summary of all failures comes last (scripts/test-passes.sh).
# Add a pass with one line here and a target below. System packages: .ci/apt-packages.
TEST_PASSES := test-deps
TEST_PASSES += lint
TEST_PASSES += test-core
TEST_PASSES += test-tflite
TEST_PASSES += test-convert
TEST_PASSES += test-pip
TEST_PASSES += test-arm64

# pytest's exit code 5 (no tests collected) is not a failure
PYTEST_RC = rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml setup.py edged/_area.c
	$(PYTHON) -m venv $(VENV_FLAGS) $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[$(EXTRAS)]'
	# tflite-runtime beside numpy 2 (Python <= 3.11 only): the tests check that edged refuses
	# that pair with a reason instead of crashing
	-$(BIN)/python -c 'import sys; sys.exit(sys.version_info[:2] > (3, 11))' && \
	  $(BIN)/pip install -q --no-deps 'tflite-runtime==2.14.*'
	touch $@

demo: setup
	$(BIN)/edged demo

test:
	@MAKE="$(MAKE)" scripts/test-passes.sh $(TEST_PASSES)

# installs the missing packages of .ci/apt-packages when root with apt-get, else names them
test-deps:
	@scripts/apt-deps.sh

# the area kernel (edged/_area.c, an optional build) must have been built here: gcc is present
REQUIRE_KERNEL := EDGED_REQUIRE_AREA_KERNEL=1

test-core: setup
	$(REQUIRE_KERNEL) $(BIN)/python -m pytest -q -p no:cacheprovider -m 'not pip'; $(PYTEST_RC)

# tflite-runtime 2.14 (the fallback runtime) needs numpy<2 and has wheels only up to Python 3.11:
# a venv of its own with the [tflite] extra as shipped, LiteRT (a core dependency) removed so
# 'runtime: auto' really falls back to it.
test-tflite:
	@if $(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] > (3, 11))'; then \
	  [ -x .venv-tflite/bin/python ] || $(PYTHON) -m venv .venv-tflite; \
	  .venv-tflite/bin/pip install -q -e '.[tflite,opencv,dev]' 'opencv-python-headless<4.11' && \
	  { ! .venv-tflite/bin/pip show -q ai-edge-litert 2>/dev/null || \
	    .venv-tflite/bin/pip uninstall -q -y ai-edge-litert; } && \
	  { $(REQUIRE_KERNEL) .venv-tflite/bin/python -m pytest -q -p no:cacheprovider -m 'not pip'; $(PYTEST_RC); }; \
	else echo "test-tflite: skipped, tflite-runtime has no wheels for Python > 3.11"; fi

# edged convert needs TensorFlow (an optional extra, ~1.8 GB installed): a venv of its own.
test-convert:
	[ -x .venv-convert/bin/python ] || $(PYTHON) -m venv .venv-convert
	.venv-convert/bin/pip install -q -e '.[convert,litert,dev]'
	.venv-convert/bin/python -m pytest -q -p no:cacheprovider tests/test_convert.py tests/test_demo_model.py; \
	  $(PYTEST_RC)

# `pip install .` into a fresh venv (no extras), then `edged run` publishes: tests/test_pip.py
test-pip: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider -m pip tests/test_pip.py; $(PYTEST_RC)

lint: setup
	$(BIN)/ruff check edged tests benchmarks scripts examples
	$(BIN)/mypy edged
	@if command -v shellcheck >/dev/null; then shellcheck deploy/*.sh scripts/*.sh .ci/run && echo "shellcheck: clean"; \
	else echo "lint: shellcheck not installed, shell scripts not checked"; fi

bench: setup
	$(BIN)/edged bench

clean:
	rm -rf $(VENV) .venv-tflite .venv-convert .venv-pip build *.egg-info

# Issue 19: edged on an emulated Raspberry Pi 4 (Debian arm64 Bookworm + Trixie roots, qemu-user
# 10 from Trixie, cortex-a72 with and without crypto). Needs root; caches under
# $EDGED_ARM64_CACHE (~/.cache/edged-arm64). docs/raspberry-pi.md
.PHONY: test-arm64
test-arm64:
	bash scripts/arm64/stage.sh
