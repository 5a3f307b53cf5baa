"""The local testbed end to end, with real namespaces, sshd, cgroups and Ansible runs.

The tests share one testbed (module fixture) and run in file order: up, inspect, idempotence,
bursts, a refused profile, switch, bursts again, teardown.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sshbench import paths
from sshbench.testbed import testbed

from .burst import burst

pytestmark = pytest.mark.netns

SSHBENCH = str(Path(sys.executable).parent / "sshbench")  # the installed command
HOSTS = {"taco": 2048, "jetstream": 4096}  # the study's memory sizes, in MB
BURST = 60


def _ssh(host: dict[str, Any], command: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """The real OpenSSH client, trusting only the host key the testbed recorded."""
    known = tmp_path / "known_hosts"
    known.write_text(host["host_key"] + "\n")
    return subprocess.run(
        [
            "ssh",
            "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={known}",
            "-o", "ConnectTimeout=10",
            "-i", host["private_key"],
            "-p", str(host["port"]),
            f"{host['user']}@{host['address']}",
            command,
        ],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def _resolved(host: dict[str, Any]) -> dict[str, str]:
    """`sshd -T` of the host's config, as option -> value."""
    config = json.loads(Path(host["provenance"]).read_text())["sshd_config"]["path"]
    out = subprocess.run(
        ["/usr/sbin/sshd", "-T", "-f", config], capture_output=True, text=True, check=True
    ).stdout
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def _pids(status: dict[str, Any]) -> dict[str, int]:
    return {name: h["sshd_pid"] for name, h in status["hosts"].items()}


def test_up_reports_every_host(testbed_up: dict[str, Any], testbed_env: str) -> None:
    st = testbed_up
    assert st["testbed"] == testbed_env and st["profile"] == "default"
    assert set(st["hosts"]) == set(HOSTS)
    client = ipaddress.ip_address(st["client_address"])
    assert client in testbed.BENCH_NETWORK
    for host in st["hosts"].values():
        assert ipaddress.ip_address(host["address"]) in testbed.subnet(testbed_env)
        assert host["alive"] and Path(host["private_key"]).is_file()
        assert host["host_key"].startswith(host["address"] + " ssh-ed25519 ")
    saved = json.loads((paths.testbed_dir() / "status.json").read_text())
    assert saved["hosts"].keys() == st["hosts"].keys()


def test_ssh_into_each_host(testbed_up: dict[str, Any], tmp_path: Path) -> None:
    for host in testbed_up["hosts"].values():
        done = _ssh(host, "uptime", tmp_path)
        assert done.returncode == 0, done.stderr
        assert "load average" in done.stdout


def test_limits_and_provenance(testbed_up: dict[str, Any], testbed_env: str) -> None:
    for name, host in testbed_up["hosts"].items():
        prov = json.loads(Path(host["provenance"]).read_text())
        assert prov["sshd_version"].startswith("OpenSSH_")
        assert "maxstartups 10:30:100" in prov["sshd_T"]
        assert prov["sshd_config"]["sha256"] == host["sshd_config_sha256"]
        facts = prov["host_facts"]
        assert facts["cpu_cores_applied"] == 2.0  # the study's VMs
        assert facts["memory_bytes_applied"] == HOSTS[name] * 1024 * 1024
        # sshd itself sits in the host's cgroups, so its sessions do too.
        cgroups = Path(f"/proc/{host['sshd_pid']}/cgroup").read_text()
        assert f"{paths.OBJECT_PREFIX}-{testbed_env}-{name}" in cgroups
        if not facts["netem"]["available"]:
            assert any("netem" in note for note in prov["notes"])
        assert prov["per_source_penalties"]["choice"] == "exempt"


