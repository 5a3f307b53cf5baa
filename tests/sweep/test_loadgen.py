"""The locustfile's pacing against a throwaway Flask app on 127.0.0.1 (real Locust runs).

The app answers like the SSH API (JSON with exit_status) without SSH, so these tests check
the load generator alone: the open-loop schedule, lateness, the burst release, distributed
mode, and how failures are recorded.
"""

from __future__ import annotations

import csv
import itertools
import threading
import time
from pathlib import Path

import pytest
from flask import Flask, jsonify, request
from werkzeug.serving import make_server

from sshbench import loadgen

TOKEN = "test-token"


def _app() -> Flask:
    app = Flask("fake_api")

    @app.get("/credentials/<name>/<command>")
    def run(name: str, command: str):
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return jsonify(error="unauthorized", message="bad token"), 401
        if name == "broken":
            return jsonify(error="ssh_connection_refused", message="refused"), 502
        delay = float(name.removeprefix("slow")) / 1000 if name.startswith("slow") else 0.0
        time.sleep(delay)
        return jsonify(stdout=f"{command} {request.args.get('path', '')}", exit_status=0)

    return app


@pytest.fixture(scope="module")
def api_url():
    server = make_server("127.0.0.1", 0, _app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


def _load(url: str, **kw) -> loadgen.Load:
    base = dict(
        url=url,
        token=TOKEN,
        cred="slow0",
        command="uptime",
        pattern="sustained",
        rps=20,
        burst_size=None,
        schedule_s=3,
        warmup_s=1,
        users=20,
        timeout_s=10,
    )
    return loadgen.Load(**{**base, **kw})


def _stats_count(out: Path, name: str) -> int:
    with open(out / "locust_stats.csv", newline="") as fh:
        return int({r["Name"]: r for r in csv.DictReader(fh)}[name]["Request Count"])


def _run(load: loadgen.Load, out: Path):
    facts = loadgen.run(load, out, lambda msg: None)
    rows = loadgen.read_requests(out / "requests.csv")
    return facts, rows, loadgen.summarise(load, facts, rows)


def test_sustained_rate_is_held_while_responses_are_slow(api_url, tmp_path):
    # 300 ms responses at 20 RPS: 6 requests in flight; a closed loop with few users would
    # fall to users/0.3 s, the open-loop schedule must not.
    facts, rows, s = _run(_load(api_url, cred="slow300"), tmp_path)
    assert facts["returncodes"] == [0]
    assert len(rows) == 60
    starts = [r["t_start"] for r in rows]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert sum(gaps) / len(gaps) == pytest.approx(0.05, rel=0.1)
    assert max(gaps) < 0.15
    assert s["target_rps"] == 20 and s["achieved_rps"] == pytest.approx(20, rel=0.1)
    assert s["requests"] == 40 and s["failures"] == 0
    assert 290 <= s["p50_ms"] < 500
    assert s["loadgen"]["max_in_flight"] >= 5
    assert s["loadgen"]["limited"] is False and s["loadgen"]["users_exhausted"] is False
    assert s["throughput_rps"] == pytest.approx(20, rel=0.15)
    assert 0 < s["loadgen"]["cpu_percent"] < 100
    for name in ("locust_stats.csv", "locust_stats_history.csv", "locust_failures.csv"):
        assert (tmp_path / name).stat().st_size > 0
    with open(tmp_path / "requests.csv") as fh:
        assert next(csv.reader(fh)) == loadgen.REQUEST_FIELDS
    assert _stats_count(tmp_path, "uptime") == 60


def test_too_few_users_make_late_slots_and_flag_the_generator(api_url, tmp_path):
    # 2 users, 300 ms responses: at most ~7 RPS can go out on time; the point must say so.
    facts, rows, s = _run(_load(api_url, cred="slow300", users=2), tmp_path)
    lg = s["loadgen"]
    assert lg["late_slots"] > 10
    assert lg["limited"] is True and "late_slots" in lg["limited_by"]
    assert lg["users_exhausted"] is True
    assert s["achieved_rps"] < 12
    # the schedule ends on time: slots still unsent then are missed, not sent late
    assert lg["sent"] == len(rows) < lg["slots"] == 60
    assert max(r["t_start"] for r in rows) < facts["pacing"]["t0"] + 3


def test_burst_releases_all_users_at_once(api_url, tmp_path):
    load = _load(api_url, pattern="burst", rps=None, burst_size=30, users=30, schedule_s=0)
    load.warmup_s = 0
    _, rows, s = _run(load, tmp_path)
    assert len(rows) == 30 and s["failures"] == 0
    starts = sorted(r["t_start"] for r in rows)
    assert starts[-1] - starts[0] < 0.25
    assert s["target_rps"] is None and s["requests"] == 30
    assert _stats_count(tmp_path, "uptime") == 30  # Locust's own CSV saw every request


def test_distributed_mode_splits_the_schedule(api_url, tmp_path):
    facts, rows, s = _run(_load(api_url, cred="slow50", processes=2, users=10), tmp_path)
    assert facts["returncodes"] == [0, 0, 0]
    assert facts["pacing"]["processes_reported"] == 2
    assert len(rows) == 60
    assert s["achieved_rps"] == pytest.approx(20, rel=0.1)
    assert _stats_count(tmp_path, "uptime") == 60  # the master got every worker's last report


def test_failures_are_recorded_with_the_api_error_code(api_url, tmp_path):
    load = _load(api_url, cred="broken", command="ls", ls_path="/tmp/a b", rps=10, schedule_s=1)
    facts, rows, s = _run(load, tmp_path)
    assert facts["returncodes"] == [1]  # Locust's exit code when requests failed
    assert len(rows) == 10
    assert all(not r["success"] and "502" in r["error"] for r in rows)
    assert all("ssh_connection_refused" in r["error"] for r in rows)
    assert all(r["name"] == "ls" for r in rows)
    assert s["failures"] == s["requests"]
