# The two commands: `make quickstart` and `make test`. Both create .venv on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
JOBS   ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: quickstart test lint docs bench mutation clean-runs results lock

# Reinstall when the dependency ranges or the pinned versions change; the stamp records a finished install.
# pyproject.toml declares ranges; constraints.txt pins the exact versions the tests run on (`make lock`).
$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[test]"
	touch $@

# Re-pin constraints.txt to what the venv holds now (after changing a range in pyproject.toml and reinstalling
# without -c: `.venv/bin/pip install -U -e ".[test]"`); tests/test_install.py checks the pins against the ranges.
lock:
	(echo "# Exact versions for \`make\` (pip install -c constraints.txt); ranges are in pyproject.toml. \`make lock\` rewrites this."; \
	 $(BIN)/python -m pip freeze --exclude-editable | grep -v -i '^largelr') > constraints.txt

quickstart: $(VENV)/.installed
	$(BIN)/largelr sweep quickstart --jobs $(JOBS) --out runs/quickstart
	$(BIN)/largelr report runs/quickstart

# docs/results.md: every reproduce target at its standard preset (to convergence; up to 30 min per target on 2
# idle CPU cores; resumes); `make results PRESET=quick` -> docs/results-quick.md (the smoke-test presets)
PRESET ?= standard
RESULTS_MD := $(if $(filter standard,$(PRESET)),docs/results.md,docs/results-$(PRESET).md)
results: $(VENV)/.installed
	-$(BIN)/largelr reproduce all --preset $(PRESET) --jobs $(JOBS) --out runs/reproduce-$(PRESET)
	$(BIN)/python -m largelr.reproduce.results_page runs/reproduce-$(PRESET) $(RESULTS_MD) $(PRESET)

test: $(VENV)/.installed
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/ruff format --check src tests benchmarks tools
	$(BIN)/pytest -q

# The documentation site (MkDocs Material, API reference from the docstrings) into site/; --strict fails on
# any warning (a dead link, a missing page, a docstring mkdocstrings cannot read). tests/test_docs.py builds it too.
docs: $(VENV)/.installed
	$(BIN)/mkdocs build --strict --site-dir site

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/ruff format --check src tests benchmarks tools

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/train_throughput.py

# Mutation testing, module by module against the tests that cover each (DEVELOPERS.md); not part of `make test`.
# One module: `make mutation MODULES=store`.
mutation: $(VENV)/.installed
	nice -n 15 $(BIN)/python tools/mutation.py $(MODULES)

clean-runs:
	rm -rf runs/
