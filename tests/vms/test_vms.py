"""The real-VM path, run for real: Ansible reaches emulated VMs over SSH (inventory
vms-local, testbed_kind remote, the same roles as a cloud inventory), the API runs on the
client VM, and the ci sweep runs end to end through it, leaving nothing behind."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from sweep.helpers import run_snakemake

from sshbench import paths
from sshbench.sweep import point, sweep
from sshbench.testbed import ansible_run, testbed, vms_local

pytestmark = pytest.mark.netns

INVENTORY = "vms-local"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _etc_ssh(cloud: dict[str, Any], host: str) -> Path:
    return paths.netns_etc(cloud["hosts"][host]["namespace"]) / "ssh"


def _leftovers(cloud: dict[str, Any], originals: dict[str, str]) -> list[str]:
    """What the testbed or the API left on any VM (a VM as the cloud made it: nothing)."""
    found = []
    user = testbed.user_name()
    if subprocess.run(["id", user], capture_output=True).returncode == 0:
        found.append(f"test user {user}")
    if paths.user_home(user).exists():
        found.append(f"home {paths.user_home(user)}")
    for host, vm in cloud["hosts"].items():
        etc = _etc_ssh(cloud, host)
        if _sha(etc / "sshd_config") != originals[host]:
            found.append(f"{host}: sshd_config not the VM's own")
        if (etc / "sshd_config.sshbench-orig").exists():
            found.append(f"{host}: sshd_config.sshbench-orig")
        for what in ("sshapi", "loadgen"):
            if (Path(vm["dir"]) / what).exists():
                found.append(f"{host}: {what} directory")
        pids = subprocess.run(
            ["ip", "netns", "pids", vm["namespace"]], capture_output=True, text=True
        ).stdout.split()
        for pid in pids:
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            # sshd itself, and the admin's own sessions (Ansible's ControlPersist)
            if not cmd.startswith("sshd:"):
                found.append(f"{host}: process {pid} {cmd[:60]}")
    route = subprocess.run(
        ["ip", "-n", cloud["hosts"]["client"]["namespace"], "route", "show", cloud["subnet"]],
        capture_output=True,
        text=True,
    ).stdout
    if "quickack" in route:
        found.append(f"client: route {route.strip()}")
    return found


@pytest.fixture(scope="module")
def cloud(vms_env: dict[str, str]) -> dict[str, Any]:
    return vms_local.status()


@pytest.fixture(scope="module")
def originals(cloud: dict[str, Any]) -> dict[str, str]:
    """Each VM's own sshd_config, as the cloud made it (before any testbed touched it)."""
    return {h: _sha(_etc_ssh(cloud, h) / "sshd_config") for h in cloud["hosts"]}


@pytest.fixture(scope="module")
def vms_testbed(cloud: dict[str, Any], originals: dict[str, str]) -> dict[str, Any]:
    return testbed.up(INVENTORY, "default")


def test_testbed_up_reaches_the_vms_over_ssh(vms_testbed, cloud):
    for host in ("taco", "jetstream"):
        h = vms_testbed["hosts"][host]
        assert h["kind"] == "remote" and h["alive"]
        assert h["address"] == cloud["hosts"][host]["address"]
        prov = json.loads(Path(h["provenance"]).read_text())
        # the VM's own sshd, configured through its own /etc/ssh, admin account still allowed
        assert prov["sshd_config"]["path"] == vms_local.SSHD_CONFIG
        assert f"allowusers {testbed.user_name()}" in prov["sshd_T"]
        assert cloud["admin_user"] in (_etc_ssh(cloud, host) / "sshd_config").read_text()
    runs = paths.testbed_dir() / "runs"
    extravars = json.loads(next(runs.glob("*-up-*/env/extravars.redacted")).read_text())
    assert "ansible_connection" not in extravars  # the inventory decides, not the caller


