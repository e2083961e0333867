# Entry points for building and testing the book; `make help` lists them.

SCALE ?= quick
SEED ?= 0
DEVICE ?= auto
BUILD_DIR ?= _build
ONLY ?=
REPOSITORY_URL ?=
PYTEST_ARGS ?=

# The environment is the interpreter in PYTHON, else the active virtual
# environment, else the active conda environment, else .venv here.
# scripts/setup_env.sh makes the same choice.
ifneq ($(strip $(PYTHON)),)
  ENV_PYTHON := $(PYTHON)
  ENV_PREFIX := $(shell $(PYTHON) -c 'import sys; print(sys.prefix)' 2>/dev/null)
  ifeq ($(ENV_PREFIX),)
    $(error PYTHON=$(PYTHON) does not run; set PYTHON to a Python 3.10+ interpreter or leave it unset)
  endif
else ifneq ($(strip $(VIRTUAL_ENV)),)
  ENV_PYTHON := $(VIRTUAL_ENV)/bin/python
  ENV_PREFIX := $(VIRTUAL_ENV)
else ifneq ($(strip $(CONDA_PREFIX)),)
  ENV_PYTHON := $(CONDA_PREFIX)/bin/python
  ENV_PREFIX := $(CONDA_PREFIX)
else
  ENV_PYTHON := $(CURDIR)/.venv/bin/python
  ENV_PREFIX := $(CURDIR)/.venv
endif

# Setup reruns when pyproject.toml, the setup script or the web-asset script is newer than this stamp.
# The stamp lives in the environment, so a deleted environment is set up again,
# and its name contains a checksum of this checkout's path, because the
# editable install points at one checkout.
CHECKOUT_KEY := $(firstword $(shell printf '%s' '$(CURDIR)' | cksum))
SETUP_STAMP := $(ENV_PREFIX)/.gp-gan-book-setup-$(CHECKOUT_KEY).stamp

.DEFAULT_GOAL := help
.PHONY: help setup book test clean clean-cache

help:
	@echo "Targets:"
	@echo "  make book    execute every notebook and build the HTML into $(BUILD_DIR)/html"
	@echo "  make test    run the tests with pytest"
	@echo "  make setup   create or update the environment (book and test run it when needed)"
	@echo "  make clean   remove _build"
	@echo "  make clean-cache  delete the cached training runs (see gp_core/run_cache.py)"
	@echo "Variables (current value):"
	@echo "  SCALE=$(SCALE)        smoke (seconds per notebook), quick (CPU) or paper (GPU)"
	@echo "  SEED=$(SEED)            random seed of every run"
	@echo "  DEVICE=$(DEVICE)       auto, cpu, cuda or cuda:N"
	@echo "  ONLY=$(ONLY)             notebooks to execute, e.g. ONLY=figure1 (default: all)"
	@echo "  BUILD_DIR=$(BUILD_DIR)    output folder of make book"
	@echo "  REPOSITORY_URL=$(REPOSITORY_URL)   GitHub URL of the published repository; adds Binder and Colab buttons"
	@echo "  PYTEST_ARGS=$(PYTEST_ARGS)      extra pytest arguments, e.g. PYTEST_ARGS='-k environment'"
	@echo "  PYTHON=$(PYTHON)           interpreter to use instead of the active environment or .venv"
	@echo "Environment: $(ENV_PREFIX)"
	@echo "Setup stamp: $(SETUP_STAMP) (delete it to force setup)"

setup: $(SETUP_STAMP)

$(SETUP_STAMP): pyproject.toml scripts/setup_env.sh scripts/fetch_web_assets.py
	@PYTHON="$(PYTHON)" bash scripts/setup_env.sh
	@touch "$@"

book: $(SETUP_STAMP)
	"$(ENV_PYTHON)" scripts/build_book.py --scale "$(SCALE)" --seed "$(SEED)" --device "$(DEVICE)" \
		--build-dir "$(BUILD_DIR)" $(if $(strip $(ONLY)),--only $(ONLY)) \
		$(if $(strip $(REPOSITORY_URL)),--repository-url "$(REPOSITORY_URL)")

test: $(SETUP_STAMP)
	"$(ENV_PYTHON)" -m pytest $(PYTEST_ARGS)

clean:
	rm -rf _build

clean-cache: $(SETUP_STAMP)
	"$(ENV_PYTHON)" -m gp_core.run_cache clear
