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
from contextlib import contextmanager
from pathlib import Path

import requests

from sshapi import backends
from sshapi.keys import parse_host_key
from sshapi.settings import LIBRARIES, Settings
from sshapi.store import Target
from sshapi.testing import free_port, running_sshd

WARMUP = 3


def bare_call(backend, settings: Settings, target: Target) -> float:
    """Seconds for one connect+auth+exec+close, straight through the backend (no HTTP/DB)."""
    t0 = time.perf_counter()
    conn = backend.connect(target, settings)
    try:
        result = conn.exec("uptime", settings.command_timeout)
    finally:
        conn.close()
    dt = time.perf_counter() - t0
    if result.exit_status != 0:
        raise RuntimeError(f"{settings.library}: uptime exited {result.exit_status}")
    return dt


@contextmanager
def api_server(library: str, sshd, work: Path):
    """`sshapi serve` (per-request) with one user and one credential; stopped by PID."""
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
            except (requests.ConnectionError, requests.Timeout):  # not up yet, or slow to start
                if proc.poll() is not None or time.monotonic() > up_by:
                    raise RuntimeError(f"sshapi serve ({library}) did not start") from None
                time.sleep(0.1)
        http.post(f"{url}/credentials", json=sshd.credential("bench"), headers=h,
                  timeout=10).raise_for_status()  # fmt: skip

        def call() -> tuple[float, float]:
            """Seconds seen by the HTTP client, and the API's own elapsed_ms in seconds."""
            t0 = time.perf_counter()
            r = http.get(f"{url}/credentials/bench/uptime", headers=h, timeout=60)
            dt = time.perf_counter() - t0
            r.raise_for_status()
            return dt, r.json()["elapsed_ms"] / 1000

        yield call
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


def measure(library: str, sshd, target: Target, work: Path, n: int, deadline: float):
    """Bare and API calls alternate, so both see the same background load."""
    settings = Settings(library=library)
    backend = backends.load(library)
    bare, api, inner = [], [], []
    with api_server(library, sshd, work) as api_call:
        for i in range(n + WARMUP):
            if time.monotonic() > deadline:
                break
            b = bare_call(backend, settings, target)
            a, a_inner = api_call()
            if i >= WARMUP:
                bare.append(b)
                api.append(a)
                inner.append(a_inner)
    return bare, api, inner


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
                rows.append((lib, *measure(lib, sshd, target, work, args.n, deadline)))
    load = os.getloadavg()[0]
    print(f"sshd: OpenSSH on 127.0.0.1 (loopback), ed25519 keys; TCP_NODELAY as in /healthz; "
          f"load average {load:.2f} on {os.cpu_count()} cores")  # fmt: skip
    print("API: sshapi serve, per-request, 1 gunicorn gthread worker, sequential requests;")
    print("bare and API calls alternate (same background load); 3 warm-up calls each dropped")
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
