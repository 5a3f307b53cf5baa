"""Helpers for tests that run the workflow: a Snakemake run of its own per test (testbed
name, state and results under a temporary directory), and teardown by testbed name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from testbed_names import stale_test_testbeds, testbed_name_for

from sshbench import paths
from sshbench.testbed import testbed

VENV_BIN = Path(sys.executable).parent
SNAKEMAKE = str(VENV_BIN / "snakemake")
# First letters of the sweep tests' testbed names (the testbed tests use t..z).
# m: tests/analysis/test_model_sweep.py; e: test_no_secrets; f: test_transfer
SWEEP_TEST_LETTERS = "qkbcimef"


def sweep_test_env(base: Path, letter: str) -> dict[str, str]:
    """Environment for a Snakemake run of its own: testbed `<letter><base36 pid>`, state and
    results under `base`, the venv first on PATH."""
    name = testbed_name_for(letter)
    testbed.check_subnet_free(name)
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


def remove_stale_sweep_testbeds() -> None:
    """Testbeds of earlier sweep test runs whose pytest process is gone (a crash)."""
    for name in stale_test_testbeds(SWEEP_TEST_LETTERS):
        subprocess.run(
            [sys.executable, "-c", "from sshbench.testbed import testbed; testbed.down()"],
            env={**os.environ, "SSHBENCH_TESTBED": name},
            cwd=paths.ROOT,
            capture_output=True,
            timeout=180,
        )


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
