"""Run Locust for one point (one process, or a master and N workers) and summarise it.

The locustfile (experiments/locustfile.py) paces the requests and writes one CSV row per
request; this module starts and bounds the Locust processes, measures their CPU with
psutil, merges the per-process files into `requests.csv` and computes the point's summary:
target and achieved RPS, percentiles, failures, lateness and whether the load generator
itself was the limit.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from sshbench import paths

REQUEST_FIELDS = ["t_start", "name", "response_time_ms", "response_length", "success", "error"]
SAMPLE_S = 0.5


@dataclass
class Load:
    """What to send: one point's load, as the locustfile needs it."""

    url: str
    token: str
    cred: str
    command: str
    pattern: str
    rps: float | None
    burst_size: int | None
    schedule_s: float  # warm-up + measured window (sustained); 0 for a burst
    warmup_s: float
    users: int
    processes: int = 1
    ls_path: str = "/"
    timeout_s: float = 60.0
    late_ms: float = 100.0
    limited_cpu_percent: float = 90.0
    limited_late_fraction: float = 0.05
    extra_env: dict[str, str] = field(default_factory=dict)


def _locust_bin() -> str:
    exe = Path(sys.executable).with_name("locust")
    return str(exe) if exe.exists() else (shutil.which("locust") or "locust")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_time_cap(load: Load) -> float:
    """Upper bound of one Locust run: the schedule, the last request's timeout, a margin."""
    return load.schedule_s + load.timeout_s + 10


def _commands(load: Load, out: Path) -> list[list[str]]:
    """Locust command lines: [single] or [master, worker, ...]."""
    sb = [
        f"--sb-cred={load.cred}",
        f"--sb-command={load.command}",
        f"--sb-ls-path={load.ls_path}",
        f"--sb-pattern={load.pattern}",
        f"--sb-rps={load.rps or 1}",
        f"--sb-duration={load.schedule_s}",
        f"--sb-processes={load.processes}",
        f"--sb-timeout={load.timeout_s}",
        f"--sb-late-ms={load.late_ms}",
        f"--sb-out={out}",
    ]
    base = [_locust_bin(), "-f", str(paths.LOCUSTFILE)]
    head = [
        "--headless",
        "--host",
        load.url,
        "-u",
        str(load.users),
        "-r",
        str(load.users),
        "--run-time",
        f"{run_time_cap(load):.0f}s",
        "--stop-timeout",
        "5",
        "--csv",
        str(out / "locust"),
        "--csv-full-history",
        "--only-summary",
        "--loglevel",
        "INFO",
    ]
    if load.processes == 1:
        return [[*base, *head, *sb]]
    port = _free_port()
    master = [
        *base,
        *head,
        "--master",
        "--master-bind-host=127.0.0.1",
        f"--master-bind-port={port}",
        f"--expect-workers={load.processes}",
        *sb,
    ]
    worker = [*base, "--worker", "--master-host=127.0.0.1", f"--master-port={port}"]
    return [master] + [list(worker) for _ in range(load.processes)]


class _CpuMeter:
    """CPU seconds of a set of processes (and their children), sampled while they run."""

    def __init__(self, pids: list[int]) -> None:
        self.procs = {pid: psutil.Process(pid) for pid in pids}
        self.last: dict[int, float] = {}
        self.first: dict[int, float] = {}
        self.busiest = 0.0  # highest per-process CPU % (of one core) over a 2 s window
        self._window: dict[int, tuple[float, float]] = {}

    def sample(self) -> None:
        now = time.monotonic()
        for pid, proc in list(self.procs.items()):
            try:
                t = proc.cpu_times()
                used = t.user + t.system
            except psutil.Error:
                continue
            self.first.setdefault(pid, used)
            self.last[pid] = used
            t0, u0 = self._window.setdefault(pid, (now, used))
            if now - t0 >= 2.0:
                self.busiest = max(self.busiest, 100 * (used - u0) / (now - t0))
                self._window[pid] = (now, used)

    def cpu_seconds(self) -> float:
        return sum(self.last[p] - self.first[p] for p in self.last)


def run(load: Load, out: Path, log) -> dict[str, Any]:
    """Run Locust for `load`, writing into `out`; return the run's facts (never raises on
    a Locust failure: the caller decides the point's status from `returncodes`)."""
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **load.extra_env, "SSHBENCH_API_TOKEN": load.token}
    env.pop("PYTHONWARNINGS", None)
    cmds = _commands(load, out)
    procs: list[subprocess.Popen] = []
    logs = []
    started = time.time()
    psutil.cpu_percent(interval=None)
    try:
        for i, cmd in enumerate(cmds):
            name = "locust.log" if i == 0 else f"locust-worker-{i - 1}.log"
            fh = open(out / name, "w")  # noqa: SIM115 - closed in finally
            logs.append(fh)
            procs.append(
                subprocess.Popen(
                    cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True
                )
            )
        meter = _CpuMeter([p.pid for p in procs])
        deadline = time.monotonic() + run_time_cap(load) + 30
        while any(p.poll() is None for p in procs):
            meter.sample()
            if time.monotonic() > deadline:
                log(f"locust did not stop by itself within {run_time_cap(load) + 30:.0f} s")
                break
            time.sleep(SAMPLE_S)
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
        for fh in logs:
            fh.close()
    wall = time.time() - started
    machine_cpu = psutil.cpu_percent(interval=None)
    n_rows = merge_requests(out)
    pacing = merge_pacing(out)
    cpu_pct = 100 * meter.cpu_seconds() / wall if wall > 0 else 0.0
    return {
        "returncodes": [p.returncode for p in procs],
        "wall_s": round(wall, 3),
        "rows": n_rows,
        "pacing": pacing,
        "cpu_percent": round(cpu_pct, 1),
        "busiest_process_cpu_percent": round(meter.busiest, 1),
        "machine_cpu_percent": machine_cpu,
    }


