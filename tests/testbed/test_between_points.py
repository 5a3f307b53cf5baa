"""What the runner calls between and during points, against the real local testbed: the host's
CPU quota and counters (cgroups), the client's TCP mode (route attribute), sshd liveness, and
the sshd role's own check of a profile.

Shares the session's testbed with test_testbed.py (which runs after this file and takes the
testbed down at its end); every test here puts back what it changed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from sshbench import paths
from sshbench.load import resources
from sshbench.testbed import live as testbed_live
from sshbench.testbed import testbed

from .ssh2_calls import call, parallel

pytestmark = pytest.mark.netns

SSHD_ALIVE_SH = paths.ANSIBLE_DIR / "roles" / "sshd" / "files" / "sshd_alive.sh"
STUDY_CPUS = 2.0


def _quota_in_kernel(host: dict[str, Any]) -> float | None:
    """The host's quota in cores, read from its cgroup's files (not through sshbench)."""
    cgroup = Path(host["cgroup"])
    if (cgroup / "cpu.max").exists():
        quota, period = (cgroup / "cpu.max").read_text().split()
        return None if quota == "max" else int(quota) / int(period)
    quota = int((cgroup / "cpu.cfs_quota_us").read_text())
    return None if quota < 0 else quota / int((cgroup / "cpu.cfs_period_us").read_text())


def _provenance(host: str) -> dict[str, Any]:
    return json.loads(Path(testbed.status()["hosts"][host]["provenance"]).read_text())


@pytest.fixture
def taco(testbed_up: dict[str, Any]) -> Any:
    """taco's status entry; its quota is put back to the study's 2 CPUs afterwards."""
    yield testbed.status()["hosts"]["taco"]
    testbed.set_host_cpus("taco", STUDY_CPUS)


def test_hosts_are_sized_as_the_studys(testbed_up: dict[str, Any]) -> None:
    for host in testbed_up["hosts"].values():
        assert host["cpus"] == STUDY_CPUS == _quota_in_kernel(host)


def test_set_host_cpus_changes_the_quota_in_force_once(taco: dict[str, Any]) -> None:
    first = testbed.set_host_cpus("taco", 0.5)
    assert first == {"host": "taco", "cpus": 0.5, "cgroup": taco["cgroup"], "changed": True}
    assert _quota_in_kernel(taco) == 0.5
    assert testbed.set_host_cpus("taco", 0.5)["changed"] is False
    st = testbed.status()
    assert st["hosts"]["taco"]["cpus"] == 0.5 and st["hosts"]["jetstream"]["cpus"] == STUDY_CPUS
    prov = _provenance("taco")
    assert prov["host_facts"]["cpu_cores_applied"] == 0.5
    assert testbed.set_host_cpus("taco", 1)["changed"] is True
    assert _quota_in_kernel(taco) == 1.0


@pytest.mark.parametrize("bad", [0, -1, "two", float("nan"), 0.001])
def test_bad_cpu_counts_are_refused(taco: dict[str, Any], bad: Any) -> None:
    with pytest.raises(testbed.TestbedError, match=r"must be a positive|below the kernel"):
        testbed.set_host_cpus("taco", bad)
    assert _quota_in_kernel(taco) == STUDY_CPUS


def test_unknown_host_is_named(testbed_up: dict[str, Any]) -> None:
    with pytest.raises(testbed.TestbedError, match="host 'nohost' is not up"):
        testbed.host_cpu_counters("nohost")


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = set(), [root]
    while todo:
        pid = todo.pop()
        out.add(pid)
        todo += children.get(pid, [])
    return out


def test_sshd_and_every_session_process_are_counted(
    taco: dict[str, Any], tmp_path: Path, testbed_env: str
) -> None:
    """sshd and its per-connection processes sit in the host's cpu and cpuacct groups (v1,
    separate or co-mounted) or its one v2 group: the counters cover the whole host."""
    known = tmp_path / "known_hosts"
    known.write_text(taco["host_key"] + "\n")
    ssh = [
        "ssh", "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={known}",
        "-i", taco["private_key"], f"{taco['user']}@{taco['address']}", "sleep 20",
    ]  # fmt: skip
    sessions = [subprocess.Popen(ssh) for _ in range(3)]
    try:
        cg = testbed._cgroup("taco")
        assert cg is not None
        deadline = time.monotonic() + 15
        while len(_descendants(taco["sshd_pid"])) < 1 + 3 * 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        family = _descendants(taco["sshd_pid"])
        assert len(family) >= 1 + 3 * 2, family  # listener + per session: sshd(s) and sleep
        for group in {cg.cpu, cg.acct}:
            assert group is not None
            members = {int(p) for p in (group / "cgroup.procs").read_text().split()}
            assert family <= members, (group, family - members)
        if cg.version == "1":
            assert cg.acct is not None and (cg.acct / "cpuacct.usage").exists()
    finally:
        for proc in sessions:
            proc.kill()
            proc.wait(timeout=10)


def test_a_quarter_cpu_host_is_throttled_under_load(taco: dict[str, Any]) -> None:
    testbed.set_host_cpus("taco", 0.25)
    samples = [testbed.host_cpu_counters("taco")]
    done = threading.Event()
    results: dict[str, int] = {}

    def load() -> None:
        results.update(parallel(taco, 20))
        done.set()

    started = time.monotonic()
    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    while not done.wait(0.1) and time.monotonic() - started < 120:
        samples.append(testbed.host_cpu_counters("taco"))
    worker.join(timeout=60)
    wall = time.monotonic() - started
    samples.append(testbed.host_cpu_counters("taco"))
    assert done.is_set(), "20 parallel connects did not finish within 120 s"
    assert results["ok"] > 0, results
    for key in ("cpu_s", "nr_periods", "nr_throttled", "throttled_s"):
        values = [s[key] for s in samples]
        assert values == sorted(values), f"{key} is not monotonic: {values}"
    first, last = samples[0], samples[-1]
    assert last["nr_throttled"] > first["nr_throttled"], (first, last)
    assert last["throttled_s"] > first["throttled_s"]
    used = last["cpu_s"] - first["cpu_s"]
    # The quota is in force: at most a quarter core over the run (+ one period of slack).
    assert 0 < used <= 0.25 * (wall + 0.2), (used, wall)


def test_counters_read_from_the_kernel(taco: dict[str, Any]) -> None:
    counters = testbed.host_cpu_counters("taco")
    assert set(counters) == {"cpu_s", "nr_periods", "nr_throttled", "throttled_s"}
    assert isinstance(counters["nr_periods"], int) and counters["cpu_s"] > 0
    call(taco)  # one more connection: its CPU is counted
    assert testbed.host_cpu_counters("taco")["cpu_s"] > counters["cpu_s"]


def test_sshd_t_shows_the_profile_in_force_and_names_a_mismatch(taco: dict[str, Any]) -> None:
    """The runner's check before every point: the applied sshd -T against the profile."""
    started = time.monotonic()
    ok = testbed.check_profile("taco", taco, "default")
    assert time.monotonic() - started < 1.0  # cheap enough to run before every point
    assert ok["settings"] == {
        "maxstartups": "10:30:100",
        "maxsessions": "10",
        "logingracetime": "120",
        "maxauthtries": "6",
    }
    assert ok["source"] == f"sshd -T -f {taco['sshd_config']}"
    # the status said tuned, but the sshd config in force is the default profile's
    with pytest.raises(testbed.TestbedError, match=r"maxstartups '10:30:100'.*'1000:30:3000'"):
        testbed.check_profile("taco", {**taco, "profile": "tuned"}, "tuned")
    with pytest.raises(testbed.TestbedError, match=r"has sshd profile 'default'.*'tuned'"):
        testbed.check_profile("taco", taco, "tuned")
    # a profile of the sweep whose values differ from what sshd runs with
    mine = {"default": {"max_sessions": 11}}
    with pytest.raises(testbed.TestbedError, match=r"maxsessions '10'.*'11'"):
        testbed.check_profile("taco", taco, "default", mine)


