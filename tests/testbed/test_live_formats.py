"""The cgroup file formats sshbench.testbed.live reads and writes, for the hierarchy this
machine does not have. The real v1 path (this machine) is exercised against the kernel in
test_between_points.py; cgroup v2 (`cpu.max`, `cpu.stat` with usage_usec) cannot be mounted
here next to v1, so its files are laid out as the kernel documents them
(Documentation/admin-guide/cgroup-v2.rst) and the same functions are run on them."""

from __future__ import annotations

from pathlib import Path

import pytest

from sshbench.testbed import live

V2_STAT = """usage_usec 2500000
user_usec 1500000
system_usec 1000000
nr_periods 40
nr_throttled 12
throttled_usec 750000
nr_bursts 0
burst_usec 0
"""


def v2_group(tmp_path: Path, cpu_max: str = "max 100000") -> live.Cgroup:
    (tmp_path / "cpu.max").write_text(cpu_max + "\n")
    (tmp_path / "cpu.stat").write_text(V2_STAT)
    (tmp_path / "cgroup.procs").write_text("10\n11\n")
    facts = {"version": "2", "exists": True, "cpu_path": str(tmp_path), "cpuacct_path": ""}
    return live.Cgroup.from_facts("taco", facts)


def test_v2_quota_is_written_as_quota_and_period(tmp_path: Path) -> None:
    cg = v2_group(tmp_path)
    assert cg.acct == tmp_path  # v2 counts CPU time in the cpu group itself
    assert live.read_quota(cg) == (-1, 100000) and live.cores(-1, 100000) is None
    assert live.set_quota(cg, 0.25) == (25000, 100000, True)
    assert (tmp_path / "cpu.max").read_text() == "25000 100000\n"
    assert live.set_quota(cg, 0.25) == (25000, 100000, False)
    assert live.cores(*live.read_quota(cg)) == 0.25


def test_v2_counters(tmp_path: Path) -> None:
    assert live.counters(v2_group(tmp_path)) == {
        "cpu_s": 2.5,
        "nr_periods": 40,
        "nr_throttled": 12,
        "throttled_s": 0.75,
    }
    assert live.procs(v2_group(tmp_path)) == {10, 11}


def test_a_quota_below_the_kernels_minimum_is_refused(tmp_path: Path) -> None:
    with pytest.raises(live.LiveError, match="below the kernel's minimum"):
        live.set_quota(v2_group(tmp_path), 0.005)


@pytest.mark.parametrize(
    "facts",
    [{"version": "none", "exists": False, "cpu_path": ""}, {"version": "1", "exists": False}],
)
def test_a_host_without_a_group_is_named(facts: dict) -> None:
    with pytest.raises(live.LiveError, match="host 'taco' has no CPU cgroup"):
        live.Cgroup.from_facts("taco", facts)


def test_route_mode() -> None:
    route = "198.18.7.0/24 dev sb-x-br proto kernel scope link src 198.18.7.1"
    assert live.route_mode(route) == "default"
    assert live.route_mode(route + " quickack 1") == "quickack"
    assert live.route_mode("") is None
