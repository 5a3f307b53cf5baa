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
`auth_span`, as the sweep's auth points time it, sshbench/load/authtime.py; JSch: from its log,
the server's NEWKEYS to "Authentication succeeded"). This is the timing parallel-ssh's published
"ssh2-python authenticates ~1.7x faster than Paramiko" speaks of; the `ssh` client's is not
separable and is left out.

    .venv/bin/python benchmarks/bench_libraries.py                 # 30 calls per thread, K 1 and 4
    .venv/bin/python benchmarks/bench_libraries.py --calls 5 --threads 1 --clients jsch
    .venv/bin/python benchmarks/bench_libraries.py --sftp --sizes 1 16 256 --streams 1 4

SFTP transfers (`--sftp`, issue 21): reads and writes of generated, checksummed files of each
size by every Python backend's SFTP client and by OpenSSH's `sftp`, `scp` and `rsync -e ssh`
(the tools the talk lists), single stream and K streams: MB/s, client CPU ms per MB, and the
negotiated cipher, beside the physical limits (each cipher's single-core speed by
`openssl speed -evp`, one plain TCP stream over the same loopback link) and the ssh2-python /
Paramiko read ratio the talk cites as ~17. JSch runs its ChannelSftp get/put (JschBench.java,
one JVM for the K streams, its own process CPU).

Needs root (a local test user and sshd, as the tests do). The JSch client is
`benchmarks/JschBench.java`, run with the JRE's single-file source launcher (`java File.java`),
nothing fetched at run time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import shutil
import socket
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
from sshbench.load import authtime, resources
from sshbench.sweep import sweep

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


# ----------------------------------------------------------------- SFTP transfers (issue 21)
# Each Python client is the API's own SFTP client for its library (backends/*: open_sftp),
# called directly; the OpenSSH tools run as the user would. A read copies the remote file to
# a local one, a write the other way; sha256 checked after the clock stops. MB/s is
# K x size / wall time of the K streams; CPU per MB is this process's (Python clients) or
# its reaped children's (tools) CPU over the bytes moved.

SFTP_PYTHON = ("ssh2", "paramiko", "asyncssh", "ssh-python", "paramiko-naive")
# paramiko-naive: Paramiko's SFTPFile used plainly (one 32 KiB request at a time, no prefetch,
# no pipelined writes): what a client that does not ask for Paramiko's pipelining gets. On a
# link with round-trip time R it cannot pass 32 KiB / R (loopback here: R ~ 0).
SFTP_TOOLS = ("sftp", "scp", "rsync")
SFTP_CLIENTS = (*SFTP_PYTHON, *SFTP_TOOLS, "jsch")
DIRECTIONS = ("read", "write")
SFTP_SUBSYSTEM = "Subsystem sftp internal-sftp"
MIB = 1024 * 1024
# OpenSSH cipher name -> `openssl speed -evp` name
EVP = {
    "chacha20-poly1305@openssh.com": "chacha20-poly1305",
    "aes128-ctr": "aes-128-ctr",
    "aes192-ctr": "aes-192-ctr",
    "aes256-ctr": "aes-256-ctr",
    "aes128-gcm@openssh.com": "aes-128-gcm",
    "aes256-gcm@openssh.com": "aes-256-gcm",
}
_CIPHER_RE = re.compile(r"kex: client->server cipher: (\S+)")


def _cipher_of(client: str, conn) -> str | None:
    """The client->server cipher the library negotiated (read from its session)."""
    try:
        if client == "ssh2":
            from ssh2.session import LIBSSH2_METHOD_CRYPT_CS

            return conn._session.methods(LIBSSH2_METHOD_CRYPT_CS)
        if client == "paramiko":
            return conn._t.local_cipher
        if client == "asyncssh":
            return conn._conn.get_extra_info("send_cipher")
        if client == "ssh-python":
            v = conn._session.get_cipher_out()
            return v.decode() if isinstance(v, bytes) else v
    except Exception:  # a library without the accessor: reported as unknown
        return None
    return None


def make_file(path: Path, size: int) -> str:
    """A file of `size` random bytes; its sha256."""
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left > 0:
            block = os.urandom(min(MIB, left))
            h.update(block)
            f.write(block)
            left -= len(block)
    return h.hexdigest()


