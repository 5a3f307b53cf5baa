"""Locust load for one sweep point: call the SSH API's `uptime` or `ls` on a schedule.

Run by sshbench.load.loadgen (headless, --csv, bounded by --run-time). Two patterns:

- sustained: an open-loop schedule (sshbench.load.schedule): slot k is due at t0 + k / rps;
  each user takes the next slot of its process, sleeps until it is due and sends. When
  every user is busy the slot goes out late, and its latency, measured from the due time,
  shows the wait (no coordinated omission). Slots never taken by the schedule's end are
  written as missed. In distributed mode the master picks t0 and tells every worker.
- burst: `burst_size` users all due at t0; each sends one request.
- transfer: one user per stream, closed loop from t0 for --sb-duration: a stream starts its
  next transfer the moment its last one ended (that moment is the row's intended time),
  a download (GET files?path=--sb-file, read streamed, never whole in memory) or an upload
  (PUT files?path=--sb-dir/up-<process>-<user> of --sb-size random bytes, one buffer per
  process; each stream overwrites its own file, the runner removes them after). A row's
  response_length is the bytes moved: the body read (download), or --sb-size once the API
  stored the upload (201); a download is ok only when every byte came.

Every slot is one row of `<out>/requests-<process>.csv` (sshbench.load.records), written here
in a `finally`, so a request is recorded whatever happens to it (a refused or reset
connection, a timeout, a body that is not JSON). Locust's own request event still fires,
for its CSV. Each process also writes `<out>/pacing-<process>.json` (its counters), and
quits by itself once its schedule is over and its last request has answered.

The API token comes from the environment (SSHBENCH_API_TOKEN), never from the command line.
This file imports no SSH library: ssh2-python does not mix with gevent.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import gevent
from gevent.event import Event
from locust import constant, events, task
from locust.contrib.fasthttp import FastHttpUser
from locust.exception import StopUser
from locust.runners import WORKER_REPORT_INTERVAL, MasterRunner, WorkerRunner
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

from sshbench.load import records
from sshbench.load.schedule import Schedule

START_LEAD_S = 0.5  # t0 is this far after every user is spawned (and t0 has reached workers)
# Locust rewrites its CSV files only every CSV_STATS_INTERVAL_SEC, not at exit: the quitting
# hook writes them once more from the final stats (_write_locust_csv), so a process quits as
# soon as its last request answered. A worker sends its last stats report itself, before
# `sb_done` (the same connection, so the master has it first). A lost worker cannot report:
# then the master waits a report interval for the others' reports before it quits.
MASTER_QUIT_DELAY_S = WORKER_REPORT_INTERVAL + 0.5
DRAIN_MARGIN_S = 5.0  # after the schedule: wait this long past the request timeout, at most
TRANSFER_CHUNK = 256 * 1024  # bytes read from a download's body at a time


@events.init_command_line_parser.add_listener
def _options(parser) -> None:
    g = parser.add_argument_group("sshbench point")
    g.add_argument("--sb-cred", default="taco", help="credential name in the API")
    g.add_argument("--sb-command", choices=["uptime", "ls", "files"], default="uptime")
    g.add_argument("--sb-ls-path", default="/")
    g.add_argument("--sb-pattern", choices=["sustained", "burst", "transfer"], default="sustained")
    g.add_argument("--sb-direction", choices=["download", "upload"], default="download")
    g.add_argument("--sb-size", type=int, default=0, help="transfer: bytes per transfer")
    g.add_argument("--sb-file", default="", help="transfer download: the file on the host")
    g.add_argument("--sb-dir", default="", help="transfer upload: the directory on the host")
    g.add_argument("--sb-rps", type=float, default=1.0, help="target RPS of all processes")
    g.add_argument("--sb-duration", type=float, default=10.0, help="schedule length, s")
    g.add_argument("--sb-processes", type=int, default=1, help="processes that run users")
    g.add_argument("--sb-timeout", type=float, default=60.0, help="request timeout, s")
    g.add_argument("--sb-out", default=".", help="directory for requests-*.csv, pacing-*.json")


class _State:
    """What the event hooks share within one Locust process (one gevent loop, no locks)."""

    def __init__(self) -> None:
        self.go = Event()  # t0 is known: users may take slots
        self.t0 = 0.0
        self.process = 0
        self.schedule: Schedule | None = None  # sustained only
        self.next_user = 0  # burst: the next user's row index
        self.pending = 0  # slots taken whose row is not written yet
        self.in_flight = 0
        self.max_in_flight = 0
        self.sent = 0
        self.writer: records.Writer | None = None
        self.workers_done = 0
        self.env = None  # the Locust environment (spawning_complete does not pass it)
        self.out = "."  # where this process writes its rows and counters
        self.transfer = False  # the transfer pattern: closed loop, one user per stream
        self.end = 0.0  # transfer: no transfer starts after this
        self.next_slot = 0  # transfer: the next row's slot index
        self.upload_body = b""  # transfer upload: the random bytes every upload sends


S = _State()


@events.init.add_listener
def _on_init(environment, **_kw) -> None:
    o = environment.parsed_options
    if o is None:
        return
    S.env = environment
    # This process's own --sb-out, kept now: a master sends its options to its workers, and a
    # worker on another machine must write where it was told to, not where the master does.
    S.out = o.sb_out
    # FastHttpUser reads its timeouts when a user's client is made: set them on the class
    # now, before any user exists (setting them in on_start has no effect).
    ApiUser.network_timeout = o.sb_timeout
    ApiUser.connection_timeout = o.sb_timeout
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        runner.register_message("sb_done", _on_worker_done)
    elif isinstance(runner, WorkerRunner):
        runner.register_message("sb_t0", lambda msg, **_: _start(environment, msg.data["t0"]))


@events.test_start.add_listener
def _on_test_start(environment, **_kw) -> None:
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        return
    o = environment.parsed_options
    S.process = runner.worker_index if isinstance(runner, WorkerRunner) else 0
    if o.sb_pattern == "sustained":
        S.schedule = Schedule(o.sb_rps, o.sb_duration, S.process, max(1, o.sb_processes))
    S.transfer = o.sb_pattern == "transfer"
    if S.transfer and o.sb_direction == "upload":
        S.upload_body = os.urandom(o.sb_size)
    S.writer = records.Writer(Path(S.out) / records.part_name(S.process))


@events.spawning_complete.add_listener
def _on_spawned(user_count: int, **_kw) -> None:
    env = S.env
    runner = env.runner
    if isinstance(runner, MasterRunner):
        t0 = time.time() + START_LEAD_S
        runner.send_message("sb_t0", {"t0": t0})
        gevent.spawn(_watch_workers, env)
    elif not isinstance(runner, WorkerRunner):
        _start(env, time.time() + START_LEAD_S)


def _start(environment, t0: float) -> None:
    """t0 is known (set here, or sent by the master): release the users."""
    if S.writer is None or S.go.is_set():
        return
    S.t0 = t0
    if S.schedule is not None:
        S.schedule.t0 = t0
    S.end = t0 + environment.parsed_options.sb_duration if S.transfer else t0
    S.go.set()
    gevent.spawn(_finisher, environment)


def _watch_workers(environment) -> None:
    """Master: a worker lost before it reported (killed, its machine gone) ends the run now,
    rather than at --run-time: its slots can never be sent, and Locust would hand its users
    to the others. The runner sees the missing rows (pacing) and names the worker."""
    runner = environment.runner
    expected = environment.parsed_options.sb_processes
    while True:
        gevent.sleep(1.0)
        if S.workers_done >= expected:
            return
        if runner.worker_count < expected - S.workers_done:
            logging.error(
                "sshbench: %d of %d Locust workers lost before the end of the point; stopping",
                expected - S.workers_done - runner.worker_count,
                expected,
            )
            gevent.spawn_later(MASTER_QUIT_DELAY_S, runner.quit)
            return


def _on_worker_done(environment, msg, **_kw) -> None:
    S.workers_done += 1
    if S.workers_done >= environment.parsed_options.sb_processes:
        gevent.spawn(environment.runner.quit)  # every worker's last report came before this


def _finisher(environment) -> None:
    """After the schedule: wait for the last answers, write the missed slots, then quit (or
    tell the master)."""
    o = environment.parsed_options
    runner = environment.runner
    users = runner.user_count
    end = S.schedule.end if S.schedule is not None else (S.end if S.transfer else S.t0)
    gevent.sleep(max(0.0, end - time.time()))
    if S.schedule is None and not S.transfer:  # burst: every user sends once, all due at t0
        while S.next_user < users and time.time() < end + 5:
            gevent.sleep(0.05)
    deadline = time.time() + o.sb_timeout + DRAIN_MARGIN_S
    while S.pending > 0 and time.time() < deadline:
        gevent.sleep(0.05)
    missed = S.schedule.missed() if S.schedule is not None else []
    for slot, due in missed:
        S.writer.write(records.row(slot, S.process, due, None, None, o.sb_command, records.MISSED))
    info = {
        "process": S.process,
        "pid": os.getpid(),
        "pattern": o.sb_pattern,
        "t0": S.t0,
        "users": users,
        "slots": S.schedule.slots
        if S.schedule is not None
        else (S.next_slot if S.transfer else users),
        "sent": S.sent,
        "missed": len(missed),
        "unanswered": S.pending,  # still waiting at the deadline: rows missing (integrity)
        "max_in_flight": S.max_in_flight,
        "rows": dict(S.writer.counts),
    }
    S.writer.close()
    Path(S.out, f"pacing-{S.process}.json").write_text(json.dumps(info, indent=1))
    if isinstance(runner, WorkerRunner):
        # The last stats report now, as Locust's own reporter sends it (the report_to_master
        # hooks fill it and reset what they sent), then sb_done behind it.
        data: dict = {}
        environment.events.report_to_master.fire(client_id=runner.client_id, data=data)
        runner.send_message("stats", data)
        runner.send_message("sb_done", {"process": S.process})
    else:
        gevent.spawn(runner.quit)


@events.quitting.add_listener
def _on_quit(environment, **_kw) -> None:
    if S.writer is not None:
        S.writer.close()
    _write_locust_csv(environment)


def _write_locust_csv(environment) -> None:
    """Locust's own CSV files (--csv PREFIX) from the final stats, through its public
    StatsCSV: its periodic writer may not have run since the last request. Locust's writer
    rewrites the same rows if it runs again, and it flushes each file after every pass."""
    prefix = getattr(environment.parsed_options, "csv_prefix", None)
    if not prefix or isinstance(environment.runner, WorkerRunner):
        return
    stats_csv = StatsCSV(environment, PERCENTILES_TO_REPORT)
    for suffix, write in (
        ("_stats.csv", stats_csv.requests_csv),
        ("_failures.csv", stats_csv.failures_csv),
        ("_exceptions.csv", stats_csv.exceptions_csv),
    ):
        with open(prefix + suffix, "w", newline="") as fh:
            write(csv.writer(fh))


class ApiUser(FastHttpUser):
    """One virtual client of the SSH API; it takes slots from its process's schedule."""

    wait_time = constant(0)

    def on_start(self) -> None:
        o = self.environment.parsed_options
        token = os.environ.get("SSHBENCH_API_TOKEN", "")
        self.headers = {"Authorization": f"Bearer {token}"}
        cred = quote(o.sb_cred, safe="")
        if o.sb_command == "uptime":
            self.path = f"/credentials/{cred}/uptime"
        else:
            self.path = f"/credentials/{cred}/ls?path={quote(o.sb_ls_path, safe='')}"
        self.req_name = o.sb_command
        if o.sb_pattern == "transfer":
            self.stream = S.next_user  # this process's stream index
            S.next_user += 1
            self.req_name = o.sb_direction
            if o.sb_direction == "download":
                self.path = f"/credentials/{cred}/files?path={quote(o.sb_file, safe='')}"
            else:
                target = f"{o.sb_dir}/up-{S.process}-{self.stream}"
                self.path = f"/credentials/{cred}/files?path={quote(target, safe='')}"
        self.free_at = 0.0  # transfer: when this stream's last transfer ended

    @task
    def paced(self) -> None:
        S.go.wait()
        if S.transfer:
            self._next_transfer()
            return
        if S.schedule is None:  # burst: one request per user, due at t0
            slot, due = S.next_user, S.t0
            S.next_user += 1
        else:
            taken = S.schedule.take(time.time())
            if taken is None:
                raise StopUser()
            slot, due = taken
        S.pending += 1
        delay = due - time.time()
        if delay > 0:
            gevent.sleep(delay)
        try:
            self._call(slot, due)
        finally:
            S.pending -= 1
        if S.schedule is None:
            raise StopUser()

    def _next_transfer(self) -> None:
        """Transfer: the next transfer of this stream, due when the last one ended."""
        due = max(self.free_at, S.t0)
        if due >= S.end:
            raise StopUser()
        slot = S.next_slot
        S.next_slot += 1
        S.pending += 1
        delay = due - time.time()
        if delay > 0:
            gevent.sleep(delay)
        try:
            self._transfer(slot, due)
        finally:
            S.pending -= 1
            self.free_at = time.time()

    def _transfer(self, slot: int, intended: float) -> None:
        """One download or upload and its row, whatever happens."""
        o = self.environment.parsed_options
        if o.sb_direction == "download":
            self._record(slot, intended, lambda: self._download(o.sb_size))
        else:
            self._record(slot, intended, self._upload)

    def _download(self, size: int) -> tuple[str, str, str, int]:
        with self.client.get(
            self.path,
            headers={**self.headers, "Accept-Encoding": "identity"},
            name=self.req_name,
            stream=True,
            catch_response=True,
        ) as resp:
            if resp.status_code != 200:
                outcome, cls, err = _judge(resp)
                resp.failure(f"{cls}: {err}")
                return outcome, cls, err, 0
            moved = 0
            for chunk in resp.iter_content(TRANSFER_CHUNK, decode_content=False):
                moved += len(chunk)
            if moved != size:
                resp.failure(f"short body: {moved} of {size} bytes")
                return records.FAILED, "short_body", f"{moved} of {size} bytes arrived", moved
            resp.success()
            return records.OK, "", "", moved

    def _upload(self) -> tuple[str, str, str, int]:
        body = S.upload_body
        with self.client.put(
            self.path, data=body, headers=self.headers, name=self.req_name, catch_response=True
        ) as resp:
            if resp.status_code == 201:
                answer = _json(resp)
                if isinstance(answer, dict) and answer.get("size") == len(body):
                    resp.success()
                    return records.OK, "", "", len(body)
                resp.failure("stored size differs")
                return records.FAILED, "bad_response", f"201 but stored {answer!r:.100}", 0
            outcome, cls, err = _judge(resp)
            resp.failure(f"{cls}: {err}")
            return outcome, cls, err, 0

    def _call(self, slot: int, intended: float) -> None:
        """Send one request and write its row, whatever happens."""
        self._record(slot, intended, self._get)

    def _get(self) -> tuple[str, str, str, int]:
        with self.client.get(
            self.path, headers=self.headers, name=self.req_name, catch_response=True
        ) as resp:
            outcome, cls, err = _judge(resp)
            length = len(resp.content or b"") if resp.status_code else 0
            if outcome == records.OK:
                resp.success()
            else:
                resp.failure(f"{cls}: {err}")
            return outcome, cls, err, length

    def _record(
        self, slot: int, intended: float, send: Callable[[], tuple[str, str, str, int]]
    ) -> None:
        """Send through `send` (outcome, error class, error, bytes of the answer) and write
        the slot's row, whatever happens: an exception that escapes is a failed row."""
        S.in_flight += 1
        S.max_in_flight = max(S.max_in_flight, S.in_flight)
        S.sent += 1
        sent = time.time()
        outcome, cls, err, length = records.FAILED, "api_connection", "no answer", 0
        try:
            outcome, cls, err, length = send()
        except Exception as e:  # a row for anything that escapes
            outcome, cls, err = records.FAILED, records.connection_class(e), repr(e)
        finally:
            answered = time.time()
            S.in_flight -= 1
            if outcome == records.OK:
                cls = err = ""
            row = [slot, S.process, intended, sent, answered, self.req_name, outcome, cls, err]
            S.writer.write(records.row(*row, response_length=length))


def _judge(resp) -> tuple[str, str, str]:
    """(outcome, error_class, error text) of one answer, never raising."""
    if not resp.status_code:  # no HTTP answer: refused, reset or timed out
        exc = getattr(resp, "error", None)
        if exc is None:
            return records.FAILED, "api_connection", "no HTTP answer"
        return records.FAILED, records.connection_class(exc), repr(exc)
    body = _json(resp)
    if resp.status_code != 200:
        code = body.get("error") if isinstance(body, dict) else None
        message = body.get("message", "") if isinstance(body, dict) else ""
        text = f"HTTP {resp.status_code} {code or ''} {message}".strip()
        return records.FAILED, records.http_class(resp.status_code, code), text
    if not isinstance(body, dict):
        return records.FAILED, "bad_response", "HTTP 200 with a body that is not a JSON object"
    if body.get("exit_status") != 0:
        return records.FAILED, "nonzero_exit", f"exit_status {body.get('exit_status')}"
    return records.OK, "", ""


def _json(resp) -> object:
    try:
        return json.loads(resp.content or b"")
    except (ValueError, TypeError):
        return None
