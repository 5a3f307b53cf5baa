"""The SSH libraries side by side, against one sshd, in one run: every Python backend of the
API and Java's JSch (Debian's libjsch-java; much of the Tapis platform is Java).

For each client, per mode and thread count K:
- `connect`: connect + authenticate + `uptime` + close, a new connection per call (the
  study's design);
- `reused`: `uptime` over one authenticated session per thread (the API's pooled mode);
median and p99 latency per call, the client's CPU ms per call (this process's CPU, all
threads, plus reaped children for `ssh`; the JVM's process CPU for JSch, timed part only), and
calls/s (calls / wall time of the K threads). Each Python client is the API's own backend
module called directly (no HTTP, no Flask): the library plus the API's thin guard code (host
key pin, deadline alarm, output cap). The key exchange each client negotiated is printed.

Authentication alone (`auth`): sequential logins through each backend, timed from the end of
the key exchange and host-key check to the end of public-key authentication (the backend's
`auth_span`, as the sweep's auth points time it, sshbench/authtime.py; JSch: from its log,
the server's NEWKEYS to "Authentication succeeded"). This is the timing parallel-ssh's published
"ssh2-python authenticates ~1.7x faster than Paramiko" speaks of; the `ssh` client's is not
separable and is left out.

    .venv/bin/python benchmarks/bench_libraries.py                 # 30 calls per thread, K 1 and 4
    .venv/bin/python benchmarks/bench_libraries.py --calls 5 --threads 1 --clients jsch

Needs root (a local test user and sshd, as the tests do). The JSch client is
`benchmarks/JschBench.java`, run with the JRE's single-file source launcher (`java File.java`),
nothing fetched at run time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sshapi import backends
from sshapi.keys import parse_host_key
from sshapi.settings import LIBRARIES, Settings
from sshapi.store import Target
from sshapi.testing import Sshd, running_sshd
from sshbench import authtime, resources, sweep

JSCH_JAR = Path("/usr/share/java/jsch.jar")
JAVA_SOURCE = Path(__file__).resolve().parent / "JschBench.java"
CLIENTS = (*LIBRARIES, "jsch")
MODES = ("connect", "reused")
AUTH_LIBRARIES = (*sweep.AUTH_LIBRARIES, "jsch")
JAVA_TIMEOUT_S = 300


def java_missing() -> str | None:
    """Why the JSch client cannot run here, or None."""
    if shutil.which("java") is None:
        return (
            "no `java` on PATH: apt-get install default-jre-headless "
            "(scripts/setup-system.sh --test)"
        )
    if not JSCH_JAR.exists():
        return f"{JSCH_JAR} missing: apt-get install libjsch-java (scripts/setup-system.sh --test)"
    return None


def _target(sshd: Sshd) -> Target:
    hk = parse_host_key(sshd.host_key)
    return Target("bench", sshd.host, sshd.port, sshd.user, sshd.private_key.encode(),
                  f"{hk.key_type} {hk.base64}")  # fmt: skip


def _summary(client: str, mode: str, threads: int, lat_ms: list[float], cpu_ms: float,
             wall_s: float, failures: int, kex: str | None, version: str) -> dict:  # fmt: skip
    n = len(lat_ms)
    return {
        "client": client,
        "version": version,
        "mode": mode,
        "threads": threads,
        "calls": n,
        "failures": failures,
        "p50_ms": float(np.percentile(lat_ms, 50)) if n else float("nan"),
        "p99_ms": float(np.percentile(lat_ms, 99)) if n else float("nan"),
        "cpu_ms_per_call": cpu_ms / n if n else float("nan"),
        "calls_per_s": n / wall_s if wall_s > 0 else float("nan"),
        "kex": kex,
    }


def _version(client: str) -> str:
    from importlib.metadata import version

    if client == "openssh":
        out = subprocess.run(["ssh", "-V"], capture_output=True, text=True)
        return (out.stderr or out.stdout).strip().split(",")[0]
    return version({"ssh2": "ssh2-python"}.get(client, client))


def run_python(client: str, mode: str, threads: int, calls: int, sshd: Sshd) -> dict:
    """K threads, `calls` calls each, through the API's backend for this library."""
    backend = backends.load(client)
    settings = Settings(
        library=client, connections="per-request" if mode == "connect" else "pooled"
    )
    target = _target(sshd)
    conn = backend.connect(target, settings)  # warm-up: imports, first key load, loop start
    conn.exec("uptime", 10)
    conn.close()
    kex = backend.kex_info()["last_negotiated"]
    lat: list[float] = []
    failures = [0]
    lock = threading.Lock()
    ready = threading.Barrier(threads + 1)
    go = threading.Event()

    def worker() -> None:
        held = None
        try:
            if mode == "reused":
                held = backend.connect(target, settings)
        finally:
            ready.wait()
        go.wait()
        for _ in range(calls):
            t0 = time.perf_counter()
            try:
                if held is not None:
                    held.exec("uptime", 10)
                else:
                    c = backend.connect(target, settings)
                    try:
                        c.exec("uptime", 10)
                    finally:
                        c.close()
                    c = None
            except Exception:
                with lock:
                    failures[0] += 1
                continue
            with lock:
                lat.append((time.perf_counter() - t0) * 1000)
        if held is not None:
            held.close()

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    ready.wait()
    cpu0, wall0 = resources.self_cpu_seconds(), time.perf_counter()
    go.set()
    for t in pool:
        t.join(timeout=600)
    wall = time.perf_counter() - wall0
    cpu_ms = (resources.self_cpu_seconds() - cpu0) * 1000
    return _summary(client, mode, threads, lat, cpu_ms, wall, failures[0], kex, _version(client))


