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
#   make test / bench / lint

PYTHON ?= python3
TORCH ?= cpu
CPU_TORCH := torch==2.13.0
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(TORCH)

.PHONY: setup train data demo test test-fast bench lint clean

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

test: setup
	$(PY) -m pytest

test-fast: setup
	OMP_NUM_THREADS=1 $(PY) -m pytest -m "not slow"

bench: setup
	$(PY) -m mumap.bench.spect
	$(PY) -m mumap.bench.training
	$(PY) -m mumap.bench.evaluation
	$(PY) -m mumap.bench.search

lint: setup
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) outputs .pytest_cache .ruff_cache .import_linter_cache
