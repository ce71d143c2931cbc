# cocm_rules: set-up commands. Needs only Python >= 3.11 (with venv and pip), a C compiler and make.
#
#   make demo   install into .venv if needed, then run the bundled example caseload through the CLI:
#               scores, a patient's alerts, the psychiatric review list, the caseload metrics, and
#               last the caseload report as one HTML file (build/report.html: open it in a browser)
#   make test   install into .venv if needed, then lint (ruff, incl. the complexity limit; mypy) and
#               run the test suite (pytest; it also checks the import contract with lint-imports)
#
# Internal targets: venv (create .venv and install), lint, clean, distclean, help.
# The install is redone only when pyproject.toml changes (stamp file .venv/.installed).

PYTHON ?= $(shell command -v python3.11 || command -v python3 || command -v python)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CLI := $(BIN)/cocm-rules
# pytest writes its results here; .ci/run checks them (tests ran, none skipped or errored).
JUNIT_XML ?= build/test-results/junit.xml
# Hypothesis profiles (tests/conftest.py): dev, ci (derandomized), thorough.
HYPOTHESIS_PROFILE ?= ci
export HYPOTHESIS_PROFILE
# The bundled example caseload (examples/caseload.jsonl) was generated as of this date.
DEMO_DATE := 2026-11-20

.DEFAULT_GOAL := help
.PHONY: help demo test bench venv lint clean distclean

help:
	@echo "make demo   the bundled example caseload: scores, alerts, review list, caseload metrics, HTML report"
	@echo "make test   lint (ruff check, ruff format --check, mypy) and run the tests (pytest, lint-imports)"
	@echo "both create .venv and install cocm-rules[all,test] into it on first use"

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "error: no python3 found; install Python 3.11 or newer" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[all,test]'
	@touch $@

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check cocm_rules tests benchmarks tools
	$(BIN)/ruff format --check cocm_rules tests benchmarks tools
	$(BIN)/mypy cocm_rules

test: lint
	@mkdir -p $(dir $(JUNIT_XML))
	$(BIN)/python -m pytest --junitxml=$(JUNIT_XML)

demo: $(STAMP)
	@echo '$$ cocm-rules score phq9 --answers 0,0,0,0,0,0,0,0,1        # a PHQ-9: item 9 positive, total 1'
	@$(CLI) score phq9 --answers 0,0,0,0,0,0,0,0,1
	@echo; echo '$$ cocm-rules score cssrs_screener --answers yes,yes,no,yes,no,no   # C-SSRS: intent -> high'
	@$(CLI) score cssrs_screener --answers yes,yes,no,yes,no,no
	@echo; echo '$$ cocm-rules evaluate examples/episode_phq9_not_improving.json --as-of $(DEMO_DATE) --table'
	@$(CLI) evaluate examples/episode_phq9_not_improving.json --as-of $(DEMO_DATE) --table
	@echo; echo '$$ cocm-rules review examples/caseload.jsonl --as-of $(DEMO_DATE) --limit 12'
	@$(CLI) review examples/caseload.jsonl --as-of $(DEMO_DATE) --limit 12
	@echo; echo '$$ cocm-rules caseload examples/caseload.jsonl --as-of $(DEMO_DATE)'
	@$(CLI) caseload examples/caseload.jsonl --as-of $(DEMO_DATE)
	@echo; echo '$$ cocm-rules report examples/caseload.jsonl --as-of $(DEMO_DATE) --out build/report.html'
	@$(CLI) report examples/caseload.jsonl --as-of $(DEMO_DATE) --out build/report.html

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf build dist .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -not -path './$(VENV)/*' -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
