"""The locustfile and sshbench.load.loadgen against a throwaway HTTP app on 127.0.0.1 (real Locust
runs, real processes).

The app answers like the SSH API (JSON with exit_status) without SSH, so these tests check
the load generator alone: the open-loop schedule, one row per slot whatever happens to the
request, latency from the intended time, the counts adding up, the burst release,
distributed mode, and the failure classes.
"""

from __future__ import annotations

import csv
import itertools
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

from sshapi.testing import free_port, stop_process
from sshbench.load import loadgen, records

# Every test here runs real Locust processes (tests/conftest.py marks them `locust`).
pytestmark = pytest.mark.usefixtures("locust_run")

TOKEN = "test-token"

APP_SOURCE = textwrap.dedent(
    """
    import sys, time
    from flask import Flask, jsonify, request

    app = Flask("fake_api")

    @app.get("/credentials/<name>/<command>")
    def run(name, command):
        if request.headers.get("Authorization") != "Bearer test-token":
            return jsonify(error="bad_token", message="bad token"), 401
        if name == "broken":
            return jsonify(error="ssh_connection_refused", message="refused"), 502
        if name == "notjson":
            return "<html>oops</html>", 200
        delay = float(name.removeprefix("slow")) / 1000 if name.startswith("slow") else 0.0
        time.sleep(delay)
        return jsonify(stdout=command, exit_status=0)

    if __name__ == "__main__":
        app.run("127.0.0.1", int(sys.argv[1]), threaded=True)
    """
)


def _app() -> Flask:
    namespace: dict = {}
    exec(compile(APP_SOURCE, "fake_api", "exec"), namespace)  # the same app in-process
    return namespace["app"]


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
    return facts, records.read_rows(out / "requests.csv")


def _f(row: dict, col: str) -> float:
    return float(row[col])


def test_every_slot_is_a_row_on_the_schedule(api_url, tmp_path):
    # 300 ms responses at 20 RPS: 6 requests in flight; the open-loop schedule holds the
    # rate, and each row's intended time is on the grid t0 + k / rps.
    facts, rows = _run(_load(api_url, cred="slow300"), tmp_path)
    assert facts["returncodes"] == [0]
    assert facts["integrity"] == "ok"
    assert facts["counts"] == {
        "slots": 60, "sent": 60, "missed": 0, "ok": 60, "failed": 0, "missed_rows": 0,
    }  # fmt: skip
    t0 = facts["schedule"]["t0"]
    assert facts["schedule"]["window"] == [pytest.approx(t0 + 1), pytest.approx(t0 + 3)]
    assert [int(r["slot"]) for r in rows] == list(range(60))
    for r in rows:
        assert _f(r, "intended_ts") == pytest.approx(t0 + int(r["slot"]) / 20, abs=1e-5)
        assert 0 <= _f(r, "sent_ts") - _f(r, "intended_ts") < 0.1  # sent on time
        assert 290 <= _f(r, "service_ms") <= _f(r, "latency_ms") < 1000
        assert r["outcome"] == "ok" and r["error_class"] == "" and r["name"] == "uptime"
    assert facts["loadgen"]["max_in_flight"] >= 5
    samples = facts["resources"]["samples"]
    assert len(samples) >= 4 and samples[-1]["generator_cpu_s"] > samples[0]["generator_cpu_s"]
    assert all(b["t"] > a["t"] for a, b in itertools.pairwise(samples))
    for name in ("locust_stats.csv", "locust_stats_history.csv", "locust_failures.csv"):
        assert (tmp_path / name).stat().st_size > 0
    with open(tmp_path / "requests.csv") as fh:
        assert tuple(next(csv.reader(fh))) == records.FIELDS
    assert _stats_count(tmp_path, "uptime") == 60


def test_latency_counts_the_wait_for_a_user_and_missed_slots_are_rows(api_url, tmp_path):
    # 2 users, 300 ms responses, 20 RPS: at most ~7 RPS go out; every later slot waits for
    # a user. Latency from the intended time grows along the schedule, service time does
    # not (coordinated omission, made visible), and the slots never sent are rows too.
    facts, rows = _run(_load(api_url, cred="slow300", users=2), tmp_path)
    c = facts["counts"]
    assert facts["integrity"] == "ok"
    assert c["slots"] == 60 == c["sent"] + c["missed"] and c["missed"] > 20
    assert c["missed_rows"] == c["missed"] and c["ok"] == c["sent"]
    sent = [r for r in rows if r["outcome"] == "ok"]
    missed = [r for r in rows if r["outcome"] == "missed"]
    assert all(r["sent_ts"] == r["latency_ms"] == "" for r in missed)
    assert max(_f(r, "service_ms") for r in sent) < 900
    assert _f(sent[-1], "latency_ms") > 3 * _f(sent[-1], "service_ms")
    assert _f(sent[-1], "latency_ms") > _f(sent[2], "latency_ms") + 500
    # the schedule ends on time: nothing is sent after t0 + its length
    assert max(_f(r, "sent_ts") for r in sent) < facts["schedule"]["t0"] + 3
    assert facts["loadgen"]["max_in_flight"] == 2 == facts["loadgen"]["users"]


