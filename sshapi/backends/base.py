"""What every SSH backend provides, and the socket every library-driven backend uses.

A backend module exposes:
- `connect(target, settings, deadline=None) -> Connection`: TCP connect, handshake, host key
  check against the stored key, public key authentication, all done before `deadline` (a
  `sshapi.deadline.Deadline`; None: `settings.connect_timeout` from now); raises an
  `SSHFailure` subclass;
- `MAX_CHANNELS`: how many commands one connection may run at once;
- `socket_options() -> dict` and `kex_info() -> dict`: what /healthz reports.

A Connection runs commands (`exec(command, timeout) -> Result`) until `close()`; per-request
mode opens one, runs one command and closes it; pooled mode (pool.py) keeps them open. Its
`auth_span` is the wall-clock (time.time()) start and end of public-key authentication alone,
after the key exchange and the host-key check (the sweep's `auth` pattern times it); None
where it cannot be told apart (the `ssh` client).

What every backend guarantees (issue 11): `exec` returns or raises within `timeout` seconds
(`SSHTimeout` once it passes; the connection is then closed, `alive()` is False); it reads at
most `settings.max_output_bytes` of stdout + stderr together, and past that stops reading,
closes the channel (or kills `ssh`) and raises `OutputTooLarge`; `close()` is bounded too.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Protocol

from sshapi.deadline import Deadline
from sshapi.errors import OutputTooLarge, SSHConnectionRefused, SSHFailure, SSHTimeout

# Decided once for all backends: Nagle's algorithm off on the client socket. Without it the
# small packets of the SSH handshake wait for delayed ACKs (NOTES.md: 58 -> 16 ms).
TCP_NODELAY = 1
# The OpenSSH client's default (TCPKeepAlive yes), matched by the library backends.
SO_KEEPALIVE = 1


@dataclass(frozen=True)
class Result:
    stdout: str
    stderr: str
    exit_status: int


class Connection(Protocol):
    max_channels: int  # how many exec() calls may run on it at once
    auth_span: tuple[float, float] | None  # authentication alone, unix seconds

    def exec(self, command: str, timeout: float) -> Result: ...

    def alive(self) -> bool: ...

    def close(self) -> None: ...


# Name lookups run here so a slow resolver cannot hold a request past its deadline (the
# lookup itself cannot be interrupted; a few threads bound how many may hang at once). The
# queue in front of them is bounded too: past MAX_LOOKUPS waiting or running, a lookup fails
# at once instead of queueing behind names in a silent zone for minutes (issue 24). A name
# being looked up is looked up once (later callers share the answer), and answers are kept
# LOOKUP_TTL seconds (failures and timeouts NEGATIVE_TTL), so one user's silent names cost
# the others nothing after the first MAX_LOOKUPS.
LOOKUP_THREADS = 4
MAX_LOOKUPS = 16
LOOKUP_TTL = 60.0
NEGATIVE_TTL = 30.0
MAX_CACHED_NAMES = 4096
_RESOLVER = ThreadPoolExecutor(max_workers=LOOKUP_THREADS, thread_name_prefix="sshapi-resolve")
_lookup_lock = threading.Lock()
_in_flight: dict[tuple[str, int], Future] = {}
_answers: dict[tuple[str, int], tuple[float, list | None]] = {}  # -> (expires, infos or None)


def _remember(key: tuple[str, int], infos: list | None) -> None:
    ttl = LOOKUP_TTL if infos else NEGATIVE_TTL
    with _lookup_lock:
        _in_flight.pop(key, None)
        if len(_answers) >= MAX_CACHED_NAMES:
            now = time.monotonic()
            for k in [k for k, (t, _) in _answers.items() if t <= now] or list(_answers)[:64]:
                _answers.pop(k, None)
        _answers[key] = (time.monotonic() + ttl, infos)


def _lookup(host: str, port: int) -> list | None:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        infos = None
    _remember((host, port), infos)
    return infos


def lookup(host: str, port: int, deadline: Deadline) -> list:
    """getaddrinfo(host, port) within `deadline`, through the bounded, cached resolver."""
    key = (host, port)
    with _lookup_lock:
        hit = _answers.get(key)
        if hit and hit[0] > time.monotonic():
            if hit[1] is None:
                raise unreachable(host, port)
            return hit[1]
        future = _in_flight.get(key)
        if future is None:
            if len(_in_flight) >= MAX_LOOKUPS:
                raise unreachable(host, port)  # the resolver is busy: fail now, not later
            future = _in_flight[key] = _RESOLVER.submit(_lookup, host, port)
    try:
        infos = future.result(timeout=max(0.0, deadline.left()))
    except FutureTimeout:
        raise tcp_level(SSHTimeout(f"looking up {host} did not finish in time")) from None
    if not infos:
        raise unreachable(host, port)
    return infos


def unreachable(host: str, port: int) -> SSHFailure:
    """One text for every destination the API will not or cannot reach (unknown name, not
    in the allowed networks, no route), so error messages do not help map a network."""
    return tcp_level(SSHFailure(f"cannot connect to {host}:{port}"))


def tcp_level(err: SSHFailure) -> SSHFailure:
    """Mark a failure to reach host:port at all (lookup, route, refused, TCP timeout): the
    API answers these alike when settings.uniform_connect_errors is on."""
    err.tcp_level = True  # type: ignore[attr-defined]
    return err


def handshake_timeout(host: str, port: int, seconds: float) -> SSHTimeout:
    """The error of a connect + handshake + authentication that ran past its deadline."""
    return SSHTimeout(f"SSH handshake with {host}:{port} did not finish within {seconds:.3g} s")


def exec_timeout(command: str, host: str, port: int, timeout: float) -> SSHTimeout:
    """The error of a command that ran past its deadline (every library backend)."""
    return SSHTimeout(
        f"running {command.split()[0]!r} on {host}:{port} did not finish within {timeout:.3g} s"
    )


def resolve(host: str, port: int, deadline: Deadline, allowed: tuple[str, ...] = ()) -> list:
    """The addresses (getaddrinfo tuples) of host:port the API may connect to: all of them,
    or only those inside `allowed` networks and outside its "!CIDR" ones (checked after
    resolution, and the caller connects to these addresses, never to the name again)."""
    try:
        ipaddress.ip_address(host)
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)  # a literal: no lookup
    except ValueError:
        infos = lookup(host, port, deadline)
    except OSError:
        raise unreachable(host, port) from None
    denied = [ipaddress.ip_network(n[1:]) for n in allowed if n.startswith("!")]
    nets = [ipaddress.ip_network(n) for n in allowed if not n.startswith("!")]
    if nets:
        infos = [i for i in infos if any(_ip(i) in n for n in nets)]
    if denied:
        infos = [i for i in infos if not any(_ip(i) in n for n in denied)]
    if not infos:
        raise unreachable(host, port)
    return infos


def _ip(info: tuple) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    ip = ipaddress.ip_address(info[4][0].split("%", 1)[0])
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1 is 127.0.0.1
    return mapped or ip


def open_socket(
    host: str,
    port: int,
    timeout: float,
    deadline: Deadline | None = None,
    allowed: tuple[str, ...] = (),
) -> socket.socket:
    """TCP connect; TCP_NODELAY and SO_KEEPALIVE set before the first byte of SSH."""
    deadline = deadline or Deadline(timeout)
    infos = resolve(host, port, deadline, allowed)
    refused = False
    for family, kind, proto, _, addr in infos:
        left = deadline.cap(timeout)
        if left <= 0:
            raise tcp_level(SSHTimeout(f"TCP connect to {host}:{port} timed out"))
        sock = socket.socket(family, kind, proto)
        sock.settimeout(left)
        try:
            sock.connect(addr)
            break
        except ConnectionRefusedError:
            refused = True
        except TimeoutError:
            sock.close()
            raise tcp_level(SSHTimeout(f"TCP connect to {host}:{port} timed out")) from None
        except OSError:
            pass
        sock.close()
    else:
        if refused:
            raise tcp_level(SSHConnectionRefused(f"connection to {host}:{port} refused"))
        raise unreachable(host, port)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, TCP_NODELAY)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, SO_KEEPALIVE)
    return sock


def shutdown(sock: socket.socket) -> None:
    """Wake every call blocked on `sock` (they see EOF) without closing the fd: closing it
    under a live libssh2 session could let another socket reuse the number (NOTES.md)."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class Output:
    """stdout and stderr of one command, capped together at `limit` bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.out: list[bytes] = []
        self.err: list[bytes] = []

    def add(self, data: bytes, stderr: bool = False) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise OutputTooLarge(
                f"command output passed {self.limit} bytes (stdout + stderr); the rest was not read"
            )
        (self.err if stderr else self.out).append(data)

    def result(self, exit_status: int) -> Result:
        return Result(decode(b"".join(self.out)), decode(b"".join(self.err)), exit_status)


def library_socket_options() -> dict:
    """What /healthz reports for the backends that own their socket (ssh2, paramiko)."""
    return {
        "TCP_NODELAY": TCP_NODELAY,
        "SO_KEEPALIVE": SO_KEEPALIVE,
        "when": "set by sshapi right after connect(), before the first SSH byte",
    }


def decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")