def _jsch_files(sshd: Sshd, work: Path) -> tuple[Path, Path]:
    key = work / "jsch_ecdsa"
    key.write_text(sshd.ecdsa_private_key)
    key.chmod(0o600)
    kind, b64 = sshd.ecdsa_host_key.split()[1:3]
    known = work / "known_hosts"
    known.write_text(f"[{sshd.host}]:{sshd.port} {kind} {b64}\n")
    return key, known


def run_jsch(mode: str, threads: int, calls: int, sshd: Sshd, work: Path) -> dict:
    """The Java client, one JVM per (mode, K); its own JSON line parsed."""
    key, known = _jsch_files(sshd, work)
    argv = [
        "java", "-cp", str(JSCH_JAR), str(JAVA_SOURCE), sshd.host, str(sshd.port), sshd.user,
        str(key), str(known), mode, str(calls), str(threads),
    ]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, timeout=JAVA_TIMEOUT_S)
    if out.returncode != 0:
        raise RuntimeError(f"JschBench exited {out.returncode}: {out.stderr.strip()[-1500:]}")
    raw = json.loads(out.stdout.strip().splitlines()[-1])
    s = _summary("jsch", mode, threads, raw["latencies_ms"], raw["cpu_ms"], raw["wall_s"],
                 raw["failures"], raw["kex"], f"jsch {raw['version']}")  # fmt: skip
    s["auth_ms"] = raw["auth_ms"]
    s["first_error"] = raw["first_error"]
    return s


# ----------------------------------------------------------------- bare authentication


def auth_times(library: str, sshd: Sshd, n: int, work: Path) -> list[float]:
    """ms of public-key authentication, n sequential logins (one warm-up first)."""
    if library == "jsch":
        return run_jsch("connect", 1, n, sshd, work)["auth_ms"]
    target, settings = _target(sshd), Settings(library=library)
    authtime.login(library, target, settings)
    spans = [authtime.login(library, target, settings) for _ in range(n)]
    return [(t1 - t0) * 1000 for t0, t1 in spans]


# ----------------------------------------------------------------- the run


def _fmt(v: float | None, spec: str = ".1f") -> str:
    return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else format(v, spec)


def table(rows: list[dict]) -> str:
    head = (f"{'client':<11} {'mode':<8} {'K':>2} {'calls':>5} {'fail':>4} {'p50 ms':>7} "
            f"{'p99 ms':>7} {'cpu ms':>7} {'calls/s':>8}  kex")  # fmt: skip
    lines = [head]
    for r in rows:
        lines.append(
            f"{r['client']:<11} {r['mode']:<8} {r['threads']:>2} {r['calls']:>5} "
            f"{r['failures']:>4} {_fmt(r['p50_ms']):>7} {_fmt(r['p99_ms']):>7} "
            f"{_fmt(r['cpu_ms_per_call'], '.2f'):>7} {_fmt(r['calls_per_s']):>8}  {r['kex']}"
        )
    return "\n".join(lines)


def auth_table(auth: dict[str, list[float]]) -> str:
    lines = [f"{'library':<11} {'n':>3} {'auth p50 ms':>11} {'auth p99 ms':>11}"]
    for lib, ms in auth.items():
        p50 = float(np.percentile(ms, 50)) if ms else float("nan")
        p99 = float(np.percentile(ms, 99)) if ms else float("nan")
        lines.append(f"{lib:<11} {len(ms):>3} {_fmt(p50, '.2f'):>11} {_fmt(p99, '.2f'):>11}")
    if auth.get("ssh2") and auth.get("paramiko"):
        ratio = float(np.median(auth["paramiko"]) / np.median(auth["ssh2"]))
        lines.append(
            f"Paramiko auth p50 / ssh2-python auth p50 = {ratio:.2f} "
            "(parallel-ssh's published claim: ~1.7, ssh2-python faster)"
        )
    return "\n".join(lines)


def run(clients: list[str], threads: list[int], calls: int, auth_calls: int,
        sshd: Sshd, work: Path) -> dict:  # fmt: skip
    rows: list[dict] = []
    for client in clients:
        for mode in MODES:
            for k in threads:
                if client == "jsch":
                    rows.append(run_jsch(mode, k, calls, sshd, work))
                else:
                    rows.append(run_python(client, mode, k, calls, sshd))
                print(table([rows[-1]]).splitlines()[1], flush=True)
    auth = {lib: auth_times(lib, sshd, auth_calls, work) for lib in AUTH_LIBRARIES
            if lib in clients and auth_calls > 0}  # fmt: skip
    return {"rows": rows, "auth_ms": auth}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", nargs="+", choices=CLIENTS, default=list(CLIENTS))
    p.add_argument("--threads", nargs="+", type=int, default=[1, 4])
    p.add_argument("--calls", type=int, default=30, help="calls per thread (default 30)")
    p.add_argument("--auth-calls", type=int, default=30, help="sequential logins per library")
    p.add_argument("--json", type=Path, help="also write every number to this file")
    args = p.parse_args(argv)
    if "jsch" in args.clients and (why := java_missing()):
        print(f"bench_libraries: leaving JSch out: {why}", file=sys.stderr)
        args.clients.remove("jsch")
    with tempfile.TemporaryDirectory(prefix="bench-libs-") as tmp:
        work = Path(tmp)
        with running_sshd(work / "sshd") as sshd:
            print(f"load average before: {os.getloadavg()[0]:.2f}")
            result = run(args.clients, args.threads, args.calls, args.auth_calls, sshd, work)
            print(f"load average after: {os.getloadavg()[0]:.2f}\n")
    print(table(result["rows"]))
    if result["auth_ms"]:
        print()
        print(auth_table(result["auth_ms"]))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
