"""Locust load for one sweep point: call the SSH API's `uptime` or `ls` at a paced rate.

Run by sshbench.point (headless, --csv, --csv-full-history, bounded by --run-time).
Two patterns:

- sustained: an open-loop global schedule. Slot k is due at t0 + k / rps; each user takes
  the next free slot, sleeps until it is due and sends one request. With enough users a
  slow response never delays the next slot; when every user is busy the slot goes out late
  and the lateness is recorded. In distributed mode worker i of N takes slots i, i+N, ...
- burst: `burst_size` users wait on one event, released at once; each sends one request.

Every request is appended to `<out>/requests-<process>.csv` (t_start, name,
response_time_ms, response_length, success, error) by the request event hook, and each
process writes `<out>/pacing-<process>.json`. The process quits by itself when its schedule
is done and its last request has answered.

The API token comes from the environment (SSHBENCH_API_TOKEN), never from the command line.
This file imports no SSH library: ssh2-python does not mix with gevent.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from pathlib import Path
from urllib.parse import quote

import gevent
from gevent.event import Event
from locust import constant, events, task
from locust.contrib.fasthttp import FastHttpUser
from locust.exception import StopUser
from locust.runners import WORKER_REPORT_INTERVAL, MasterRunner, WorkerRunner
from locust.stats import CSV_STATS_INTERVAL_SEC

START_LEAD_S = 0.2  # t0 is this far after all users are spawned, so slot 0 is not late
# Locust rewrites its CSV files every CSV_STATS_INTERVAL_SEC and not at exit, and workers
# report to the master every WORKER_REPORT_INTERVAL: quit only after both had a last turn,
# or the last requests are missing from locust_stats.csv.
QUIT_DELAY_S = CSV_STATS_INTERVAL_SEC + 0.5
MASTER_QUIT_DELAY_S = WORKER_REPORT_INTERVAL + CSV_STATS_INTERVAL_SEC + 0.5


@events.init_command_line_parser.add_listener
def _options(parser) -> None:
    g = parser.add_argument_group("sshbench point")
    g.add_argument("--sb-cred", default="taco", help="credential name in the API")
    g.add_argument("--sb-command", choices=["uptime", "ls"], default="uptime")
    g.add_argument("--sb-ls-path", default="/")
    g.add_argument("--sb-pattern", choices=["sustained", "burst"], default="sustained")
    g.add_argument("--sb-rps", type=float, default=1.0, help="target RPS of all processes")
    g.add_argument("--sb-duration", type=float, default=10.0, help="schedule length, s")
    g.add_argument("--sb-processes", type=int, default=1, help="processes that run users")
    g.add_argument("--sb-timeout", type=float, default=60.0, help="request timeout, s")
    g.add_argument("--sb-late-ms", type=float, default=100.0)
    g.add_argument("--sb-out", default=".", help="directory for requests-*.csv, pacing-*.json")


class _State:
    """Per-process pacing state (one Locust process = one gevent loop, no locks needed)."""

    def __init__(self) -> None:
        self.go = Event()
        self.t0 = 0.0
        self.end = 0.0
        self.index = 0
        self.procs = 1
        self.rps = 1.0
        self.slots = 0  # slots this process owns
        self.next = 0  # next local slot
        self.lateness: list[float] = []
        self.pending = 0  # slots taken whose request has not answered yet
        self.in_flight = 0
        self.users = 0
        self.finished = 0
        self.max_in_flight = 0
        self.sent = 0
        self.done = Event()
        self.writer = None
        self.file = None
        self.workers_done = 0
        self.env = None


S = _State()


def _opts(environment):
    return environment.parsed_options


@events.test_start.add_listener
def _on_test_start(environment, **_kw) -> None:
    o = _opts(environment)
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        runner.register_message("sb_done", _on_worker_done)
        return
    S.env = environment
    S.index = runner.worker_index if isinstance(runner, WorkerRunner) else 0
    S.procs = max(1, o.sb_processes)
    S.rps = o.sb_rps
    if o.sb_pattern == "sustained":
        total = round(o.sb_rps * o.sb_duration)
        S.slots = max(0, math.ceil((total - S.index) / S.procs))
    out = Path(o.sb_out)
    out.mkdir(parents=True, exist_ok=True)
    S.file = open(out / f"requests-{S.index}.csv", "w", newline="", buffering=1)  # noqa: SIM115
    S.writer = csv.writer(S.file)
    S.writer.writerow(
        ["t_start", "name", "response_time_ms", "response_length", "success", "error"]
    )
    gevent.spawn(_finisher, environment)


@events.spawning_complete.add_listener
def _on_spawned(user_count: int, **_kw) -> None:
    S.t0 = time.time() + START_LEAD_S
    if S.env is not None:  # a process that runs users (not the master)
        S.end = S.t0 + S.env.parsed_options.sb_duration
        S.users = S.env.runner.user_count  # this process's users (not the total)
        if S.users == 0:  # more worker processes than users: nothing to do here
            S.done.set()
    S.go.set()


def _on_worker_done(environment, msg, **_kw) -> None:
    S.workers_done += 1
    if S.workers_done >= environment.parsed_options.sb_processes:
        gevent.spawn_later(MASTER_QUIT_DELAY_S, environment.runner.quit)


def _finisher(environment) -> None:
    """Quit (or tell the master) once this process's requests are all answered."""
    S.done.wait()
    while S.pending > 0:
        gevent.sleep(0.05)
    _write_pacing(environment)
    if isinstance(environment.runner, WorkerRunner):
        environment.runner.send_message("sb_done", {"index": S.index})
    else:
        gevent.spawn_later(QUIT_DELAY_S, environment.runner.quit)