def test_host_memory_in_use_and_its_limit(taco: dict[str, Any]) -> None:
    mem = resources.HostMemory.of_provenance(taco["provenance"])
    assert mem is not None and mem.limit() == 2048 * 1024 * 1024  # the study's taco
    before = mem.used()
    assert before and 0 < before < mem.limit()
    sampler = resources.Sampler(None, [os.getpid()], "taco", None, mem)
    with sampler.every(0.1):
        parallel(taco, 8)  # sshd forks a session per connection, inside the group
    rec = sampler.record(0.1, None)
    assert rec["host_mem_limit_bytes"] == mem.limit()
    assert len(rec["samples"]) >= 2
    assert all(0 < x["host_mem_bytes"] < mem.limit() for x in rec["samples"])


def test_client_tcp_quickack_is_in_the_route_and_applied_once(
    testbed_up: dict[str, Any],
) -> None:
    net = str(testbed.subnet())

    def route() -> str:
        return subprocess.run(
            ["ip", "route", "show", "exact", net], capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        on = testbed.set_client_tcp("quickack")
        assert on["changed"] and on["mode"] == "quickack"
        assert "quickack 1" in route() and on["route"] == route()
        assert testbed.set_client_tcp("quickack")["changed"] is False
        st = testbed.status()
        assert (st["client_tcp"], st["route"]) == ("quickack", route())
        prov = _provenance("taco")
        assert prov["client_tcp"] == {"mode": "quickack", "route": route()}
        call(st["hosts"]["taco"])  # connections work with it
    finally:
        off = testbed.set_client_tcp("default")
    assert off["changed"] and "quickack" not in route()
    assert testbed.status()["client_tcp"] == "default"
    with pytest.raises(testbed.TestbedError, match="must be one of"):
        testbed.set_client_tcp("fast")


def test_the_client_tcp_playbook_sets_and_reports_the_route(testbed_up: dict[str, Any]) -> None:
    """The path a cloud inventory takes (testbed_client_tcp.yml on the inventory's client,
    the route read back from the run's events), here with this machine as the client."""
    extravars = {
        **testbed._common_vars(paths.testbed_name()),
        "testbed_host_client_tcp": "quickack",
    }
    try:
        result = testbed._run("testbed_client_tcp.yml", "local", extravars, "client-tcp")
        route = testbed._applied_route(result)
        assert result.changed == 1 and route.endswith("quickack 1"), (result.changed, route)
        assert testbed.status()["route"] == route
        again = testbed._run("testbed_client_tcp.yml", "local", extravars, "client-tcp")
        assert again.changed == 0
    finally:
        testbed.set_client_tcp("default")
    assert testbed.status()["client_tcp"] == "default"


def test_status_command_shows_cpus_and_client_tcp(testbed_up: dict[str, Any]) -> None:
    sshbench = str(Path(sys.executable).parent / "sshbench")
    out = subprocess.run(
        [sshbench, "testbed", "status"], capture_output=True, text=True, check=True
    ).stdout
    st = json.loads(out)
    assert st["client_tcp"] == "default" and st["route"].startswith(str(testbed.subnet()))
    assert {h["cpus"] for h in st["hosts"].values()} == {STUDY_CPUS}


# ---- liveness: one rule, in Python and in the shell helper ----------------------------------


def _script_says(pid: int | str, config: str) -> bool:
    done = subprocess.run([str(SSHD_ALIVE_SH), str(pid), config], capture_output=True, text=True)
    return done.returncode == 0


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_liveness_of_a_running_sshd(testbed_up: dict[str, Any]) -> None:
    for host in testbed.status()["hosts"].values():
        assert testbed.sshd_alive(host) and host["alive"]
        assert _script_says(host["sshd_pid"], host["sshd_config"])
        pidfile = Path(host["sshd_config"]).parent / "sshd.pid"
        assert _script_says(pidfile, host["sshd_config"])
    assert testbed.sshd_alive("taco")


@pytest.mark.parametrize("case", ["dead pid", "not sshd", "another host's sshd", "no pid"])
def test_liveness_says_no(testbed_up: dict[str, Any], case: str) -> None:
    hosts = testbed.status()["hosts"]
    taco, jetstream = hosts["taco"], hosts["jetstream"]
    pid, config = {
        "dead pid": (_dead_pid(), taco["sshd_config"]),
        "not sshd": (os.getpid(), taco["sshd_config"]),
        "another host's sshd": (jetstream["sshd_pid"], taco["sshd_config"]),
        "no pid": (None, taco["sshd_config"]),
    }[case]
    assert testbed.sshd_alive({**taco, "sshd_pid": pid, "sshd_config": config}) is False
    assert _script_says(pid or "/nonexistent/sshd.pid", config) is False


def test_liveness_rule_matches_a_config_path_exactly(testbed_up: dict[str, Any]) -> None:
    taco = testbed.status()["hosts"]["taco"]
    prefix = taco["sshd_config"][:-1]  # a path that is a prefix of the real one
    assert not testbed_live.pid_runs_sshd(taco["sshd_pid"], prefix)
    assert not _script_says(taco["sshd_pid"], prefix)


# ---- the sshd role checks a profile itself ---------------------------------------------------


def test_the_role_refuses_an_unknown_profile_key(testbed_up: dict[str, Any]) -> None:
    """Straight to the playbook, past sshbench's own check: the role names the bad key and
    nothing changes."""
    before = testbed.status()
    extravars = {
        **testbed._common_vars(paths.testbed_name()),
        "sshd_profile": "typo",
        "sshd_profile_settings": {"max_sessions": 20, "max_starups": "10:30:100"},
    }
    with pytest.raises(
        testbed.TestbedError,
        match=r"Check that the profile's settings.*unknown setting\(s\) max_starups; allowed: "
        r"max_startups, max_sessions",
    ):
        testbed._run("testbed_switch.yml", "local", extravars, "switch")
    after = testbed.status()
    for name, host in after["hosts"].items():
        assert host["sshd_config_sha256"] == before["hosts"][name]["sshd_config_sha256"]
        assert host["alive"] and host["sshd_pid"] == before["hosts"][name]["sshd_pid"]
