"""A broken config stops before anything is provisioned; a host's sshd killed during a
point makes that point fail (and only that one: a failure of the system under test is not
rerun); Locust killed during the next point is a harness failure, so that point runs again
and is kept with its first attempt recorded; the sweep still finishes and tears down."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
import yaml

from sshbench import paths
from sweep.helpers import SNAKEMAKE, run_snakemake, teardown_in

pytestmark = pytest.mark.netns

CI = yaml.safe_load((paths.EXPERIMENTS_DIR / "ci.yaml").read_text())


def _netns_of(name: str) -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [x for x in out.split() if x.startswith(f"{paths.OBJECT_PREFIX}-{name}-")]


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda c: c["points"].update(rates=["fast"]), "points.rates[0]"),
        (
            lambda c: c["groups"]["pooled"].update(connections=["keepalive"]),
            "groups.pooled.connections[0]",
        ),
        (lambda c: c["points"].update(hosts=["nohost"]), "points.hosts"),
        (lambda c: c["groups"]["burst"].update(profiles=["fast"]), "groups.burst.profiles"),
    ],
)
def test_broken_config_names_the_field_and_provisions_nothing(
    sweep_env_factory, tmp_path: Path, edit, field
) -> None:
    env = sweep_env_factory("b")
    bad = json.loads(json.dumps(CI))
    edit(bad)
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump(bad))
    proc = run_snakemake(env, "--cores", "2", "--configfile", str(cfg), timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"bad sweep config: config field {field}" in out, out[-2000:]
    assert not (Path(env["SSHBENCH_STATE"]) / "testbed").exists()
    assert not _netns_of(env["SSHBENCH_TESTBED"])
    assert not (Path(env["SSHBENCH_RESULTS"]) / "ci").exists()


def test_killed_sshd_fails_that_point_and_the_sweep_goes_on(sweep_env_factory, tmp_path):
    env = sweep_env_factory("k")
    name = env["SSHBENCH_TESTBED"]
    config = {
        "sweep": "kill",
        "inventory": "local",
        "points": {
            "hosts": ["taco"],
            "profiles": ["default"],
            "libraries": ["ssh2"],
            "connections": ["per-request"],
            "commands": ["uptime"],
            "rates": [5],
            "duration_s": 4,
            "warmup_s": 1,
            "trials": 2,
        },
    }
    cfg = tmp_path / "kill.yaml"
    cfg.write_text(yaml.safe_dump(config))
    first = Path(env["SSHBENCH_RESULTS"]) / "kill" / "points"
    first = first / "r5-taco-c2-uptime-default-ssh2-perreq-tcpd-sustained-t0"
    second_dir = first.parent / first.name.replace("-t0", "-t1")
    status = Path(env["SSHBENCH_STATE"]) / "testbed" / name / "status.json"
    proc = subprocess.Popen(
        [SNAKEMAKE, "--cores", "2", "--until", "run_point", "--configfile", str(cfg)],
        env=env,
        cwd=paths.ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        part = first / "requests-0.csv"
        while not (part.exists() and len(part.read_text().splitlines()) >= 4):
            assert proc.poll() is None, proc.stdout.read()[-3000:]
            assert time.monotonic() < deadline, "the first point never started sending"
            time.sleep(0.2)
        sshd_pid = json.loads(status.read_text())["hosts"]["taco"]["sshd_pid"]
        os.kill(int(sshd_pid), signal.SIGKILL)  # this test's own testbed's sshd
        part = second_dir / "requests-0.csv"
        while not (part.exists() and len(part.read_text().splitlines()) >= 4):
            assert proc.poll() is None, proc.stdout.read()[-3000:]
            assert time.monotonic() < deadline + 120, "the second point never started sending"
            time.sleep(0.2)
        locust_pid = _locust_of(second_dir)
        os.kill(locust_pid, signal.SIGKILL)  # the Locust this test's sweep started
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        teardown_in(env)
    assert proc.returncode == 0, out[-3000:]
    failed = json.loads((first / "point.json").read_text())
    assert failed["status"] == "failed"
    assert failed["error_class"] == "sshd_died"
    assert str(sshd_pid) in failed["error"]
    # requests after the kill failed, and every one was recorded: the counts add up
    assert failed["counts"]["failed"] > 0 and failed["integrity"] == "ok"
    assert (first / "requests.csv").exists() and (first / "locust_stats.csv").exists()
    assert "r5-taco-c2-uptime-default-ssh2-perreq-tcpd-sustained-t0: failed" in out
    assert failed["attempts"] == [], "a failure of the system under test was rerun"
    second = json.loads((second_dir / "point.json").read_text())
    assert second["status"] == "ok", f"{second['error_class']}: {second['error']}"
    assert second["counts"]["failed"] == 0 and second["integrity"] == "ok"
    # Locust killed: a harness failure, run once more; the first attempt is on record
    (attempt,) = second["attempts"]
    assert attempt["error_class"] == "locust_error", attempt
    assert str(-signal.SIGKILL) in attempt["error"]
    assert attempt["started_at"] <= attempt["ended_at"] <= second["started_at"]
    assert (second_dir / "attempt-1" / "locust.log").exists()
    assert f"point {second_dir.name}: locust_error (a harness failure): running it again" in out
    assert "teardown: testbed" in out
    assert not _netns_of(name)


def _locust_of(point_dir: Path) -> int:
    """PID of the Locust process writing into `point_dir` (its --csv prefix is there)."""
    prefix = str(point_dir / "locust")
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if prefix in (proc.info["cmdline"] or []):
            return proc.info["pid"]
    raise AssertionError(f"no Locust process writes to {point_dir}")