def _write_pacing(environment) -> None:
    o = _opts(environment)
    late = sorted(S.lateness)

    def pct(q: float) -> float | None:
        return round(late[min(len(late) - 1, int(q * len(late)))], 3) if late else None

    info = {
        "process": S.index,
        "pattern": o.sb_pattern,
        "slots": S.slots if o.sb_pattern == "sustained" else None,
        "sent": S.sent,
        "t0": S.t0,
        "late_threshold_ms": o.sb_late_ms,
        "late_slots": sum(1 for x in late if x > o.sb_late_ms),
        "lateness_ms": {"p50": pct(0.5), "p99": pct(0.99), "max": late[-1] if late else None},
        "max_in_flight": S.max_in_flight,
    }
    Path(o.sb_out, f"pacing-{S.index}.json").write_text(json.dumps(info, indent=1))


@events.request.add_listener
def _on_request(
    request_type, name, response_time, response_length, exception, start_time=None, **_kw
) -> None:
    if S.writer is None:
        return
    error = "" if exception is None else " ".join(str(exception).split())[:300]
    S.writer.writerow(
        [
            f"{start_time:.6f}" if start_time else f"{time.time() - response_time / 1000:.6f}",
            name,
            f"{response_time:.3f}",
            response_length or 0,
            0 if exception else 1,
            error,
        ]
    )


@events.quitting.add_listener
def _on_quit(environment, **_kw) -> None:
    if S.file is not None and not S.file.closed:
        S.file.flush()
        S.file.close()


class ApiUser(FastHttpUser):
    """One virtual client of the SSH API; it takes slots from the shared schedule."""

    wait_time = constant(0)

    def on_start(self) -> None:
        o = _opts(self.environment)
        self.network_timeout = o.sb_timeout
        self.connection_timeout = o.sb_timeout
        token = os.environ.get("SSHBENCH_API_TOKEN", "")
        self.headers = {"Authorization": f"Bearer {token}"}
        cred = quote(o.sb_cred, safe="")
        if o.sb_command == "uptime":
            self.path = f"/credentials/{cred}/uptime"
        else:
            self.path = f"/credentials/{cred}/ls?path={quote(o.sb_ls_path, safe='')}"
        self.req_name = o.sb_command
        self.burst = o.sb_pattern == "burst"

    @task
    def paced(self) -> None:
        S.go.wait()
        if self.burst:
            S.pending += 1
            self._call()
            S.finished += 1
            if S.finished >= S.users:
                S.done.set()
            raise StopUser()
        if S.next >= S.slots or time.time() >= S.end:
            # the schedule is bounded in count and in time: slots still unsent at its end
            # are missed (pacing's `sent` < `slots`), never sent after it
            S.done.set()
            raise StopUser()
        k = S.next
        S.next += 1
        S.pending += 1
        due = S.t0 + (S.index + k * S.procs) / S.rps
        delay = due - time.time()
        if delay > 0:
            gevent.sleep(delay)
        S.lateness.append(max(0.0, (time.time() - due) * 1000))
        self._call()

    def _call(self) -> None:
        S.in_flight += 1
        S.max_in_flight = max(S.max_in_flight, S.in_flight)
        S.sent += 1
        try:
            with self.client.get(
                self.path, headers=self.headers, name=self.req_name, catch_response=True
            ) as resp:
                if resp.status_code != 200:
                    resp.failure(f"HTTP {resp.status_code} {_error_code(resp)}".strip())
                    return
                try:
                    body = resp.json()
                except ValueError:
                    resp.failure("HTTP 200 with a body that is not JSON")
                    return
                if body.get("exit_status") != 0:
                    resp.failure(f"exit_status {body.get('exit_status')}")
                else:
                    resp.success()
        finally:
            S.in_flight -= 1
            S.pending -= 1


def _error_code(resp) -> str:
    try:
        return str(resp.json().get("error", ""))
    except (ValueError, AttributeError):
        return ""