def test_lockout_guard_refuses_before_applying(vms_testbed, cloud):
    config = _etc_ssh(cloud, "taco") / "sshd_config"
    before = _sha(config)
    extravars = {
        **testbed._common_vars(paths.testbed_name()),
        **testbed.resolve_profile("tuned"),
        "sshd_allow_users": [testbed.user_name()],  # forgets the admin account
    }
    with pytest.raises(ansible_run.PlaybookError) as err:
        ansible_run.run_playbook(
            "testbed_switch.yml",
            testbed.inventory_path(INVENTORY),
            extravars,
            paths.testbed_dir() / "runs",
            "lockout",
        )
    message = str(err.value)
    assert "refused before applying" in message and cloud["admin_user"] in message
    assert "\n" not in message
    assert _sha(config) == before  # nothing was applied
    assert testbed.status()["hosts"]["taco"]["alive"]


def test_profile_switch_over_ssh(vms_testbed):
    pids = {h: v["sshd_pid"] for h, v in vms_testbed["hosts"].items()}
    st = testbed.switch("tuned")
    for host, h in st["hosts"].items():
        prov = json.loads(Path(h["provenance"]).read_text())
        assert "maxstartups 1000:30:3000" in prov["sshd_T"]
        assert "maxsessions 3000" in prov["sshd_T"]
        assert h["profile"] == "tuned" and h["alive"]
        assert h["sshd_pid"] == pids[host]  # reloaded, not restarted
    st = testbed.switch("default")
    assert {h["profile"] for h in st["hosts"].values()} == {"default"}


def _points(
    duration_s: int, **loadgen: Any
) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, Any]]:
    config = sweep.resolve(
        {
            "sweep": "vmfail",
            "inventory": INVENTORY,
            "loadgen": loadgen,
            "points": {
                "hosts": ["taco"],
                "profiles": ["default"],
                "libraries": ["ssh2"],
                "connections": ["per-request"],
                "commands": ["uptime"],
                "rates": [5],
                "duration_s": duration_s,
                "warmup_s": 1,
            },
        }
    )
    return sorted(sweep.expand(config).items()), sweep.run_settings(config)


class _WhenSending(threading.Thread):
    """Runs ``action`` once ``part`` (a process's rows) has a few rows: mid-point. It waits
    as long as the point runs (``stop()`` after it returned), however long the API's deploy
    before it takes on a busy machine."""

    def __init__(self, part: Path, action) -> None:
        super().__init__(daemon=True)
        self.part, self.action, self.done = part, action, threading.Event()
        self.start()

    def run(self) -> None:
        while not self.done.is_set():
            if self.part.exists() and len(self.part.read_text().splitlines()) >= 4:
                self.action()
                return
            self.done.wait(0.05)

    def stop(self) -> None:
        self.done.set()
        self.join(5)


def test_killed_remote_worker_attempt_is_rerun_and_its_rows_come_back(vms_testbed, cloud):
    # A request timeout of 5 s (60 by default): Locust's master, its worker killed, waits out
    # the run's cap (schedule + request timeout + 15 s) before the point can tell it was lost.
    ((point_id, params), *_), settings = _points(
        duration_s=5, hosts=["load"], processes=1, request_timeout_s=5
    )
    remote = Path(cloud["hosts"]["load"]["dir"]) / "loadgen" / point_id
    killed: dict[str, int] = {}

    def kill_worker() -> None:
        killed["pid"] = int((remote / "worker-load-0.pid").read_text())
        os.kill(killed["pid"], signal.SIGKILL)  # the worker this test's point started

    thread = _WhenSending(remote / "requests-0.csv", kill_worker)
    rec = point.run("vmfail", point_id, params, settings)
    thread.stop()
    assert killed, "the worker never started sending"
    # worker_lost is the harness's failure: the point is rerun once (issue 20), and the lost
    # attempt stays in its record
    (lost,) = rec["attempts"]
    assert lost["error_class"] == "worker_lost", lost
    assert "load-0" in lost["error"] and "\n" not in lost["error"]
    # The rerun is the next run after the lost worker (a new remote worker, the same
    # testbed): it must be whole. Its remote worker's CPU is counted like a local one's,
    # and its rows came back.
    assert rec["status"] == "ok", f"{rec['error_class']}: {rec['error']}"
    assert rec["integrity"] == "ok" and rec["counts"]["failed"] == 0
    res = rec["resources"]
    assert res["remote_generators"] == ["load-0"] and res["generator_processes"] == 2
    assert res["samples"][-1]["generator_cpu_s"] > res["samples"][0]["generator_cpu_s"]
    pdir = paths.SweepLayout.of("vmfail").point(point_id)
    assert (pdir / "locust-worker-load-0.log").exists()
    assert rec["counts"]["ok"] == rec["counts"]["slots"] > 0


