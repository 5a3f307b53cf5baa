"""Run Locust for one point (one process, or a master and N workers) and gather its facts.

The locustfile (sshbench/load/locustfile.py) paces the requests and writes one row per slot
(sshbench.load.records); this module starts and bounds the Locust processes, samples CPU
counters while they run (sshbench.load.resources), merges the per-process files into
`requests.csv` and returns the run's raw facts: the schedule, the counts and whether they
add up, the generator's users and its peak in-flight requests. Every metric (rates,
percentiles, utilisation, what ran out) is computed by the analysis, not here.
"""

from __future__ import annotations

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

from measure.point import PointFiles
from measure.rows import count_problems
from sshbench import paths
from sshbench.load import loadgen_remote, records
from sshbench.load.resources import HostMemory, HostReader, Sampler

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
    extra_env: dict[str, str] = field(default_factory=dict)
    # Load machines for the workers (inventory hosts; empty: workers on this machine) and
    # the inventory they are in.
    hosts: list[str] = field(default_factory=list)
    inventory: str = "local"
    # The transfer pattern: direction, bytes per transfer, the file downloaded and the
    # directory uploads go to (paths on the host).
    direction: str = "download"
    size_bytes: int = 0
    remote_file: str = ""
    remote_dir: str = ""

    def window(self, t0: float) -> list[float] | None:
        """The measured window [start, end) of a schedule that began at t0 (None: a burst)."""
        if self.pattern == "burst":
            return None
        return [round(t0 + self.warmup_s, 6), round(t0 + self.schedule_s, 6)]


def _locust_bin() -> str:
    exe = Path(sys.executable).with_name("locust")
    return str(exe) if exe.exists() else (shutil.which("locust") or "locust")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_time_cap(load: Load) -> float:
    """Upper bound of one Locust run: the schedule, the last request's timeout, a margin."""
    return load.schedule_s + load.timeout_s + 15


def _sb_options(load: Load) -> list[str]:
    """The locustfile's options of the point (every process has the same)."""
    return [
        f"--sb-cred={load.cred}",
        f"--sb-command={load.command}",
        f"--sb-ls-path={load.ls_path}",
        f"--sb-pattern={load.pattern}",
        f"--sb-rps={load.rps or 1}",
        f"--sb-duration={load.schedule_s}",
        f"--sb-processes={load.processes}",
        f"--sb-timeout={load.timeout_s}",
        *(
            [
                f"--sb-direction={load.direction}",
                f"--sb-size={load.size_bytes}",
                f"--sb-file={load.remote_file}",
                f"--sb-dir={load.remote_dir}",
            ]
            if load.pattern == "transfer"
            else []
        ),
    ]


def _commands(load: Load, out: Path, master: tuple[str, int] | None = None) -> list[list[str]]:
    """Locust command lines: [single], [master, worker, ...], or, when the workers run on
    load machines (``master`` is the address and port they reach), [master]."""
    sb = [*_sb_options(load), f"--sb-out={out}"]
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
    if load.processes == 1 and not load.hosts:
        return [[*base, *head, *sb]]
    host, port = master or ("127.0.0.1", _free_port())
    command = [
        *base,
        *head,
        "--master",
        f"--master-bind-host={host}",
        f"--master-bind-port={port}",
        f"--expect-workers={load.processes}",
        *sb,
    ]
    if load.hosts:
        return [command]
    worker = [*base, "--worker", f"--master-host={host}", f"--master-port={port}", *sb]
    return [command] + [list(worker) for _ in range(load.processes)]


