"""End to end: experiments/ci.yaml through Snakemake on the real local testbed and API.

The sweep runs once per session (fixture ci_sweep in tests/conftest.py); these tests read
what it left behind.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from sshbench import paths
from sshbench.load import records
from sshbench.sweep import sweep

pytestmark = pytest.mark.netns

CI_CONFIG = paths.EXPERIMENTS_DIR / "ci.yaml"
POINTS = sweep.expand(sweep.load(CI_CONFIG))
# The burst against the default MaxStartups: refusals expected (test_refused_burst...).
REFUSED = "n40-taco-c2-uptime-default-ssh2-perreq-tcpd-burst-t0"
TACO_MEMORY = 2048 * 1024 * 1024  # ansible/inventories/local: testbed_host_memory_mb


def _record(ci_sweep: Path, pid: str) -> dict:
    return json.loads((ci_sweep / "points" / pid / "point.json").read_text())


def _env_of(ci_sweep: Path) -> dict[str, str]:
    name = _record(ci_sweep, next(iter(POINTS)))["provenance"]["testbed"]["name"]
    return {
        **os.environ,
        "SSHBENCH_TESTBED": name,
        "SSHBENCH_RESULTS": str(ci_sweep.parent),
        "SSHBENCH_STATE": str(ci_sweep.parent.parent / "state"),
    }


def _finished_point(ci_sweep: Path, pid: str) -> dict:
    """A point's record, checked for what every point has: status, params, provenance."""
    d = ci_sweep / "points" / pid
    assert (d / "point.json").exists(), (ci_sweep.parent / "snakemake.log").read_text()[-3000:]
    rec = _record(ci_sweep, pid)
    params = POINTS[pid]
    assert rec["status"] == "ok", f"{rec['error_class']}: {rec['error']}"
    assert rec["id"] == pid and rec["sweep"] == "ci" and rec["params"] == params
    assert rec["error_class"] is None and rec["error"] is None
    assert rec["started_at"] < rec["ended_at"]
    prov = rec["provenance"]
    assert re.fullmatch(r"[0-9a-f]{40}", prov["git_commit"])
    for pkg in ("sshapi-bench", "ssh2-python", "paramiko", "locust"):
        assert prov["versions"][pkg], pkg
    assert prov["versions"]["openssh_client"].startswith("OpenSSH")
    assert prov["versions"]["openssh_server"].startswith("OpenSSH")
    assert re.fullmatch(r"[0-9a-f]{64}", prov["sshd_config_sha256"][params["host"]])
    assert prov["machine"]["cpu_count"] >= 1 and prov["machine"]["kernel"]
    assert prov["testbed"]["profile"] == params["profile"]
    # the host had the CPUs and the client the TCP mode the point asked for
    assert rec["applied"]["host_cpus"]["cpus"] == params["host_cpus"]
    assert rec["applied"]["client_tcp"]["mode"] == params["client_tcp"]
    assert rec["integrity"] == "ok"
    return rec


AUTH = [p for p in POINTS if POINTS[p]["pattern"] == "auth"]
# File transfers: their rows and counts are checked in tests/sweep/test_transfer.py.
TRANSFER = [p for p in POINTS if POINTS[p]["pattern"] == "transfer"]


@pytest.mark.parametrize("pid", TRANSFER)
def test_transfer_point_record(ci_sweep: Path, pid: str) -> None:
    _finished_point(ci_sweep, pid)


@pytest.mark.parametrize("pid", AUTH)
def test_auth_point_directory(ci_sweep: Path, pid: str) -> None:
    """An auth point: no API, no Locust; a row per login, the counts adding up."""
    rec = _finished_point(ci_sweep, pid)
    d = ci_sweep / "points" / pid
    assert rec["provenance"]["api"] is None and not (d / "locust.log").exists()
    rows = records.read_rows(d / "requests.csv")
    assert len(rows) == POINTS[pid]["logins"] == rec["counts"]["slots"] == rec["counts"]["ok"]
    assert [int(r["slot"]) for r in rows] == list(range(len(rows)))
    assert all(r["outcome"] == "ok" and r["name"] == "auth" for r in rows)
    assert all(0 < float(r["latency_ms"]) == float(r["service_ms"]) for r in rows)
    # sampled like a load point: the host's CPU and memory, and the process doing the logins
    res = rec["resources"]
    assert res["host"] == "taco" and res["host_mem_limit_bytes"] == TACO_MEMORY
    samples = res["samples"]
    assert len(samples) >= 2 and all(0 < x["host_mem_bytes"] <= TACO_MEMORY for x in samples)
    assert samples[-1]["host_cpu_s"] > samples[0]["host_cpu_s"]
    assert samples[-1]["generator_cpu_s"] > samples[0]["generator_cpu_s"]


