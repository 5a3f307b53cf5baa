"""Session-wide fixtures: the CI sweep (experiments/ci.yaml) run once through Snakemake on
a real local testbed, under a test-only testbed name, state and results directory."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sweep.helpers import remove_stale_sweep_testbeds, run_snakemake, sweep_test_env, teardown_in


@pytest.fixture(scope="session")
def sweep_env_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[str], dict[str, str]]:
    """Make the environment of a Snakemake run of its own (letter: q, k or b)."""
    if os.geteuid() != 0:
        pytest.skip("the sweep needs root (network namespaces, cgroups, useradd)")
    remove_stale_sweep_testbeds()

    def make(letter: str) -> dict[str, str]:
        return sweep_test_env(tmp_path_factory.mktemp(f"sweep-{letter}"), letter)

    return make


@pytest.fixture(scope="session")
def ci_sweep(sweep_env_factory) -> Iterator[Path]:
    """`snakemake --cores 2 --configfile experiments/ci.yaml`, run once per session.

    Returns results/<sweep> of that run. Snakemake's output and exit code are beside it:
    `<results>/snakemake.log` and `<results>/snakemake.rc`. --keep-going, so one failing job
    does not hide the others' results.
    """
    env = sweep_env_factory("q")
    results = Path(env["SSHBENCH_RESULTS"])
    try:
        proc = run_snakemake(
            env, "--cores", "2", "--keep-going", "--configfile", "experiments/ci.yaml"
        )
        results.mkdir(parents=True, exist_ok=True)
        (results / "snakemake.log").write_text(proc.stdout + proc.stderr)
        (results / "snakemake.rc").write_text(f"{proc.returncode}\n")
        yield results / "ci"
    finally:
        teardown_in(env)