def _wait_any(procs: list[subprocess.Popen], seconds: float) -> None:
    """Sleep `seconds`, or less once every process has exited (checked every 50 ms)."""
    until = time.monotonic() + seconds
    while any(p.poll() is None for p in procs) and time.monotonic() < until:
        time.sleep(min(0.05, max(0.0, until - time.monotonic())))


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def run(
    load: Load,
    out: Path,
    log,
    api_pid: int | None = None,
    host: str | None = None,
    host_reader: HostReader | None = None,
    host_cpus: float | None = None,
    host_memory: HostMemory | None = None,
) -> dict[str, Any]:
    """Run Locust for `load`, writing into `out`; return the run's facts (never raises on
    a Locust failure: the caller decides the point's status from `returncodes`)."""
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **load.extra_env, "SSHBENCH_API_TOKEN": load.token}
    env.pop("PYTHONWARNINGS", None)
    procs: list[subprocess.Popen] = []
    logs = []
    started = time.time()
    sampler: Sampler | None = None
    remote = loadgen_remote.placement(load.hosts, load.processes) if load.hosts else {}
    workers: list[dict[str, Any]] = []
    master = None
    try:
        if remote:
            port = _free_port()
            bind = loadgen_remote.start(
                load.inventory, remote, out.name, port, _sb_options(load), load.token
            )
            master = (bind, port)
            log(f"locust: workers on {', '.join(remote)}, master at {bind}:{port}")
        for i, cmd in enumerate(_commands(load, out, master)):
            files = PointFiles(out)
            name = files.locust_log if i == 0 else files.worker_log(i - 1)
            fh = open(name, "w")  # noqa: SIM115 - closed in finally
            logs.append(fh)
            procs.append(
                subprocess.Popen(
                    cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True
                )
            )
        sampler = Sampler(api_pid, [p.pid for p in procs], host, host_reader, host_memory)
        deadline = time.monotonic() + run_time_cap(load) + 30
        while any(p.poll() is None for p in procs):
            sampler.sample()
            if time.monotonic() > deadline:
                log(f"locust did not stop by itself within {run_time_cap(load) + 30:.0f} s")
                break
            _wait_any(procs, SAMPLE_S)  # a sample every SAMPLE_S; the end noticed within 50 ms
        sampler.sample()
    finally:
        _stop(procs)
        for fh in logs:
            fh.close()
        if remote:
            workers = loadgen_remote.stop(load.inventory, remote, out.name, out)
    if sampler and workers:
        for w in workers:
            sampler.add_remote(w["name"], loadgen_remote.cpu_series(out, w["name"]))
    pacing = merge_pacing(out)
    lost = [w for w in workers if w["pid"] not in pacing.get("pids", [])]
    rows = records.merge(out)
    return {
        "returncodes": [p.returncode for p in procs],
        "wall_s": round(time.time() - started, 3),
        "schedule": schedule_facts(load, pacing),
        "counts": (counts := count_facts(pacing, rows)),
        "integrity": integrity(load, pacing, rows, counts),
        "loadgen": {
            "users": load.users,
            "processes": load.processes,
            "processes_reported": pacing.get("processes_reported", 0),
            "max_in_flight": pacing.get("max_in_flight"),
            "workers": workers,
            "workers_lost": [w["name"] for w in lost],
        },
        "resources": sampler.record(SAMPLE_S, host_cpus) if sampler else None,
    }


def merge_pacing(out: Path) -> dict[str, Any]:
    """pacing-*.json of every process -> totals."""
    files = sorted(out.glob("pacing-*.json"))
    parts = [json.loads(p.read_text()) for p in files]
    for p in files:
        p.unlink()
    if not parts:
        return {"processes_reported": 0}
    return {
        "processes_reported": len(parts),
        "t0": min(p["t0"] for p in parts),
        "slots": sum(p["slots"] for p in parts),
        "sent": sum(p["sent"] for p in parts),
        "missed": sum(p["missed"] for p in parts),
        "unanswered": sum(p["unanswered"] for p in parts),
        "max_in_flight": sum(p["max_in_flight"] for p in parts),
        "pids": [p.get("pid") for p in parts],
    }


def schedule_facts(load: Load, pacing: dict[str, Any]) -> dict[str, Any]:
    t0 = pacing.get("t0")
    if load.pattern == "transfer":  # closed loop: as many slots as transfers started
        return {
            "pattern": "transfer",
            "t0": t0,
            "burst_size": None,
            "slots": pacing.get("slots"),
            "window": load.window(t0) if t0 is not None else None,
            "users": load.users,
            "streams": load.users,
            "direction": load.direction,
            "size_bytes": load.size_bytes,
            "processes": load.processes,
            "request_timeout_s": load.timeout_s,
        }
    return {
        "pattern": load.pattern,
        "t0": t0,
        "burst_size": load.burst_size,
        "slots": round((load.rps or 0) * load.schedule_s)
        if load.pattern != "burst"
        else load.burst_size,
        "window": load.window(t0) if t0 is not None else None,
        "users": load.users,
        "processes": load.processes,
        "request_timeout_s": load.timeout_s,
    }


def count_facts(pacing: dict[str, Any], rows: dict[str, int]) -> dict[str, int | None]:
    """The generator's own counters (slots, sent, missed) and the rows it wrote."""
    return {
        "slots": pacing.get("slots"),
        "sent": pacing.get("sent"),
        "missed": pacing.get("missed"),
        "ok": rows[records.OK],
        "failed": rows[records.FAILED],
        "missed_rows": rows[records.MISSED],
    }


def integrity(
    load: Load, pacing: dict[str, Any], rows: dict[str, int], counts: dict[str, Any]
) -> str:
    """ "ok" when the counts add up (slots = sent + missed, sent = ok + failed, a row per
    missed slot, every process reported), else "broken: <why>"."""
    why = []
    if pacing.get("processes_reported", 0) < load.processes:
        why.append(
            f"{pacing.get('processes_reported', 0)} of {load.processes} Locust processes reported"
        )
    else:
        planned = (
            round((load.rps or 0) * load.schedule_s) if load.pattern != "burst" else load.burst_size
        )
        if load.pattern == "transfer":  # a closed loop plans no count: one slot per transfer
            planned = counts["slots"]
        if counts["slots"] != planned:
            why.append(f"the schedule had {counts['slots']} slots, not {planned}")
        why += count_problems(counts)  # slots = sent + missed; sent = rows ok + failed
        if counts["missed"] != rows[records.MISSED]:
            why.append(f"{counts['missed']} missed slots but {rows[records.MISSED]} missed rows")
    return "ok" if not why else "broken: " + "; ".join(why)
