# Two commands do all the set-up on a fresh machine:
#   make book   build the book into _build/html (creates .venv first)
#   make test   run every test: gptlib's suites and nbval over every chapter notebook
# Other targets: make env, make notebooks (re-execute the chapters in place),
# make test-emulated (nbval over every chapter as if on two other CPUs), make clean.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The CPU build of torch keeps set-up small; use your own with e.g. `make env TORCH=torch`.
TORCH  ?= torch==2.13.0
# Where the data files live on machines with no network (copied into gptlib's cache).
SEED_DATA ?= ../shared/data

# Notebook kernels must find the environment's python, not the system's.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: env book test test-emulated notebooks seed mathjax clean
env: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[book,test]"
	touch $@

seed: env
	@if [ -d "$(SEED_DATA)" ]; then $(BIN)/python -m gptlib seed "$(SEED_DATA)"; \
	else echo "no $(SEED_DATA): gptlib downloads its data files on first use"; fi

# MathJax for reading offline: npm installs the version pinned in package-lock.json, and the
# book serves its copy in book/_static/mathjax (_config.yml: mathjax_path), not a CDN's.
MATHJAX := book/_static/mathjax
mathjax: $(MATHJAX)/tex-mml-chtml.js

$(MATHJAX)/tex-mml-chtml.js: package.json package-lock.json
	npm ci --no-audit --no-fund
	rm -rf $(MATHJAX)
	mkdir -p $(dir $(MATHJAX))
	cp -R node_modules/mathjax/es5 $(MATHJAX)

# The book shows the chapters' stored outputs (_config.yml: execute_notebooks off): nothing runs,
# so it needs no data files.
book: env mathjax
	$(BIN)/jupyter-book build . -W -n --keep-going

# Every notebook stored with outputs: the chapters and the playground page.
NOTEBOOKS := chapters/*.ipynb book/playground.ipynb
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg

test: seed mathjax
	$(BIN)/python -m pytest tests $(NOTEBOOKS) $(NBVAL)

# A chapter's stored outputs must be what a reader gets on any machine (CONTRIBUTING.md), so nbval
# runs again over every chapter as if on two other CPUs: the kernels NumPy (OpenBLAS) and PyTorch
# (ATen, MKL) pick and the thread count change the rounding of every float. emulated_cpu.py first
# checks that each library really uses the kernels asked for.
HASWELL_2_THREADS := OPENBLAS_CORETYPE=Haswell ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 \
	OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2
SANDYBRIDGE_1_THREAD := OPENBLAS_CORETYPE=Sandybridge ATEN_CPU_CAPABILITY=default MKL_ENABLE_INSTRUCTIONS=SSE4_2 \
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
test-emulated: seed
	env $(HASWELL_2_THREADS) $(BIN)/python tests/emulated_cpu.py
	env $(HASWELL_2_THREADS) $(BIN)/python -m pytest -p no:cacheprovider $(NOTEBOOKS) $(NBVAL)
	env $(SANDYBRIDGE_1_THREAD) $(BIN)/python tests/emulated_cpu.py
	env $(SANDYBRIDGE_1_THREAD) $(BIN)/python -m pytest -p no:cacheprovider $(NOTEBOOKS) $(NBVAL)

notebooks: seed
	$(BIN)/jupyter-execute --inplace --timeout=1200 $(NOTEBOOKS)

clean:
	rm -rf _build .jupyter_cache $(MATHJAX) node_modules
