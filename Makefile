# The two commands of the README:
#   make reproduce   set up, then run the default sweep (experiments/quick.yaml) end to end
#   make test        set up, then run linters and the whole test suite
#   make test-fast   the tests that need no testbed, no sweep, no Locust run, no benchmark
#                    script and no hostile peer, on several pytest-xdist workers (< 2 min)
#   make lock        refresh requirements.lock after a change to pyproject.toml
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

# The Python environment is requirements.lock: every package of pyproject.toml's dependencies
# and its dev extra, exact versions, with the hashes of their files, for CPython 3.11 on
# x86_64 Linux (.python-version). It is made by `uv pip compile --generate-hashes` rather than
# pip-tools: uv resolves for a stated interpreter and platform (not whichever one runs it), in
# seconds, and keeps the versions already locked unless told to upgrade; uv itself is in the
# dev extra, so the tool that writes the lock is locked too. Installing: pip installs the
# locked uv alone (its hashes from the lock), then `uv pip sync --require-hashes
# --compile-bytecode` installs exactly the lock (14 s here, plus 17 s to compile, against
# pip's 140 s for the same lock, measured in one run; without the compiled bytecode every
# process of a sweep compiled pandas again: 1.9 s against 0.6 s for a point's summary),
# uv reads the machine's certificate store (--system-certs, as pip reads PIP_CERT): behind a
# TLS-inspecting proxy its bundled roots fail ("invalid peer certificate: UnknownIssuer");
# then pip installs the project itself with --no-deps, built by the locked setuptools
# (--no-build-isolation). The one sdist in the lock (connection-pool, hash-checked like the
# rest) is built in an isolated environment.
LOCK   := requirements.lock
# `make lock` keeps every locked version that still satisfies pyproject.toml and resolves
# only what changed; `make lock UPGRADE=1` moves everything to the newest allowed versions.
UPGRADE ?=
LOCK_PYTHON   := 3.11
LOCK_PLATFORM := x86_64-unknown-linux-gnu
# The fast tier (`make test-fast`, and the first phase of `make pytest`): every test but
# those with a marker tests/conftest.py sets from the fixtures a test uses.
FAST   := not testbed and not sweep and not locust and not slow and not hostile
# The fast tier runs on pytest-xdist workers, one more than the 2 cores as many of its tests
# wait on sshd or gunicorn (measured on a busy machine, 2026-12-03: -n 2, 3, 4 within noise
# of each other in wall time, -n 4 the most CPU). --dist loadscope keeps a module's tests
# on one worker, so a module-scoped fixture (an sshd, drawn figures) is made once, not once
# per worker. Its tests take seconds: a hung one is stopped after FAST_TIMEOUT s, not 900.
TEST_WORKERS ?= 3
FAST_TIMEOUT ?= 300
PYTEST_FAST  := $(BIN)/pytest -n $(TEST_WORKERS) --dist loadscope --timeout $(FAST_TIMEOUT) -m "$(FAST)"
# The tests' environment: the venv first, and Python's bytecode cache on even where the
# environment turns it off (PYTHONDONTWRITEBYTECODE): without it every worker, and every
# `sshapi serve` a test starts, compiles the sources again, and pytest rewrites every test
# module again (~5 CPU-s per worker). The caches are __pycache__/ folders (.gitignore).
TEST_ENV := PATH="$(CURDIR)/$(BIN):$$PATH" PYTHONDONTWRITEBYTECODE=

.PHONY: setup setup-test reproduce test test-fast lint pytest lock teardown clean docs-figures

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

