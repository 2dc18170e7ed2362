# Chasing Symmetries: every command a learner, an instructor or a maintainer needs.
# Each target sets up .venv by itself first (scripts/setup_env.sh), so a clean clone needs nothing else.

PYTHON ?= python3
# Another interpreter gets its own environment: PYTHON=python3.13 make test uses .venv-3.13, with
# python3.13 from the PATH, else pyenv's (scripts/find_python.sh, which says what it tried).
ifeq ($(PYTHON),python3)
INTERPRETER := python3
VENV   ?= .venv
else
INTERPRETER := $(shell bash scripts/find_python.sh '$(PYTHON)')
$(if $(INTERPRETER),,$(error PYTHON=$(PYTHON): no such interpreter (see the line above)))
VENV   ?= .venv-$(shell '$(INTERPRETER)' -c 'import sys; print("%d.%d" % sys.version_info[:2])')
endif
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.course-installed

.PHONY: help setup book test test-fast lab bench bench-quick bench-grade bench-pinn bench-gcnn bench-ddp clean

help:
	@echo "make book    build the HTML book (Jupyter Book 1.x, warnings are errors)"
	@echo "make test    every check: library tests, notebooks (nbval), exercises, sync"
	@echo "make test-fast  library and grader unit tests only (no notebooks, no browser): the everyday loop"
	@echo "make lab     JupyterLab on exercises/ (no news pop-up)"
	@echo "make bench   seconds per notebook -> bench/notebooks.json"
	@echo "make bench-quick  seconds per chapter in quick mode (COURSE_QUICK=1) -> bench/notebooks_quick.json"
	@echo "make bench-grade | bench-pinn | bench-gcnn | bench-ddp   the grader's, PINN derivatives',"
	@echo "             G-CNN layers' and data-parallel training's benchmarks"

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt scripts/setup_env.sh
	PYTHON=$(INTERPRETER) bash scripts/setup_env.sh $(VENV)
	@touch $@

book: $(STAMP)
	$(BIN)/jupyter-book build book --warningiserror --keep-going
	@echo "The book: $(CURDIR)/book/_build/html/index.html"

# One pytest session on pytest-xdist workers, one per core (JOBS=auto; JOBS=4 picks, JOBS=0 runs
# it in one process): each notebook and each test file runs whole on one worker, longest first,
# and the book is built once (tests/parallel_plan.py).
JOBS ?= auto
# A short folder for pytest's temporary files: under xdist the default one gains a worker's name,
# and the grader's kernels keep their sockets in scratch folders there (a socket path has at most
# 108 characters). One make test at a time per user uses it.
BASETEMP ?= /tmp/cs$(shell id -u)

test: $(STAMP)
	$(BIN)/python -m pytest tests book solutions --nbval-lax --nbval-current-env \
		--ignore=book/_build -p no:cacheprovider -q --durations=15 -n $(JOBS) --dist loadgroup \
		--basetemp=$(BASETEMP)

# The everyday loop: library and grader unit tests; no notebooks, browser, book build, graded
# corpus or cluster (the tests marked slow in tests/conftest.py).
test-fast: $(STAMP)
	$(BIN)/python -m pytest tests -m "not slow" -p no:cacheprovider -q --durations=10 \
		-n $(JOBS) --dist loadgroup --basetemp=$(BASETEMP)

# scripts/jupyter/labconfig/page_config.json turns off JupyterLab's news/announcements pop-up;
# tests/test_browser.py starts JupyterLab with the same folder on JUPYTER_CONFIG_PATH.
lab: $(STAMP)
	JUPYTER_CONFIG_PATH=$(CURDIR)/scripts/jupyter$(if $(JUPYTER_CONFIG_PATH),:$(JUPYTER_CONFIG_PATH)) \
		$(BIN)/jupyter lab --notebook-dir=exercises $(if $(filter 0,$(shell id -u)),--allow-root)

bench: $(STAMP)
	$(BIN)/python bench/notebooks.py --out bench/notebooks.json

bench-quick: $(STAMP)
	$(BIN)/python bench/notebooks.py --quick --out bench/notebooks_quick.json

bench-grade: $(STAMP)
	$(BIN)/python bench/grade.py --n 40 --jobs 2 --dask 40 200 --out bench/grade.json

bench-pinn: $(STAMP)
	$(BIN)/python bench/pinn_derivatives.py

bench-gcnn: $(STAMP)
	$(BIN)/python bench/gcnn_speed.py

bench-ddp: $(STAMP)
	$(BIN)/python bench/ddp.py

clean:
	rm -rf book/_build