def merge_requests(out: Path) -> int:
    """requests-*.csv of every Locust process -> one requests.csv sorted by t_start."""
    rows: list[list[str]] = []
    parts = sorted(out.glob("requests-*.csv"))
    for part in parts:
        with open(part, newline="") as fh:
            reader = csv.reader(fh)
            next(reader, None)
            rows.extend(r for r in reader if len(r) == len(REQUEST_FIELDS))
    rows.sort(key=lambda r: float(r[0]))
    tmp = out / "requests.csv.tmp"
    with open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(REQUEST_FIELDS)
        w.writerows(rows)
    tmp.replace(out / "requests.csv")
    for part in parts:
        part.unlink()
    return len(rows)


def merge_pacing(out: Path) -> dict[str, Any]:
    """pacing-*.json of every process -> totals (slots, late slots, worst lateness)."""
    parts = [json.loads(p.read_text()) for p in sorted(out.glob("pacing-*.json"))]
    for p in out.glob("pacing-*.json"):
        p.unlink()
    if not parts:
        return {"processes_reported": 0}
    slots = [p["slots"] for p in parts if p["slots"] is not None]
    lat99 = [p["lateness_ms"]["p99"] for p in parts if p["lateness_ms"]["p99"] is not None]
    latmax = [p["lateness_ms"]["max"] for p in parts if p["lateness_ms"]["max"] is not None]
    return {
        "processes_reported": len(parts),
        "t0": min(p["t0"] for p in parts),
        "slots": sum(slots) if slots else None,
        "sent": sum(p["sent"] for p in parts),
        "late_slots": sum(p["late_slots"] for p in parts),
        "late_threshold_ms": parts[0]["late_threshold_ms"],
        "late_p99_ms": max(lat99) if lat99 else None,
        "late_max_ms": round(max(latmax), 3) if latmax else None,
        "max_in_flight": sum(p["max_in_flight"] for p in parts),
    }


def read_requests(path: Path) -> list[dict[str, Any]]:
    with open(path, newline="") as fh:
        return [
            {
                "t_start": float(r["t_start"]),
                "name": r["name"],
                "response_time_ms": float(r["response_time_ms"]),
                "success": r["success"] == "1",
                "error": r["error"],
            }
            for r in csv.DictReader(fh)
        ]


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(-(-q * len(s) // 100)) - 1))
    return s[k]


def summarise(load: Load, facts: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The point's numbers: measured window only (the warm-up is dropped)."""
    pacing = facts["pacing"]
    if load.pattern == "sustained":
        t0 = pacing.get("t0") or (rows[0]["t_start"] if rows else 0.0)
        lo, hi = t0 + load.warmup_s, t0 + load.schedule_s
        window = [r for r in rows if lo <= r["t_start"] < hi]
        span = hi - lo
        achieved = round(len(window) / span, 3) if span > 0 else None
        ends = [r["t_start"] + r["response_time_ms"] / 1000 for r in rows if r["success"]]
        throughput = round(sum(lo <= e < hi for e in ends) / span, 3) if span > 0 else None
        target = load.rps
    else:
        window, achieved, target, throughput = rows, None, None, None
    times = [r["response_time_ms"] for r in window]
    slots = pacing.get("slots") or 0
    late_fraction = (pacing.get("late_slots", 0) / slots) if slots else 0.0
    unsent = slots - pacing.get("sent", 0) if slots else 0
    cpu_limited = facts["busiest_process_cpu_percent"] >= load.limited_cpu_percent
    # one or two late slots in a short point are scheduler noise, not a limit
    late_limited = (
        late_fraction > load.limited_late_fraction and pacing.get("late_slots", 0) >= 3
    ) or unsent > 0
    return {
        "target_rps": target,
        "achieved_rps": achieved,  # requests sent per second in the measured window
        "throughput_rps": throughput,  # successful responses per second in that window
        "requests": len(window),
        "failures": sum(1 for r in window if not r["success"]),
        "p50_ms": percentile(times, 50),
        "p99_ms": percentile(times, 99),
        "loadgen": {
            "users": load.users,
            "processes": load.processes,
            "cpu_percent": facts["cpu_percent"],
            "busiest_process_cpu_percent": facts["busiest_process_cpu_percent"],
            "machine_cpu_percent": facts["machine_cpu_percent"],
            "limited": bool(cpu_limited or late_limited),
            "limited_by": [
                x for x, on in (("cpu", cpu_limited), ("late_slots", late_limited)) if on
            ],
            "t0": pacing.get("t0"),  # the schedule's start (unix s): slot k is due at t0 + k/rps
            "slots": pacing.get("slots"),
            "sent": pacing.get("sent"),
            "late_slots": pacing.get("late_slots"),
            "late_threshold_ms": pacing.get("late_threshold_ms"),
            "late_p99_ms": pacing.get("late_p99_ms"),
            "late_max_ms": pacing.get("late_max_ms"),
            "max_in_flight": pacing.get("max_in_flight"),
            # every user was waiting for a response at some moment: the system under test was
            # slower than users / rps seconds, and later slots could only go out late
            "users_exhausted": (pacing.get("max_in_flight") or 0) >= load.users,
            "wall_s": facts["wall_s"],
            "returncodes": facts["returncodes"],
        },
    }