$(STAMPS)/venv: $(LOCK) pyproject.toml $(STAMPS)/system
	@mkdir -p $(STAMPS)
	@echo "setup: Python packages into $(VENV) ($(LOCK), hashes checked)"
	@test -x $(BIN)/python || { $(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
	  || { echo "setup: $(PYTHON) is not Python $$(cat .python-version) (the lock's; PYTHON=python3.11 make ...)"; exit 1; }; \
	  $(PYTHON) -m venv $(VENV); }
	@{ awk '/^uv==/ {f = 1} f {print} f && !/\\$$/ {exit}' $(LOCK) >$(STAMPS)/uv.req \
	   && $(BIN)/python -m pip install -q --require-hashes --no-deps -r $(STAMPS)/uv.req \
	   && $(BIN)/uv pip sync -q --system-certs --require-hashes --compile-bytecode --python $(BIN)/python $(LOCK) \
	   && $(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .; } >$(STAMPS)/pip.log 2>&1 \
	  || { tail -n 30 $(STAMPS)/pip.log; echo "setup: pip failed, log: $(STAMPS)/pip.log"; exit 1; }
	@touch $@

# The console gets what will run and how long it should take, one line per point (with its
# position and the time left), and the end (report, or how to continue after Ctrl-C or an
# error). Snakemake's own output (~20 lines per job) goes to its log; on an error the log's
# last lines are shown. Snakemake's defaults (cores, rerun-incomplete) are in
# workflow/profiles/default, so this is the README's plain command.
reproduce: setup
	@$(BIN)/sshbench sweep check $(SWEEP)
	@log=$$($(BIN)/python -m sshbench.sweep.progress console-log $(SWEEP)) || exit 1; \
	[ -n "$(VERBOSE)" ] || echo "Snakemake's own output: $$log (VERBOSE=1 shows it here)"; \
	trap 'stopped=1' INT; \
	PATH="$(CURDIR)/$(BIN):$$PATH" PYTHONDONTWRITEBYTECODE= SSHBENCH_RERUN="$(RERUN)" \
	  $(BIN)/snakemake --cores $(CORES) --configfile $(SWEEP) $(if $(VERBOSE),,2>"$$log") \
	|| { [ -n "$(VERBOSE)$$stopped" ] || { echo "the error, from $$log:"; \
	       awk 'f || /Traceback|Error|Exception/ {f = 1} f' "$$log" | head -n 40; }; exit 1; }

test: setup-test lint pytest

# No testbed, no sweep, no Locust run, no benchmark script, no hostile peer: the pure
# parts, the SSH API against its loopback sshd, the lock. For the edit-test loop; `make test` (and CI) still run everything.
test-fast: setup-test
	$(TEST_ENV) $(PYTEST_FAST)

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

# The whole suite in three phases that split it by marker expressions, so no test runs
# twice and none is left out (tests/conftest.py sets the markers from the fixtures a test
# uses):
#   1. the fast tier (FAST) on TEST_WORKERS pytest-xdist workers;
#   2. ALONE, one test at a time with nothing beside it: the capacity searches, the model's
#      demands and Locust's own timing measure CPU and time;
#   3. the rest (sweeps, testbed, emulated VMs, hostile peers, benchmark scripts) in two
#      pytest processes side by side, LANE_A and LANE_B. Most of their time is waiting (a
#      point at 5 RPS, Ansible, deadlines), not all CPU: ~20 min one after the other, ~12 side
#      by side (2026-12-03, 2 cores). Each lane has its own session fixtures and temporary
#      folder; its output goes to $(LANE_LOGS)/lane-a.log and lane-b.log, printed whole when
#      both have ended.
# A failing phase still runs the next (every failure shows); an interrupted one (Ctrl-C, a
# collection error: pytest's exit 2-4) stops. A phase or lane that collects nothing (exit 5)
# fails: each must have tests.
SLOW   := not ($(FAST))
ALONE  := $(SLOW) and alone
LANE_A := $(SLOW) and not alone and not lane_b
LANE_B := $(SLOW) and not alone and lane_b
LANE_LOGS := .test-logs
pytest: setup-test
	@export $(TEST_ENV); fail=""; \
	stopped() { case $$1 in 0|1|5) return 1 ;; *) echo "pytest: $$2 stopped (exit $$1)"; return 0 ;; esac; }; \
	echo "pytest, phase 1 of 3: the fast tier ($(FAST)), $(TEST_WORKERS) workers"; \
	rc=0; $(PYTEST_FAST) || rc=$$?; [ $$rc -eq 0 ] || fail="$$fail phase-1:$$rc"; \
	! stopped $$rc "phase 1" || exit $$rc; \
	echo "pytest, phase 2 of 3: the tests that measure ($(ALONE)), one at a time"; \
	rc=0; $(BIN)/pytest -m "$(ALONE)" || rc=$$?; [ $$rc -eq 0 ] || fail="$$fail phase-2:$$rc"; \
	! stopped $$rc "phase 2" || exit $$rc; \
	mkdir -p $(LANE_LOGS); \
	echo "pytest, phase 3 of 3: the rest in two lanes side by side (logs: $(LANE_LOGS)/lane-a.log, lane-b.log)"; \
	$(BIN)/pytest -p no:cacheprovider -m "$(LANE_A)" >$(LANE_LOGS)/lane-a.log 2>&1 & a=$$!; \
	$(BIN)/pytest -p no:cacheprovider -m "$(LANE_B)" >$(LANE_LOGS)/lane-b.log 2>&1 & b=$$!; \
	ra=0; wait $$a || ra=$$?; rb=0; wait $$b || rb=$$?; \
	for lane in a b; do echo "--- lane $$lane ($(LANE_LOGS)/lane-$$lane.log)"; cat $(LANE_LOGS)/lane-$$lane.log; done; \
	[ $$ra -eq 0 ] || fail="$$fail phase-3-lane-a:$$ra"; [ $$rb -eq 0 ] || fail="$$fail phase-3-lane-b:$$rb"; \
	[ -z "$$fail" ] || { echo "pytest failed (phase:exit):$$fail"; exit 1; }

# Needs the venv only for uv (locked in the dev extra); the lock is made for
# $(LOCK_PYTHON) on $(LOCK_PLATFORM) whatever interpreter runs this.
lock: $(STAMPS)/venv
	$(BIN)/uv pip compile --system-certs pyproject.toml --extra dev --generate-hashes --quiet \
	  --python-version $(LOCK_PYTHON) --python-platform $(LOCK_PLATFORM) \
	  --custom-compile-command "make lock" $(if $(UPGRADE),--upgrade) -o $(LOCK)

teardown: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/sshbench sweep teardown

clean: teardown
	rm -rf $(VENV) $(STAMPS) .snakemake
