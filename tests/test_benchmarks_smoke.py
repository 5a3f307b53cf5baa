"""The benchmarks no other test runs (bench_api_overhead, bench_capacity, bench_testbed), run
for real with tiny counts, so the output the README quotes cannot rot. Each is a subprocess,
as a reader runs it; the checks are on what it prints, not on the numbers (tiny counts
measure nothing)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest
import testbed_names
from sweep.helpers import sweep_test_env, take_testbed_down

from sshbench import paths

# Letters of this module's test testbeds (<letter><base36 pid>): g capacity, h testbed.
LETTERS = "gh"
NUMBER = r"[0-9]+(?:\.[0-9]+)?"


@pytest.fixture
def bench_testbed(require, tmp_path) -> Iterator[Callable[[str], dict[str, str]]]:
    """The environment of a benchmark with a testbed of its own (a test-only name); that
    testbed is taken down after, whatever happened."""
    require(os.geteuid() == 0, "the benchmark's testbed needs root (namespaces, cgroups)")
    for stale in testbed_names.stale_test_testbeds(LETTERS):  # a crashed earlier run of this module
        take_testbed_down(stale)
    made: list[str] = []

    def env(letter: str) -> dict[str, str]:
        e = sweep_test_env(tmp_path, letter)
        made.append(e["SSHBENCH_TESTBED"])
        return e

    try:
        yield env
    finally:
        for name in made:
            take_testbed_down(name)


def _run(argv: list[str], env: dict[str, str] | None = None, timeout: float = 600) -> str:
    proc = subprocess.run(
        [sys.executable, *argv], cwd=paths.ROOT, env=env, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    return proc.stdout


def test_bench_api_overhead_prints_a_row_per_library(require, benchmark):
    require(os.geteuid() == 0, "the benchmark's sshd needs root (its test user)")
    # Two libraries (each starts its own API server): the rows come from one code path.
    argv = [str(benchmark / "bench_api_overhead.py"), "-n", "1", "--libraries", "ssh2", "openssh"]
    out = _run(argv)
    assert re.search(r"^library +n +bare ms +API ms +ratio +in-API ssh ms$", out, re.M), out
    for lib in ("ssh2", "openssh"):
        row = rf"^{re.escape(lib)} +1 +{NUMBER} +{NUMBER} +{NUMBER} +{NUMBER}$"
        assert re.search(row, out, re.M), (lib, out)


def test_bench_capacity_prints_its_table_and_goals(bench_testbed, benchmark):
    argv = [str(benchmark / "bench_capacity.py"), "--libraries", "ssh2", "--seconds", "2"]
    out = _run([*argv, "--start-rps", "5", "--max-steps", "1"], env=bench_testbed("g"))
    assert re.search(r"^library +mode +tcp +bare/s +API cap +bracket +ratio +API cpu ms$",
                     out, re.M), out  # fmt: skip
    for mode, tcp in (("per-request", "default"), ("per-request", "quickack"),
                      ("pooled", "default")):  # fmt: skip
        row = rf"^ssh2 +{mode} +{tcp} +{NUMBER} +{NUMBER} +\S+ +{NUMBER} +-?{NUMBER}$"
        assert re.search(row, out, re.M), (mode, tcp, out)
    assert re.search(r"^  ssh2 +per-request / bare .* API CPU -?[0-9.]+ ms", out, re.M), out
    assert "median API CPU per request (less the library)" in out


@pytest.mark.lane_b  # make pytest's lanes: this one evens them out
def test_bench_testbed_prints_steps_calls_and_tcp_modes(bench_testbed, benchmark):
    env = bench_testbed("h")
    out = _run([str(benchmark / "bench_testbed.py"), "--reps", "1", "--calls", "1"], env=env)
    assert f"testbed {env['SSHBENCH_TESTBED']!r}, 2 hosts" in out, out
    assert re.search(rf"^rep 1: up +{NUMBER} s, up again +{NUMBER} s, ", out, re.M), out
    assert "warning: second up changed" not in out, out  # up is idempotent
    for step in ("up", "up again", "switch to tuned", "switch to default", "down"):
        assert re.search(rf"^  {step} +{NUMBER}$", out, re.M), (step, out)
    for call in ("set_host_cpus, a change", "host_cpu_counters", "set_client_tcp, a change",
                 "status()"):  # fmt: skip
        assert re.search(rf"^  {re.escape(call)} +{NUMBER} (ms|us)$", out, re.M), (call, out)
    for label in ("plain", "TCP_NODELAY (as the API)"):
        assert re.search(rf"^  {re.escape(label)} +{NUMBER} +{NUMBER}$", out, re.M), (label, out)