def test_burst_releases_all_users_at_once(api_url, tmp_path):
    load = _load(api_url, pattern="burst", rps=None, burst_size=30, users=30, schedule_s=0)
    load.warmup_s = 0
    facts, rows = _run(load, tmp_path)
    assert facts["integrity"] == "ok" and facts["schedule"]["window"] is None
    assert len(rows) == 30 and {r["outcome"] for r in rows} == {"ok"}
    assert len({r["intended_ts"] for r in rows}) == 1
    starts = sorted(_f(r, "sent_ts") for r in rows)
    assert starts[-1] - starts[0] < 0.25
    assert _stats_count(tmp_path, "uptime") == 30  # Locust's own CSV saw every request


def test_distributed_mode_shares_one_schedule(api_url, tmp_path):
    facts, rows = _run(_load(api_url, cred="slow50", processes=2, users=10), tmp_path)
    assert facts["returncodes"] == [0, 0, 0]
    assert facts["integrity"] == "ok" and facts["loadgen"]["processes_reported"] == 2
    assert [int(r["slot"]) for r in rows] == list(range(60))
    assert {r["process"] for r in rows} == {"0", "1"}
    t0 = facts["schedule"]["t0"]  # the master's t0, sent to both workers
    assert all(
        _f(r, "intended_ts") == pytest.approx(t0 + int(r["slot"]) / 20, abs=1e-5) for r in rows
    )
    assert _stats_count(tmp_path, "uptime") == 60  # the master got every worker's last report


def test_api_errors_keep_their_code(api_url, tmp_path):
    load = _load(api_url, cred="broken", command="ls", ls_path="/tmp/a b", rps=10, schedule_s=1)
    facts, rows = _run(load, tmp_path)
    assert facts["returncodes"] == [1]  # Locust's exit code when requests failed
    assert facts["integrity"] == "ok" and len(rows) == 10
    assert {(r["outcome"], r["error_class"], r["name"]) for r in rows} == {
        ("failed", "ssh_connection_refused", "ls")
    }
    assert all("502" in r["error"] for r in rows)


def test_a_body_that_is_not_json_is_a_bad_response(api_url, tmp_path):
    facts, rows = _run(_load(api_url, cred="notjson", rps=10, schedule_s=1), tmp_path)
    assert facts["integrity"] == "ok"
    assert {(r["outcome"], r["error_class"]) for r in rows} == {("failed", "bad_response")}


def test_the_request_timeout_comes_from_the_config(api_url, tmp_path):
    # Responses take 3 s; the configured timeout is 1 s: every request fails as an
    # api_timeout after about 1 s (Locust's default would wait 60 s).
    load = _load(api_url, cred="slow3000", rps=4, schedule_s=1, users=4, timeout_s=1)
    facts, rows = _run(load, tmp_path)
    assert facts["integrity"] == "ok" and len(rows) == 4
    assert {(r["outcome"], r["error_class"]) for r in rows} == {("failed", "api_timeout")}
    assert all(900 <= _f(r, "service_ms") < 2500 for r in rows)


def test_nothing_listens_every_request_is_refused_and_counted(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    facts, rows = _run(_load(url, rps=10, schedule_s=1), tmp_path)
    assert facts["integrity"] == "ok" and len(rows) == 10
    assert {(r["outcome"], r["error_class"]) for r in rows} == {("failed", "api_refused")}


def test_api_killed_mid_point_every_request_is_recorded(tmp_path):
    # The API is a process of its own; it is killed once it has answered 25 of the 80 slots
    # of a 4 s schedule (its own request log says so). Every slot is still a row: answers
    # before, connection-level failures after, none lost.
    port = free_port()
    app = tmp_path / "fake_api.py"
    app.write_text(APP_SOURCE)
    access_log = tmp_path / "fake_api.log"  # werkzeug logs one line per answered request
    with open(access_log, "wb") as log_fh:
        proc = subprocess.Popen(
            [sys.executable, str(app), str(port)], stdout=subprocess.DEVNULL, stderr=log_fh
        )

    def kill_after_answers(n: int) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if access_log.read_text(errors="replace").count('" 200 ') >= n:
                break
            time.sleep(0.01)
        proc.kill()

    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the fake API did not start"
                time.sleep(0.1)
        killer = threading.Thread(target=kill_after_answers, args=(25,), daemon=True)
        killer.start()
        facts, rows = _run(_load(f"http://127.0.0.1:{port}", cred="slow20", schedule_s=4), tmp_path)
        killer.join()
    finally:
        stop_process(proc, 5)
    c = facts["counts"]
    assert facts["integrity"] == "ok" and c["slots"] == 80 == len(rows)
    assert c["ok"] > 10 and c["failed"] > 10 and c["ok"] + c["failed"] == c["sent"]
    classes = {r["error_class"] for r in rows if r["outcome"] == "failed"}
    assert classes and classes <= {"api_refused", "api_reset", "api_connection"}
    assert "api_refused" in classes