def test_sessions_run_inside_the_hosts_limits(
    testbed_up: dict[str, Any], testbed_env: str, tmp_path: Path
) -> None:
    """A command run over SSH is a child of the host's sshd: same cgroups, same namespace."""
    for name, host in testbed_up["hosts"].items():
        done = _ssh(host, "cat /proc/self/cgroup; readlink /proc/self/ns/net", tmp_path)
        assert done.returncode == 0, done.stderr
        group = f"{paths.OBJECT_PREFIX}-{testbed_env}-{name}"
        lines = done.stdout.splitlines()
        in_group = [line for line in lines if line.endswith(f"/{group}")]
        if Path("/sys/fs/cgroup/cgroup.controllers").exists():  # cgroup v2: one tree
            assert any(line.startswith("0::") for line in in_group), lines
        else:  # v1: the cpu and the memory hierarchy
            controllers = {c for line in in_group for c in line.split(":")[1].split(",")}
            assert {"cpu", "memory"} <= controllers, lines
        sshd_ns = Path(f"/proc/{host['sshd_pid']}/ns/net").readlink()
        assert lines[-1] == str(sshd_ns) != str(Path("/proc/self/ns/net").readlink())


def test_status_command_prints_the_same(testbed_up: dict[str, Any]) -> None:
    out = subprocess.run(
        [SSHBENCH, "testbed", "status"], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out)["hosts"] == testbed.status()["hosts"]


def test_second_up_changes_nothing(testbed_up: dict[str, Any]) -> None:
    """Also not what was set between points: `up` keeps a host's CPU quota and the client's
    TCP mode (the roles are given the same values)."""
    testbed.set_host_cpus("jetstream", 1.5)
    testbed.set_client_tcp("quickack")
    try:
        again = testbed.up("local", "default")
        assert again["run"]["changed"] == 0
        assert _pids(again) == _pids(testbed_up)
        assert again["hosts"]["jetstream"]["cpus"] == 1.5 and again["client_tcp"] == "quickack"
    finally:
        testbed.set_host_cpus("jetstream", 2)
        testbed.set_client_tcp("default")


