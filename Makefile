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

.PHONY: setup reproduce test lint pytest teardown clean

setup: $(STAMPS)/system $(STAMPS)/venv

$(STAMPS)/system: scripts/setup-system.sh
	@mkdir -p $(STAMPS)
	scripts/setup-system.sh
	@touch $@

$(STAMPS)/venv: pyproject.toml $(STAMPS)/system
	@mkdir -p $(STAMPS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

reproduce: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores $(CORES) --rerun-incomplete --configfile $(SWEEP)
	@echo "report: results/$$(basename $(SWEEP) .yaml)/paper/report.html"

test: setup lint pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@if [ -f workflow/Snakefile ]; then PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --lint --configfile experiments/ci.yaml; fi
	@if [ -d ansible/roles ]; then cd ansible && PATH="$(CURDIR)/$(BIN):$$PATH" ../$(BIN)/ansible-lint --offline; fi

pytest: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest

teardown: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/sshbench sweep teardown

clean: teardown
	rm -rf $(VENV) $(STAMPS) .snakemake