@pytest.mark.parametrize(
    "pid", [p for p in POINTS if p != REFUSED and p not in AUTH and p not in TRANSFER]
)
def test_point_directory(ci_sweep: Path, pid: str) -> None:
    rec = _finished_point(ci_sweep, pid)
    d = ci_sweep / "points" / pid
    params = POINTS[pid]
    prov = rec["provenance"]
    assert prov["api"]["settings"]["library"] == params["library"]
    assert prov["api"]["settings"]["connections"] == params["connections"]
    for name in ("locust_stats.csv", "locust_stats_history.csv", "locust_failures.csv"):
        assert (d / name).exists(), name
    assert (d / "locust_exceptions.csv").exists() and (d / "locust.log").exists()
    assert (d / "api.log").exists()

    rows = records.read_rows(d / "requests.csv")
    assert all(r["outcome"] == "ok" and r["name"] == params["command"] for r in rows)
    assert all(float(r["service_ms"]) > 0 for r in rows)
    assert all(float(r["latency_ms"]) >= float(r["service_ms"]) for r in rows)
    with open(d / "locust_stats.csv", newline="") as fh:
        stats = {r["Name"]: r for r in csv.DictReader(fh)}
    assert int(stats[params["command"]]["Request Count"]) == len(rows)
    c = rec["counts"]
    assert c["sent"] == c["ok"] == len(rows) and c["failed"] == c["missed"] == 0
    samples = rec["resources"]["samples"]
    assert samples and all("host_cpu_s" in x and "api_cpu_s" in x for x in samples)
    assert samples[-1]["host_cpu_s"] > samples[0]["host_cpu_s"]
    # the host's memory in use at every sample, below its limit (the study's 2 GB for taco)
    assert rec["resources"]["host_mem_limit_bytes"] == TACO_MEMORY
    assert all(0 < x["host_mem_bytes"] <= TACO_MEMORY for x in samples)

    sched = rec["schedule"]
    if params["pattern"] == "sustained":
        slots = round(params["rps"] * (params["warmup_s"] + params["duration_s"]))
        assert len(rows) == slots == c["slots"] == sched["slots"]
        assert sched["window"] == [
            pytest.approx(sched["t0"] + params["warmup_s"]),
            pytest.approx(sched["t0"] + params["warmup_s"] + params["duration_s"]),
        ]
    else:
        assert len(rows) == params["burst_size"] and sched["window"] is None
        starts = sorted(float(r["sent_ts"]) for r in rows)
        assert starts[-1] - starts[0] < 0.5


def test_refused_burst_counts_each_request_once_and_resends_none(ci_sweep: Path) -> None:
    rec = _record(ci_sweep, REFUSED)
    rows = records.read_rows(ci_sweep / "points" / REFUSED / "requests.csv")
    assert rec["status"] == "ok" and rec["integrity"] == "ok"
    assert sorted(int(r["slot"]) for r in rows) == list(range(40))  # each user once
    c = rec["counts"]
    assert c["sent"] == 40 == c["ok"] + c["failed"] and c["failed"] > 0
    refused = [r for r in rows if r["outcome"] == "failed"]
    assert {r["error_class"] for r in refused} <= {"ssh_error", "ssh_connection_refused"}
    with open(ci_sweep / "points" / REFUSED / "locust_stats.csv", newline="") as fh:
        stats = {r["Name"]: r for r in csv.DictReader(fh)}["uptime"]
    assert int(stats["Request Count"]) == 40  # Locust saw no resend either
    assert int(stats["Failure Count"]) == c["failed"]


def test_console_line_per_point(ci_sweep: Path) -> None:
    log = (ci_sweep.parent / "snakemake.log").read_text()
    for pid in [p for p in POINTS if p != REFUSED]:
        line = next((x for x in log.splitlines() if x.startswith(f"point {pid}: ok")), None)
        assert line, f"no console line for {pid}"
        assert " p50 " in line and " p99 " in line and "(service p99 " in line
        assert "counts broken" not in line
        # a transfer may lose a few (tests/sweep/test_transfer.py: at least 90 % answered)
        assert pid in TRANSFER or " failures 0/" in line


def test_points_ran_in_the_planned_order(ci_sweep: Path) -> None:
    recs = sorted((_record(ci_sweep, pid) for pid in POINTS), key=lambda r: r["started_at"])
    plan = json.loads((ci_sweep / "plan.json").read_text())
    assert [r["id"] for r in recs] == [p["id"] for p in plan["points"]] == list(POINTS)
    profiles = [r["params"]["profile"] for r in recs]
    switches = sum(a != b for a, b in itertools.pairwise(profiles))
    # profile blocks alternate per trial round: one switch per round at most
    rounds = len({r["params"]["trial"] for r in recs})
    assert len(set(profiles)) - 1 <= switches <= rounds
    assert [p["profile"] for p in plan["points"]] == profiles
    # never two points at once on the testbed
    for a, b in itertools.pairwise(recs):
        assert a["ended_at"] <= b["started_at"]


def test_sweep_succeeded_and_tore_down(ci_sweep: Path) -> None:
    rc = int((ci_sweep.parent / "snakemake.rc").read_text())
    assert rc == 0, (ci_sweep.parent / "snakemake.log").read_text()[-3000:]
    assert (ci_sweep / "tidy.csv").exists()
    assert (ci_sweep / "paper" / "report.html").exists()
    name = _env_of(ci_sweep)["SSHBENCH_TESTBED"]
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"{paths.OBJECT_PREFIX}-{name}-" not in netns
    api_pid = Path(_env_of(ci_sweep)["SSHBENCH_STATE"]) / "api" / name / "sshapi.pid"
    assert not api_pid.exists()


def test_rerun_skips_finished_points_and_a_changed_rate_reruns_only_its_points(
    ci_sweep: Path, tmp_path: Path
) -> None:
    env = _env_of(ci_sweep)
    snakemake = str(Path(os.sys.executable).with_name("snakemake"))

    def planned_points(configfile: Path) -> int:
        out = subprocess.run(
            [snakemake, "-n", "--configfile", str(configfile)],
            env=env,
            cwd=paths.ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        m = re.search(r"^run_point\s+(\d+)$", out.stdout + out.stderr, re.M)
        return int(m.group(1)) if m else 0

    assert planned_points(CI_CONFIG) == 0
    changed = yaml.safe_load(CI_CONFIG.read_text())
    changed["points"]["rates"] = [6]  # the two per-request points of the `commands` group
    cfg = tmp_path / "ci.yaml"
    cfg.write_text(yaml.safe_dump(changed))
    assert planned_points(cfg) == 2
