# The README's two commands:  make demo   and   make test
# Everything installs into ./.venv (created on first use). On a Raspberry Pi use
#   make demo VENV_FLAGS=--system-site-packages   so apt's picamera2/systemd-python are visible.
PYTHON ?= python3
VENV ?= .venv
VENV_FLAGS ?=
BIN := $(VENV)/bin
EXTRAS ?= litert,opencv,dev

.PHONY: setup demo test test-core test-tflite test-convert lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
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

# All test passes. pytest exit code 5 (no tests collected) is not a failure here.
test: test-core test-tflite test-convert

test-core: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider; rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

# tflite-runtime 2.14 (the fallback runtime) needs numpy<2 and has wheels only up to Python 3.11:
# a venv of its own, without LiteRT, so 'runtime: auto' really falls back to it.
test-tflite:
	@if $(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] > (3, 11))'; then \
	  [ -x .venv-tflite/bin/python ] || $(PYTHON) -m venv .venv-tflite; \
	  .venv-tflite/bin/pip install -q 'tflite-runtime==2.14.*' 'numpy<2' && \
	  .venv-tflite/bin/pip install -q -e '.[opencv,dev]' 'numpy<2' 'opencv-python-headless<4.11' && \
	  { .venv-tflite/bin/python -m pytest -q -p no:cacheprovider; rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc; }; \
	else echo "test-tflite: skipped, tflite-runtime has no wheels for Python > 3.11"; fi

# edged convert needs TensorFlow (an optional extra, ~250 MB): a venv of its own.
test-convert:
	[ -x .venv-convert/bin/python ] || $(PYTHON) -m venv .venv-convert
	.venv-convert/bin/pip install -q -e '.[convert,litert,dev]'
	.venv-convert/bin/python -m pytest -q -p no:cacheprovider tests/test_convert.py tests/test_demo_model.py; \
	  rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

lint: setup
	$(BIN)/ruff check edged tests benchmarks scripts
	$(BIN)/mypy edged

bench: setup
	$(BIN)/edged bench

clean:
	rm -rf $(VENV) .venv-tflite .venv-convert build *.egg-info

# Issue 19: edged on an emulated Raspberry Pi 4 (Debian arm64 Bookworm + Trixie roots, qemu-user
# 10 from Trixie, cortex-a72 with and without crypto). Needs root; caches under
# $EDGED_ARM64_CACHE (~/.cache/edged-arm64). docs/raspberry-pi.md
.PHONY: test-arm64
test-arm64:
	bash scripts/arm64/stage.sh
