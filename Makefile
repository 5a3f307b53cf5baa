# The two commands of the README:
#   make reproduce   set up, then run the default sweep (experiments/quick.yaml) end to end
#   make test        set up, then run linters and the whole test suite
# Everything else here is what those two need. Run as root on Debian (or Ubuntu).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CORES  ?= 2
SWEEP  ?= experiments/quick.yaml
STAMPS := .stamps
# VERBOSE=1: Snakemake's own output on the console instead of only in its log.
VERBOSE ?=
# What the stop message tells the user to run again to continue.
RERUN  := make reproduce$(if $(filter command line environment,$(origin SWEEP)), SWEEP=$(SWEEP))

.PHONY: setup setup-test reproduce test lint pytest teardown clean docs-figures

setup: $(STAMPS)/system $(STAMPS)/venv

# What only the tests need (a browser, pdflatex): not installed by `make reproduce`.
setup-test: setup $(STAMPS)/system-test

$(STAMPS)/system: scripts/setup-system.sh
	@mkdir -p $(STAMPS)
	@scripts/setup-system.sh
	@touch $@

$(STAMPS)/system-test: scripts/setup-system.sh
	@mkdir -p $(STAMPS)
	@scripts/setup-system.sh --test
	@touch $@

$(STAMPS)/venv: pyproject.toml $(STAMPS)/system
	@mkdir -p $(STAMPS)
	@echo "setup: Python packages into $(VENV) (pyproject.toml)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@{ $(BIN)/python -m pip install -q --upgrade pip \
	   && $(BIN)/python -m pip install -q -e '.[dev]'; } >$(STAMPS)/pip.log 2>&1 \
	  || { tail -n 30 $(STAMPS)/pip.log; echo "setup: pip failed, log: $(STAMPS)/pip.log"; exit 1; }
	@touch $@

# The console gets what will run and how long it should take, one line per point (with its
# position and the time left), and the end (report, or how to continue after Ctrl-C or an
# error). Snakemake's own output (~20 lines per job) goes to its log; on an error the log's
# last lines are shown. Snakemake's defaults (cores, rerun-incomplete) are in
# workflow/profiles/default, so this is the README's plain command.
reproduce: setup
	@$(BIN)/sshbench sweep check $(SWEEP)
	@log=$$($(BIN)/python -m sshbench.progress console-log $(SWEEP)) || exit 1; \
	[ -n "$(VERBOSE)" ] || echo "Snakemake's own output: $$log (VERBOSE=1 shows it here)"; \
	trap 'stopped=1' INT; \
	PATH="$(CURDIR)/$(BIN):$$PATH" SSHBENCH_RERUN="$(RERUN)" \
	  $(BIN)/snakemake --cores $(CORES) --configfile $(SWEEP) $(if $(VERBOSE),,2>"$$log") \
	|| { [ -n "$(VERBOSE)$$stopped" ] || { echo "the error, from $$log:"; \
	       awk 'f || /Traceback|Error|Exception/ {f = 1} f' "$$log" | head -n 40; }; exit 1; }

test: setup-test lint pytest

# The README's figures (docs/fig1.png, docs/summary.png) from a finished sweep's results:
# DOCS_SWEEP is a sweep name (results/<name>, the quick sweep by default) or a results dir.
DOCS_SWEEP ?= quick
docs-figures: setup
	$(BIN)/python -m analysis.figures_summary $(DOCS_SWEEP) docs

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@if [ -f workflow/Snakefile ]; then PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --lint --configfile experiments/ci.yaml; fi
	@if [ -d ansible/roles ]; then cd ansible && PATH="$(CURDIR)/$(BIN):$$PATH" ../$(BIN)/ansible-lint --offline; fi

pytest: setup-test
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest

teardown: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/sshbench sweep teardown

clean: teardown
	rm -rf $(VENV) $(STAMPS) .snakemake