def test_a_second_testbed_lives_beside_the_first(
    testbed_up: dict[str, Any],
    testbed_env: str,
    other_testbed_name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SSHBENCH_TESTBED", other_testbed_name)
    try:
        other = testbed.up("local", "default")
        assert other["client_address"] != testbed_up["client_address"]
        assert _ssh(other["hosts"]["taco"], "uptime", tmp_path).returncode == 0
    finally:
        testbed.down()
    assert _leftovers(other_testbed_name, paths.testbed_dir()) == []
    monkeypatch.setenv("SSHBENCH_TESTBED", testbed_env)
    first = testbed.status()
    assert _pids(first) == _pids(testbed_up)
    assert all(host["alive"] for host in first["hosts"].values())
    assert _ssh(first["hosts"]["jetstream"], "uptime", tmp_path).returncode == 0


def test_burst_is_partly_refused_with_default(testbed_up: dict[str, Any]) -> None:
    host = testbed_up["hosts"]["taco"]
    counts = burst(host["address"], host["port"], BURST)
    assert counts["silent"] == 0, counts
    assert 10 <= counts["banner"] < BURST and counts["refused"] > 0, counts


def test_broken_profile_is_refused_and_old_sshd_keeps_running(
    testbed_up: dict[str, Any], tmp_path: Path
) -> None:
    before = testbed.status()
    broken = {"broken": {"max_startups": "100:30:10"}}
    failed = (
        r"task 'Install sshd_config.*' failed on host '(taco|jetstream)'.*validate.*MaxStartups"
    )
    with pytest.raises(testbed.TestbedError, match=failed):
        testbed.switch("broken", profiles=broken)
    after = testbed.status()
    assert _pids(after) == _pids(before)
    for name, host in after["hosts"].items():
        assert host["alive"]
        assert host["sshd_config_sha256"] == before["hosts"][name]["sshd_config_sha256"]
        assert _resolved(host)["maxstartups"] == "10:30:100"
    assert _ssh(after["hosts"]["taco"], "uptime", tmp_path).returncode == 0


def test_unknown_profile_is_refused_by_the_command(testbed_up: dict[str, Any]) -> None:
    done = subprocess.run(
        [SSHBENCH, "testbed", "switch", "--profile", "nope"], capture_output=True, text=True
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "unknown sshd profile 'nope'" in done.stderr


def test_switch_to_tuned_reloads_the_same_sshd(testbed_up: dict[str, Any]) -> None:
    before = testbed.status()
    tuned = testbed.switch("tuned")
    assert tuned["profile"] == "tuned"
    assert _pids(tuned) == _pids(before)
    for name, host in tuned["hosts"].items():
        resolved = _resolved(host)
        assert resolved["maxstartups"] == "1000:30:3000"
        assert resolved["maxsessions"] == "3000"
        assert host["alive"] and host["profile"] == "tuned"
        assert host["sshd_config_sha256"] != before["hosts"][name]["sshd_config_sha256"]


def test_burst_gets_every_banner_with_tuned(testbed_up: dict[str, Any]) -> None:
    host = testbed_up["hosts"]["taco"]
    assert burst(host["address"], host["port"], BURST) == {
        "banner": BURST,
        "refused": 0,
        "silent": 0,
    }


def _leftovers(name: str, tdir: Path) -> list[str]:
    tag = f"{paths.OBJECT_PREFIX}-{name}-"
    found = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    found += [f"netns {n}" for n in netns.split() if n.startswith(tag)]
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    found += [f"link {line}" for line in links.splitlines() if f": {tag}" in line]
    found += [f"cgroup {p}" for p in Path("/sys/fs/cgroup").glob(f"**/{tag}*")]
    found += [f"/etc/netns {p}" for p in Path("/etc").glob(f"netns/{tag}*")]
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "sshd" in cmdline and str(tdir) in cmdline:
            found.append(f"process {proc.name}: {cmdline}")
    users = subprocess.run(["getent", "passwd", testbed.user_name(name)], capture_output=True)
    if users.returncode == 0:
        found.append(f"user {testbed.user_name(name)}")
    if Path("/home", testbed.user_name(name)).exists():
        found.append(f"home /home/{testbed.user_name(name)}")
    found += [f"file {p}" for p in tdir.iterdir() if p.name != "runs"] if tdir.exists() else []
    return found


def test_down_removes_everything_and_is_safe_twice(
    testbed_up: dict[str, Any], testbed_env: str
) -> None:
    tdir = paths.testbed_dir()
    assert _leftovers(testbed_env, tdir), "the testbed should be up before down"
    net = str(testbed.subnet())
    assert "quickack 1" in testbed.set_client_tcp("quickack")["route"]
    testbed.down()
    assert _leftovers(testbed_env, tdir) == []
    routes = subprocess.run(["ip", "route", "show"], capture_output=True, text=True).stdout
    assert net not in routes  # the client's route (and its quickack attribute) went too
    testbed.down()
    assert _leftovers(testbed_env, tdir) == []
    assert testbed.status()["hosts"] == {}
    # Every playbook run kept its own directory with ansible-runner's log.
    runs = sorted((tdir / "runs").glob("*-*"))
    assert len(runs) >= 6 and len({r.name for r in runs}) == len(runs)
    assert all((r / "artifacts" / "run" / "stdout").stat().st_size > 0 for r in runs)


def test_down_finds_a_crashed_runs_leftovers(testbed_env: str) -> None:
    """Objects named for this testbed but recorded nowhere (a run that crashed) are removed."""
    tag = f"{paths.OBJECT_PREFIX}-{testbed_env}-"
    subprocess.run(["ip", "netns", "add", f"{tag}ghost"], check=True)
    subprocess.run(["ip", "link", "add", f"{tag}gb", "type", "bridge"], check=True)
    v1_cpu = Path("/sys/fs/cgroup/cpu")
    cgroup = (v1_cpu if v1_cpu.is_dir() else Path("/sys/fs/cgroup")) / f"{tag}ghost"
    cgroup.mkdir()
    sleeper = subprocess.Popen(["ip", "netns", "exec", f"{tag}ghost", "sleep", "120"])
    try:
        assert len(_leftovers(testbed_env, paths.testbed_dir())) >= 3
        testbed.down()
        assert _leftovers(testbed_env, paths.testbed_dir()) == []
        assert sleeper.wait(timeout=10) is not None
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
            sleeper.wait()
