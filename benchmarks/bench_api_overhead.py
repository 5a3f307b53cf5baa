#!/usr/bin/env python3
"""What the API adds on top of SSH: for each library, the median of N bare
connect+auth+exec(uptime)+close against a local sshd, the median of the same through the
API (`sshapi serve` under gunicorn, per-request mode, sequential requests = low load), and
their ratio. Starts its own sshd and API servers and stops them (by PID) before exiting.

A benchmark, not a test: numbers depend on the machine and on what else runs on it.

    .venv/bin/python benchmarks/bench_api_overhead.py [-n 30] [--max-seconds 300]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from sshapi import backends
from sshapi.keys import parse_host_key
from sshapi.settings import LIBRARIES, Settings
from sshapi.store import Target
from sshapi.testing import free_port, running_sshd

WARMUP = 3


def bare_times(library: str, target: Target, n: int, deadline: float) -> list[float]:
    """Seconds per connect+auth+exec+close, straight through the backend (no HTTP/DB)."""
    settings = Settings(library=library)
    backend = backends.load(library)
    times = []
    for i in range(n + WARMUP):
        if time.monotonic() > deadline:
            break
        t0 = time.perf_counter()
        conn = backend.connect(target, settings)
        try:
            result = conn.exec("uptime", settings.command_timeout)
        finally:
            conn.close()
        dt = time.perf_counter() - t0
        if result.exit_status != 0:
            raise RuntimeError(f"{library}: uptime exited {result.exit_status}")
        if i >= WARMUP:
            times.append(dt)
    return times


def api_times(library: str, sshd, work: Path, n: int, deadline: float):
    """Seconds per GET /uptime seen by an HTTP client, and the API's own elapsed_ms."""
    db = f"sqlite:///{work}/{library}.db"
    cli = [sys.executable, "-m", "sshapi.cli"]
    out = subprocess.run([*cli, "add-user", "bench", "--db", db], capture_output=True,
                         text=True, check=True)  # fmt: skip
    token = out.stdout.strip().splitlines()[-1]
    port = free_port()
    proc = subprocess.Popen(
        [*cli, "serve", "--library", library, "--connections", "per-request", "--db", db,
         "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4",
         "--pidfile", str(work / f"{library}.pid"), "--log", str(work / f"{library}.log"),
         "--key-file", str(work / "k.key")],
        start_new_session=True,
    )  # fmt: skip
    url, h = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {token}"}
    try:
        http = requests.Session()
        up_by = time.monotonic() + 30
        while True:
            try:
                http.get(f"{url}/healthz", timeout=1).raise_for_status()
                break
            except requests.ConnectionError:
                if proc.poll() is not None or time.monotonic() > up_by:
                    raise RuntimeError(f"sshapi serve ({library}) did not start") from None
                time.sleep(0.1)
        http.post(f"{url}/credentials", json=sshd.credential("bench"), headers=h,
                  timeout=10).raise_for_status()  # fmt: skip
        times, inner = [], []
        for i in range(n + WARMUP):
            if time.monotonic() > deadline:
                break
            t0 = time.perf_counter()
            r = http.get(f"{url}/credentials/bench/uptime", headers=h, timeout=60)
            dt = time.perf_counter() - t0
            r.raise_for_status()
            if i >= WARMUP:
                times.append(dt)
                inner.append(r.json()["elapsed_ms"] / 1000)
        return times, inner
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", type=int, default=30, help="timed calls per library and path")
    p.add_argument("--max-seconds", type=float, default=300, help="stop early after this")
    p.add_argument("--libraries", nargs="+", choices=LIBRARIES, default=list(LIBRARIES))
    args = p.parse_args(argv)
    if not 1 <= args.n <= 1000:
        p.error(f"-n {args.n}: use 1-1000")
    deadline = time.monotonic() + args.max_seconds
    rows = []
    with tempfile.TemporaryDirectory(prefix="sshapi-bench-") as tmp:
        work = Path(tmp)
        with running_sshd(work / "sshd") as sshd:
            hk = parse_host_key(sshd.host_key)
            target = Target("bench", sshd.host, sshd.port, sshd.user,
                            sshd.private_key.encode(), f"{hk.key_type} {hk.base64}")  # fmt: skip
            for lib in args.libraries:
                bare = bare_times(lib, target, args.n, deadline)
                api, inner = api_times(lib, sshd, work, args.n, deadline)
                rows.append((lib, bare, api, inner))
    load = os.getloadavg()[0]
    print(f"sshd: OpenSSH on 127.0.0.1 (loopback), ed25519 keys; TCP_NODELAY as in /healthz; "
          f"load average {load:.2f} on {os.cpu_count()} cores")  # fmt: skip
    print("API: sshapi serve, per-request, 1 gunicorn gthread worker, sequential requests")
    head = (
        f"{'library':<10} {'n':>4} {'bare ms':>9} {'API ms':>9} {'ratio':>6} {'in-API ssh ms':>14}"
    )
    print(head)
    print("-" * len(head))
    for lib, bare, api, inner in rows:
        if not bare or not api:
            print(f"{lib:<10} stopped by --max-seconds before any timed call")
            continue
        b, a, i = (statistics.median(x) * 1000 for x in (bare, api, inner))
        print(
            f"{lib:<10} {min(len(bare), len(api)):>4} {b:>9.1f} {a:>9.1f} {a / b:>6.2f} {i:>14.1f}"
        )
    print("medians; bare = connect+auth+uptime+close through sshapi's backend, no HTTP/DB;")
    print("API = the same via GET /credentials/NAME/uptime; in-API = the API's elapsed_ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
