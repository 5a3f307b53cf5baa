"""Helpers for tests that run the workflow: a Snakemake run of its own per test (testbed
name, state and results under a temporary directory), and teardown by testbed name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from testbed_names import stale_test_testbeds, testbed_name_for

from sshbench import paths

VENV_BIN = Path(sys.executable).parent
SNAKEMAKE = str(VENV_BIN / "snakemake")
# First letters of the sweep tests' testbed names (the testbed tests use t..z).
# c: the shared capacity sweep (tests/conftest.py); e, m and f: no longer used (the secrets
# check, the model and the transfers read other tests' sweeps), still cleaned up after a crash
SWEEP_TEST_LETTERS = "qkbcimef"

# The one capacity sweep of the suite: two searches (a host held to a quarter of a CPU and
# to one CPU) and two sustained rates on a host held to half a CPU, ssh2 with a new
# connection per request. tests/sweep/test_capacity_real.py reads the searches,
# tests/analysis/test_model_sweep.py the model fitted on the sustained points and validated
# on the searches (held out). A bracket of 50 %: the search's rules (growth, a confirmed
# failure, bisection) all run, in fewer steps than the study's 25 % would take.
CAPACITY_SWEEP = {
    "sweep": "capt",
    "inventory": "local",
    "capacity": {"p99_ms": 1000, "start_rps": 8, "growth": 2, "resolution": 0.5, "max_steps": 12},
    "points": {
        "hosts": ["taco"], "host_cpus": [0.5], "profiles": ["tuned"], "libraries": ["ssh2"],
        "connections": ["per-request"], "commands": ["uptime"], "rates": [3, 6],
        "duration_s": 3, "warmup_s": 1,
    },
    "groups": {"sustained": {}, "capacity": {"host_cpus": [0.25, 1], "patterns": ["capacity"]}},
}  # fmt: skip
CAPACITY_SEARCH = "cap-taco-c{cpus}-uptime-tuned-ssh2-perreq-tcpd-t0"


def sweep_test_env(base: Path, letter: str) -> dict[str, str]:
    """Environment for a Snakemake run of its own: testbed `<letter><base36 pid>`, state and
    results under `base`, the venv first on PATH. The name's /24 is free (testbed_name_for
    waits for it)."""
    name = testbed_name_for(letter)
    return {
        **os.environ,
        "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "SSHBENCH_TESTBED": name,
        "SSHBENCH_STATE": str(base / "state"),
        "SSHBENCH_RESULTS": str(base / "results"),
    }


def teardown_in(env: dict[str, str]) -> None:
    """Stop the API and take the testbed of `env` down (safe when nothing is up)."""
    subprocess.run(
        [sys.executable, "-c", "from sshbench.sweep import point; point.teardown()"],
        env=env,
        cwd=paths.ROOT,
        capture_output=True,
        timeout=180,
    )


def take_testbed_down(name: str) -> None:
    """Take testbed `name` down (safe when it is not up)."""
    subprocess.run(
        [sys.executable, "-c", "from sshbench.testbed import testbed; testbed.down()"],
        env={**os.environ, "SSHBENCH_TESTBED": name},
        cwd=paths.ROOT,
        capture_output=True,
        timeout=180,
    )


def remove_stale_sweep_testbeds() -> None:
    """Testbeds of earlier sweep test runs whose pytest process is gone (a crash)."""
    for name in stale_test_testbeds(SWEEP_TEST_LETTERS):
        take_testbed_down(name)


def run_snakemake(
    env: dict[str, str], *args: str, timeout: float = 600
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SNAKEMAKE, *args],
        env=env,
        cwd=paths.ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