def _sha(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _owned_by(path: Path, home: Path) -> None:
    st = os.stat(home)
    os.chown(path, st.st_uid, st.st_gid)


def _python_stream(client: str, direction: str, remote: str, local: Path, size: int,
                   sshd: Sshd, cipher: list) -> None:  # fmt: skip
    from sshapi.backends.sftp import CHUNK, RateGuard

    if client == "paramiko-naive":
        _paramiko_naive(direction, remote, local, sshd, cipher)
        return
    backend = backends.load(client)
    conn = backend.connect(_target(sshd), Settings(library=client))
    cipher.append(_cipher_of(client, conn))
    sftp = conn.open_sftp(RateGuard(grace=600, min_rate=1))
    try:
        if direction == "read":
            with open(local, "wb") as f:
                for chunk in sftp.read(remote, 0, size):
                    f.write(chunk)
        else:
            with open(local, "rb") as f:
                sftp.write(remote, iter(lambda: f.read(CHUNK), b""), 0)
    finally:
        sftp.close()
        conn.close()


def _paramiko_naive(direction: str, remote: str, local: Path, sshd: Sshd, cipher: list) -> None:
    backend = backends.load("paramiko")
    conn = backend.connect(_target(sshd), Settings(library="paramiko"))
    cipher.append(_cipher_of("paramiko", conn))
    sftp = conn._t.open_sftp_client()
    try:
        if direction == "read":
            with sftp.open(remote, "rb") as rf, open(local, "wb") as f:
                while data := rf.read(32768):
                    f.write(data)
        else:
            with open(local, "rb") as f, sftp.open(remote, "wb") as wf:
                while data := f.read(32768):
                    wf.write(data)
    finally:
        sftp.close()
        conn.close()


def _tool_argv(tool: str, direction: str, remote: str, local: Path, sshd: Sshd,
               work: Path) -> list[str]:  # fmt: skip
    key = work / "tool_key"
    if not key.exists():
        key.write_text(sshd.private_key)
        key.chmod(0o600)
        (work / "tool_known_hosts").write_text(sshd.host_key + "\n")
    opts = ["-F", "/dev/null", "-v", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            "-o", f"UserKnownHostsFile={work / 'tool_known_hosts'}",
            "-o", "StrictHostKeyChecking=yes", "-i", str(key)]  # fmt: skip
    where = f"{sshd.user}@{sshd.host}"
    src, dst = (f"{where}:{remote}", str(local)) if direction == "read" else (
        str(local), f"{where}:{remote}")  # fmt: skip
    if tool == "scp":  # OpenSSH 9's scp speaks SFTP underneath (-O would be the old protocol)
        return ["scp", *opts, "-P", str(sshd.port), src, dst]
    if tool == "rsync":
        ssh = " ".join(["ssh", *opts, "-p", str(sshd.port)])
        return ["rsync", "--whole-file", "-e", ssh, src, dst]
    batch = work / f"batch-{local.name}"
    verb = "get" if direction == "read" else "put"
    a, b = (remote, local) if direction == "read" else (local, remote)
    batch.write_text(f"{verb} {a} {b}\n")
    return ["sftp", *opts, "-P", str(sshd.port), "-b", str(batch), where]


def _tool_stream(tool: str, direction: str, remote: str, local: Path, sshd: Sshd,
                 work: Path, cipher: list) -> None:  # fmt: skip
    argv = _tool_argv(tool, direction, remote, local, sshd, work)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"{tool} exited {out.returncode}: {out.stderr.strip()[-500:]}")
    m = _CIPHER_RE.search(out.stderr)
    cipher.append(m.group(1) if m else None)


