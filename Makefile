# Two commands:  make lab   (set up, open the course at notebooks/00_overview)   make test   (set up, run every check)
# make test-browser: every chapter and exercise notebook run through the menu in JupyterLab in a real
# headless Chromium (needs Debian's chromium + fonts-noto-cjk, or PTM_CHROMIUM=/path/to/chrome).
# Variables: PYTHON (interpreter used to create .venv), VENV, LAB_ARGS (e.g. LAB_ARGS=--no-browser
# for a headless server), PTM_PRESET for notebook runs (test uses smoke), PYTEST_ARGS.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.ptm-course-installed
LAB_ARGS ?=
PYTEST_ARGS ?=
TORCH_LOCAL ?= torch==2.13.0
# dev: pytest, nbval, JupyterLab; parity: the reference libraries the parity tests compare against;
# llm: what converts SmolLM2's GGUF file (chapter 10) into a checkpoint folder once
EXTRAS ?= dev,parity,llm

# Offline-first: no hub downloads during checks; one thread per kernel keeps small loops steady.
TEST_ENV := OMP_NUM_THREADS=1 PTM_PRESET=smoke HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1 \
	PYDEVD_DISABLE_FILE_VALIDATION=1 MPLBACKEND=Agg

.PHONY: setup lab test test-fast test-browser data clean-venv

setup: $(STAMP)

# (Re)install when pyproject or this file changes. torch: keep an installed one; else take a CPU wheel
# lying on this machine's pip find-links if there is one (no download); else pip's normal torch.
$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@if ! $(PY) -c "import torch" 2>/dev/null; then \
		$(PY) -m pip install -q --no-index --no-deps "$(TORCH_LOCAL)" 2>/dev/null \
		&& $(PY) -m pip install -q "$(TORCH_LOCAL)" 2>&1 | grep -v "^WARNING: Location"; \
		$(PY) -c "import torch" 2>/dev/null \
		&& echo "setup: installed $(TORCH_LOCAL) from a local wheel" \
		|| echo "setup: no local torch wheel; pip will install its default torch"; \
	fi
	$(PY) -m pip install -q -e ".[$(EXTRAS)]" 2>&1 | grep -v "^WARNING: Location" || true
	@$(PY) -c "import ptm_course, torch, nbval, jupytext; print('setup: ptm_course', ptm_course.__version__, '| torch', torch.__version__)"
	@touch $(STAMP)

data: $(STAMP)
	$(VENV)/bin/ptm-course data prepare

lab: data
	$(VENV)/bin/jupyter lab --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/notebooks/00_overview.ipynb \
		$(if $(filter 0,$(shell id -u)),--allow-root,) $(LAB_ARGS)

test: data
	$(TEST_ENV) $(PY) -m pytest -n 2 --dist loadscope -p no:cacheprovider \
		--nbval-lax --nbval-current-env $(PYTEST_ARGS) \
		tests/ notebooks/ solutions/ exercises/

# Unit tests only (no notebooks): the quick loop while developing.
test-fast: data
	$(TEST_ENV) $(PY) -m pytest -n 2 -q $(PYTEST_ARGS) tests/

# Kernels keep default threads, as a learner's do. Playwright (Python) drives the browser; it is
# installed into the venv only for this target.
BROWSER_STAMP := $(VENV)/.ptm-course-browser-installed
BROWSER_ARGS ?=

$(BROWSER_STAMP): $(STAMP)
	$(PY) -m pip install -q -e ".[$(EXTRAS),browser]" 2>&1 | grep -v "^WARNING: Location" || true
	@$(PY) -c "import playwright, psutil" && touch $(BROWSER_STAMP)

test-browser: data $(BROWSER_STAMP)
	$(PY) tests/browser/labcheck.py --out build/browser $(BROWSER_ARGS)

clean-venv:
	rm -rf $(VENV)
