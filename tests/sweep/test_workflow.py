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

from sshbench import loadgen, paths, sweep

pytestmark = pytest.mark.netns

CI_CONFIG = paths.EXPERIMENTS_DIR / "ci.yaml"
POINTS = sweep.expand(sweep.load(CI_CONFIG))


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


@pytest.mark.parametrize("pid", list(POINTS))
def test_point_directory(ci_sweep: Path, pid: str) -> None:
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
    assert prov["api"]["settings"]["library"] == params["library"]
    assert prov["api"]["settings"]["connections"] == params["connections"]
    for name in ("locust_stats.csv", "locust_stats_history.csv", "locust_failures.csv"):
        assert (d / name).exists(), name
    assert (d / "locust_exceptions.csv").exists() and (d / "locust.log").exists()
    assert (d / "api.log").exists()

    with open(d / "requests.csv", newline="") as fh:
        reader = csv.reader(fh)
        assert next(reader) == loadgen.REQUEST_FIELDS
        rows = list(reader)
    assert all(r[4] == "1" and r[1] == params["command"] for r in rows)
    assert all(float(r[2]) > 0 for r in rows)
    with open(d / "locust_stats.csv", newline="") as fh:
        stats = {r["Name"]: r for r in csv.DictReader(fh)}
    assert int(stats[params["command"]]["Request Count"]) == len(rows)
    assert rec["failures"] == 0

    if params["pattern"] == "sustained":
        slots = round(params["rps"] * (params["warmup_s"] + params["duration_s"]))
        assert len(rows) == slots
        assert rec["requests"] == round(params["rps"] * params["duration_s"])
        assert rec["target_rps"] == params["rps"]
        assert rec["achieved_rps"] == pytest.approx(params["rps"], rel=0.15)
        assert rec["throughput_rps"] == pytest.approx(params["rps"], rel=0.25)
        assert rec["loadgen"]["sent"] == rec["loadgen"]["slots"] == slots
    else:
        assert len(rows) == rec["requests"] == params["burst_size"]
        starts = sorted(float(r[0]) for r in rows)
        assert starts[-1] - starts[0] < 0.5


def test_console_line_per_point(ci_sweep: Path) -> None:
    log = (ci_sweep.parent / "snakemake.log").read_text()
    for pid in POINTS:
        line = next((x for x in log.splitlines() if x.startswith(f"point {pid}: ok")), None)
        assert line, f"no console line for {pid}"
        assert " p50 " in line and " p99 " in line and " failures 0/" in line


def test_points_ran_in_profile_and_deployment_blocks(ci_sweep: Path) -> None:
    recs = sorted((_record(ci_sweep, pid) for pid in POINTS), key=lambda r: r["started_at"])
    keys = [
        (r["params"]["profile"], r["params"]["library"], r["params"]["connections"]) for r in recs
    ]
    blocks = [k for i, k in enumerate(keys) if i == 0 or keys[i - 1] != k]
    assert len(blocks) == len(set(keys))
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
