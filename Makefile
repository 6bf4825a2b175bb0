# mumap — two commands on a fresh machine: `make train` and `make test` (both bootstrap .venv).
#
#   make setup               .venv + editable install with the CPU torch wheel (torch==2.13.0)
#   make setup TORCH=cuda    same, with PyPI's default (CUDA) torch build instead
#   make setup TORCH=none    keep whatever torch is already in .venv (install your own first)
#   make train               the main job: python train.py (experiment=quick; builds data/quick on
#                            first use; resumes an interrupted run, re-running a finished one only tests)
#   make data                the quick synthetic cohort in data/quick (resumes if interrupted)
#   make demo                the SPECT physics demo: python -m mumap.demo (outputs/spect_demo)
#   make test-fast           the tests not marked slow (pytest -m "not slow"; make test runs them all)
#   make stir                STIR's Python module (the optional PRAC backend) into .venv: the prebuilt
#                            $(STIR_DIR)/stir-6.5.0-py<ver>-linux-x86_64.tgz if it matches this Python, else
#                            $(STIR_DIR)/build-stir.sh (10-16 min, cache in ~/.cache); STIR_DIR=<dir> to choose
#   make test / bench / lint (test and bench unpack a matching prebuilt STIR first when there is one, so
#                            the STIR tests run; otherwise they skip)

PYTHON ?= python3
TORCH ?= cpu
CPU_TORCH := torch==2.13.0
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(TORCH)
STIR_DIR ?= ../shared/stir
STIR_VERSION := 6.5.0
# the prebuilt STIR for this venv's Python (py311, ...), computed when a STIR target runs
STIR_PREBUILT = $(STIR_DIR)/stir-$(STIR_VERSION)-py$(shell $(PY) -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")')-linux-x86_64.tgz
HAS_STIR = $(PY) -c 'import stir' 2>/dev/null
SITE_PACKAGES = $(shell $(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

.PHONY: setup train data demo test test-fast bench lint clean stir stir-if-prebuilt

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "mumap needs Python >= 3.11; set PYTHON=python3.11")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	if [ "$(TORCH)" = cpu ]; then $(PY) -m pip install --quiet $(CPU_TORCH); \
	elif [ "$(TORCH)" = cuda ]; then $(PY) -m pip install --quiet torch; fi
	$(PY) -m pip install --quiet -e ".[dev]"
	rm -f $(VENV)/.installed-* && touch $@

train: setup
	$(PY) train.py ckpt_path=last

data: setup
	$(VENV)/bin/mumap synthesize --preset quick --out data/quick --workers 2

demo: setup
	$(PY) -m mumap.demo

test: setup stir-if-prebuilt
	$(PY) -m pytest

test-fast: setup
	OMP_NUM_THREADS=1 $(PY) -m pytest -m "not slow"

# STIR (optional PRAC backend): idempotent, `import stir` is the check
stir: setup
	@if $(HAS_STIR); then echo "STIR already importable in $(VENV)"; \
	elif [ -f "$(STIR_PREBUILT)" ]; then tar -xzf "$(STIR_PREBUILT)" -C "$(SITE_PACKAGES)" && $(HAS_STIR) \
	  && echo "STIR $(STIR_VERSION) unpacked from $(STIR_PREBUILT)"; \
	elif [ -x "$(STIR_DIR)/build-stir.sh" ]; then "$(STIR_DIR)/build-stir.sh" $(PY); \
	else echo "no STIR in $(STIR_DIR) (set STIR_DIR=<dir with build-stir.sh>); elsewhere: conda install -c conda-forge stir"; \
	  exit 1; fi

stir-if-prebuilt: setup
	@if ! $(HAS_STIR) && [ -f "$(STIR_PREBUILT)" ]; then $(MAKE) --no-print-directory stir; fi

bench: setup stir-if-prebuilt
	$(PY) -m mumap.bench.spect
	$(PY) -m mumap.bench.training
	$(PY) -m mumap.bench.evaluation
	$(PY) -m mumap.bench.search

lint: setup
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) outputs .pytest_cache .ruff_cache .import_linter_cache