def run_transfer(client: str, direction: str, size: int, streams: int, sshd: Sshd,
                 work: Path, source: tuple[str, str]) -> dict:  # fmt: skip
    """K streams of one client moving `size` bytes each; checked by sha256."""
    remote_src, digest = source
    local_base = work / f"x-{client}-{direction}.bin"
    remote_base = sshd.home / f"bench-up-{os.getpid()}.bin"
    locals_ = [Path(f"{local_base}.{i}") for i in range(streams)]
    remotes = [f"{remote_base}.{i}" for i in range(streams)]
    if direction == "write":
        for p in locals_:
            shutil.copyfile(sshd.home / Path(remote_src).name, p)
    cipher: list = []
    errors: list = []

    def one(i: int) -> None:
        try:
            remote = remote_src if direction == "read" else remotes[i]
            if client in SFTP_TOOLS:
                _tool_stream(client, direction, remote, locals_[i], sshd, work, cipher)
            else:
                _python_stream(client, direction, remote, locals_[i], size, sshd, cipher)
        except Exception as e:  # counted and reported, never a silent zero
            errors.append(f"{type(e).__name__}: {e}"[:300])

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(streams)]
    if client == "jsch":  # one JVM runs the K streams; it times itself
        threads = []
        remote = remote_src if direction == "read" else str(remote_base)
        try:
            raw = _jsch_sftp(direction, streams, remote, local_base, sshd, work)
            cipher.append(raw["cipher"])
            if raw["failures"]:
                errors.append(raw["first_error"])
        except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
            errors.append(str(e)[:300])
            raw = {"wall_s": float("nan"), "cpu_ms": float("nan")}
    cpu0 = resources.self_cpu_seconds()
    kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=900)
    wall = time.perf_counter() - wall0
    kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = resources.self_cpu_seconds() - cpu0
    if client in SFTP_TOOLS:
        cpu_s = (kids1.ru_utime + kids1.ru_stime) - (kids0.ru_utime + kids0.ru_stime)
    if client == "jsch":
        wall, cpu_s = raw["wall_s"], raw["cpu_ms"] / 1000
    ok = 0
    for i in range(streams):
        path = locals_[i] if direction == "read" else Path(remotes[i])
        if path.exists() and _sha(path) == digest:
            ok += 1
        path.unlink(missing_ok=True)
    mb = size * streams / 1e6
    return {
        "client": client,
        "direction": direction,
        "size_mib": size / MIB,
        "streams": streams,
        "mb_per_s": mb / wall if ok == streams and wall > 0 else float("nan"),
        "cpu_ms_per_mb": cpu_s * 1000 / mb if ok == streams else float("nan"),
        "wall_s": wall,
        "checksum_ok": ok,
        "cipher": next((c for c in cipher if c), None),
        "errors": errors[:3],
    }