def test_teardown_after_a_failure_mid_point(vms_testbed, cloud, originals):
    ((point_id, params), *_), settings = _points(duration_s=5)
    pdir = paths.SweepLayout.of("vmfail").point(point_id)
    pid_file = Path(cloud["hosts"]["client"]["dir"]) / "sshapi" / "sshapi.pid"
    killed: dict[str, int] = {}

    def kill_api() -> None:
        killed["pid"] = int(pid_file.read_text())
        # the API this test deployed: gunicorn and its workers (their own session)
        os.killpg(killed["pid"], signal.SIGKILL)

    thread = _WhenSending(pdir / "requests-0.csv", kill_api)
    rec = point.run("vmfail", point_id, params, settings)
    thread.stop()
    assert killed, "the point never started sending"
    assert rec["status"] == "failed" and rec["error_class"] == "api_down", rec["error"]
    assert rec["counts"]["failed"] > 0 and rec["integrity"] == "ok"
    point.teardown(log=lambda msg: None)
    assert _leftovers(cloud, originals) == []


# The ci sweep cut to one point of each kind that reaches the VMs differently: a new
# connection per request (default profile), pooled (tuned: a profile switch over SSH) and
# the auth points (logins from the controller, no API). The whole ci sweep runs locally in
# tests/analysis; here its other points would add minutes and no new path.
VMS_CI = [
    {"command": "uptime", "profile": "default", "pattern": "sustained"},
    {"connections": "pooled", "pattern": "sustained"},
    {"pattern": "auth", "trial": 0},
]


def test_ci_sweep_over_ssh_end_to_end(vms_env, cloud, originals):
    proc = run_snakemake(
        vms_env,
        "--cores",
        "2",
        "--configfile",
        "experiments/ci.yaml",
        "--config",
        f"inventory={INVENTORY}",
        f"include={json.dumps(VMS_CI)}",
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    layout = paths.SweepLayout(Path(vms_env["SSHBENCH_RESULTS"]) / "ci")
    points = sorted(layout.points.glob("*/point.json"))
    ci = sweep.expand({**sweep.load(paths.EXPERIMENTS_DIR / "ci.yaml"), "include": VMS_CI})
    assert len(ci) == 4 and {p["pattern"] for p in ci.values()} == {"sustained", "auth"}
    assert sorted(f.parent.name for f in points) == sorted(ci)
    for f in points:
        rec = json.loads(f.read_text())
        assert rec["status"] == "ok", f"{f.parent.name}: {rec['error_class']}: {rec['error']}"
        assert rec["integrity"] == "ok"
        assert rec["settings"]["inventory"] == INVENTORY
        assert rec["provenance"]["testbed"]["inventory"] == INVENTORY
        if rec["params"]["pattern"] == "auth":  # logins from here, no API
            assert rec["provenance"]["api"] is None
            continue
        assert rec["provenance"]["api"]["url"].startswith(
            f"http://{cloud['hosts']['client']['address']}:"
        )
    assert layout.report_html.exists() and layout.tidy.exists()
    assert "teardown: testbed" in out
    assert _leftovers(cloud, originals) == []
