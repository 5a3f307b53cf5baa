"""Bare ssh2-python calls against a testbed host: connect + auth + command + close, no API.

Used by the testbed tests (load on a host) and by benchmarks/bench_testbed.py (latency with
the client's TCP mode default vs quickack). A plain blocking socket; TCP_NODELAY only when
asked (the API's backends set it), so the kernel and the route decide the rest. Each call
keeps its channel and session inside one function scope and drops them before the socket
closes (NOTES.md: a Session outliving its socket can hang a later call on the same fd).
"""

from __future__ import annotations

import base64
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ssh2.session import Session


def _run(sock: socket.socket, host: dict[str, Any], command: str, timeout_s: float) -> str:
    """Handshake, check the host key, authenticate, run ``command``; '' or why it failed."""
    session = Session()
    try:
        session.set_timeout(int(timeout_s * 1000))
        session.handshake(sock)
        blob, _ = session.hostkey()
        if base64.b64encode(blob).decode() != host["host_key"].split()[2]:
            return "host key mismatch"
        session.userauth_publickey_fromfile(host["user"], host["private_key"])
        chan = session.open_session()
        chan.execute(command)
        size, _ = chan.read()
        while size > 0:
            size, _ = chan.read()
        chan.wait_eof()
        chan.close()
        chan.wait_closed()
        status = chan.get_exit_status()
        del chan
        session.disconnect()
        return "" if status == 0 else f"exit status {status}"
    except Exception as exc:
        # Returned as text so no traceback keeps the session alive past the socket.
        return f"{type(exc).__name__}: {exc}"
    finally:
        del session


def call(
    host: dict[str, Any], command: str = "uptime", timeout_s: float = 30.0, nodelay: bool = False
) -> float:
    """Seconds for one connect + auth + ``command`` + close; raises RuntimeError on failure.
    ``host`` is an entry of ``sshbench.testbed.testbed.status()["hosts"]``."""
    started = time.perf_counter()
    sock = socket.create_connection((host["address"], host["port"]), timeout=timeout_s)
    try:
        if nodelay:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(None)  # libssh2 wants a blocking socket; it times out itself
        error = _run(sock, host, command, timeout_s)
    finally:
        sock.close()
    if error:
        raise RuntimeError(f"{host['address']}: {error}")
    return time.perf_counter() - started


def parallel(host: dict[str, Any], n: int, command: str = "uptime") -> dict[str, int]:
    """``n`` calls at once (one thread each); counts of ok and failed calls."""

    def one(_: int) -> bool:
        try:
            call(host, command)
            return True
        except (OSError, RuntimeError):
            return False

    with ThreadPoolExecutor(max_workers=n) as pool:
        results = list(pool.map(one, range(n)))
    return {"ok": sum(results), "failed": len(results) - sum(results)}