def _jsch_sftp(direction: str, streams: int, remote: str, local_base: Path, sshd: Sshd,
               work: Path) -> dict:  # fmt: skip
    """JschBench.java in sftp-read|sftp-write mode: K streams in one JVM; its JSON line."""
    key, known = _jsch_files(sshd, work)
    argv = [
        "java", "-cp", str(JSCH_JAR), str(JAVA_SOURCE), sshd.host, str(sshd.port), sshd.user,
        str(key), str(known), f"sftp-{direction}", "1", str(streams), remote, str(local_base),
    ]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, timeout=JAVA_TIMEOUT_S)
    if out.returncode != 0:
        raise RuntimeError(f"JschBench exited {out.returncode}: {out.stderr.strip()[-500:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def cipher_speed(cipher: str) -> float | None:
    """Single-core MB/s of `cipher` by `openssl speed -evp` (16 KiB blocks, 1 s)."""
    evp = EVP.get(cipher)
    if evp is None or shutil.which("openssl") is None:
        return None
    out = subprocess.run(["openssl", "speed", "-evp", evp, "-seconds", "1", "-bytes", "16384"],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    last = [ln for ln in out.stdout.splitlines() if ln.strip()][-1:]
    m = re.search(r"([\d.]+)k\s*$", last[0]) if last else None
    return float(m.group(1)) / 1000 if m else None


def tcp_speed(size: int = 512 * MIB) -> float:
    """MB/s of one plain TCP stream over loopback (the link the bench's sshd listens on)."""
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    got = [0]

    def sink() -> None:
        conn, _ = srv.accept()
        with conn:
            while data := conn.recv(1 << 20):
                got[0] += len(data)

    t = threading.Thread(target=sink, daemon=True)
    t.start()
    block = b"\0" * MIB
    t0 = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as c:
        for _ in range(size // MIB):
            c.sendall(block)
    t.join(60)
    wall = time.perf_counter() - t0
    srv.close()
    return got[0] / 1e6 / wall


def sftp_table(rows: list[dict]) -> str:
    lines = [f"{'client':<14} {'dir':<5} {'MiB':>5} {'K':>2} {'MB/s':>8} {'cpu ms/MB':>9} "
             f"{'ok':>3}  cipher"]  # fmt: skip
    for r in rows:
        lines.append(
            f"{r['client']:<14} {r['direction']:<5} {r['size_mib']:>5g} {r['streams']:>2} "
            f"{_fmt(r['mb_per_s']):>8} {_fmt(r['cpu_ms_per_mb'], '.2f'):>9} "
            f"{r['checksum_ok']:>3}  {r['cipher']}"
            + (f"  ERR {r['errors'][0]}" if r["errors"] else "")
        )
    return "\n".join(lines)


def read_ratios(rows: list[dict]) -> list[dict]:
    """ssh2-python / Paramiko SFTP read MB/s at each size and K (the prior work's ~17x)."""
    by = {(r["client"], r["size_mib"], r["streams"]): r["mb_per_s"] for r in rows
          if r["direction"] == "read"}  # fmt: skip
    out = []
    for (client, size, k), v in sorted(by.items()):
        for other in ("paramiko", "paramiko-naive"):
            if client == "ssh2" and (other, size, k) in by:
                ratio = v / by[(other, size, k)]
                out.append({"size_mib": size, "streams": k, "paramiko": other, "ratio": ratio})
    return out


def run_sftp(clients: list[str], sizes_mib: list[float], streams: list[int], sshd: Sshd,
             work: Path) -> dict:  # fmt: skip
    rows: list[dict] = []
    for size_mib in sizes_mib:
        size = int(size_mib * MIB)
        src = sshd.home / f"bench-src-{os.getpid()}-{size}.bin"
        digest = make_file(src, size)
        _owned_by(src, sshd.home)
        try:
            for direction in DIRECTIONS:
                for client in clients:
                    for k in streams:
                        rows.append(
                            run_transfer(client, direction, size, k, sshd, work, (str(src), digest))
                        )
                        print(sftp_table([rows[-1]]).splitlines()[1], flush=True)
        finally:
            src.unlink(missing_ok=True)
    ciphers = sorted({r["cipher"] for r in rows if r["cipher"]})
    limits = {"cipher_mb_per_s": {c: cipher_speed(c) for c in ciphers},
              "tcp_loopback_mb_per_s": tcp_speed()}  # fmt: skip
    return {"rows": rows, "limits": limits, "read_ratio_ssh2_over_paramiko": read_ratios(rows)}


def limits_text(result: dict) -> str:
    lines = ["physical limits (same machine):"]
    for c, v in result["limits"]["cipher_mb_per_s"].items():
        lines.append(f"  {c}: {_fmt(v)} MB/s on one core (openssl speed -evp)")
    tcp = result["limits"]["tcp_loopback_mb_per_s"]
    lines.append(f"  plain TCP, one stream over loopback: {tcp:.0f} MB/s")
    for r in result["read_ratio_ssh2_over_paramiko"]:
        lines.append(
            f"ssh2-python / {r['paramiko']} SFTP read MB/s at {r['size_mib']:g} MiB, "
            f"K={r['streams']}: "
            f"{r['ratio']:.2f} (the prior result the talk cites: ~17)"
        )
    return "\n".join(lines)


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
    p.add_argument("--sftp", action="store_true",
                   help="SFTP transfers instead of the command modes (issue 21)")  # fmt: skip
    p.add_argument("--sftp-clients", nargs="+", choices=SFTP_CLIENTS, default=list(SFTP_CLIENTS))
    p.add_argument("--sizes", nargs="+", type=float, default=[1, 16, 256], help="MiB")
    p.add_argument("--streams", nargs="+", type=int, default=[1, 4], help="K concurrent streams")
    args = p.parse_args(argv)
    if args.sftp:
        if "jsch" in args.sftp_clients and (why := java_missing()):
            print(f"bench_libraries: leaving JSch out: {why}", file=sys.stderr)
            args.sftp_clients.remove("jsch")
        return main_sftp(args)
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


def main_sftp(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-sftp-") as tmp:
        work = Path(tmp)
        with running_sshd(work / "sshd", extra_config=SFTP_SUBSYSTEM) as sshd:
            print(f"load average before: {os.getloadavg()[0]:.2f}")
            result = run_sftp(args.sftp_clients, args.sizes, args.streams, sshd, work)
            print(f"load average after: {os.getloadavg()[0]:.2f}\n")
    print(sftp_table(result["rows"]))
    print()
    print(limits_text(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
