#!/usr/bin/env python3
"""What reading each request on the event loop (sshapi/worker.py, issue 24) costs per
request: the same app under gunicorn's plain gthread worker and under sshapi's Worker, one
server each, requests alternated between them in one run (so both see the same machine
load), a fresh TCP connection per request and kept-alive ones. Reports medians and ratios.
No SSH is involved: `GET /credentials` is token check + one database read.

A benchmark, not a test: numbers depend on the machine and on what else runs on it.

    .venv/bin/python benchmarks/bench_http_read.py [-n 300]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from sshapi.testing import free_port, stop_process

WORKERS = {"gthread": "gthread", "sshapi": "sshapi.worker.Worker"}


def serve(worker_class: str, port: int, db: str, key_file: str) -> None:
    from sshapi.server import _Gunicorn
    from sshapi.settings import Settings

    settings = Settings(db_url=db, key_file=Path(key_file))
    options = {"bind": f"127.0.0.1:{port}", "workers": 1, "threads": 8, "keepalive": 5,
               "worker_class": worker_class, "loglevel": "warning",
               "control_socket_disable": True}  # fmt: skip
    _Gunicorn(settings, options).run()


def start(name: str, work: Path, db: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", WORKERS[name], str(port), db, str(work / "k.key")],
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/healthz", timeout=1).ok:
                return proc, url
        except requests.RequestException:
            time.sleep(0.1)
    stop_process(proc, timeout=10)
    raise RuntimeError(f"{name} server did not start")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", type=int, default=300, help="requests per server and mode")
    p.add_argument("--serve", nargs=4, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]), args.serve[2], args.serve[3])
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        work = Path(tmp)
        db = f"sqlite:///{work}/api.db"
        out = subprocess.run([sys.executable, "-m", "sshapi.cli", "add-user", "b", "--db", db],
                             capture_output=True, text=True, check=True)  # fmt: skip
        h = {"Authorization": f"Bearer {out.stdout.strip().splitlines()[-1]}"}
        servers = {name: start(name, work, db) for name in WORKERS}
        try:
            times: dict[tuple[str, str], list[float]] = {}
            sessions = {name: requests.Session() for name in WORKERS}
            for _ in range(args.n):
                for name, (_, url) in servers.items():
                    for mode in ("new", "keepalive"):
                        get = requests.get if mode == "new" else sessions[name].get
                        t0 = time.perf_counter()
                        r = get(f"{url}/credentials", headers=h, timeout=10)
                        times.setdefault((name, mode), []).append(time.perf_counter() - t0)
                        r.raise_for_status()
        finally:
            for proc, _ in servers.values():
                stop_process(proc, timeout=10)
    print(f"{'mode':10} {'gthread ms':>11} {'sshapi ms':>10} {'ratio':>6}  (medians, n={args.n})")
    for mode in ("new", "keepalive"):
        a = statistics.median(times[("gthread", mode)]) * 1000
        b = statistics.median(times[("sshapi", mode)]) * 1000
        print(f"{mode:10} {a:11.2f} {b:10.2f} {b / a:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
