"""What every SSH backend provides, and the socket every library-driven backend uses.

A backend module exposes:
- `connect(target, settings) -> Connection`: TCP connect, handshake, host key check
  against the stored key, public key authentication; raises an `SSHFailure` subclass;
- `MAX_CHANNELS`: how many commands one connection may run at once;
- `socket_options() -> dict` and `kex_info() -> dict`: what /healthz reports.

A Connection runs commands (`exec(command, timeout) -> Result`) until `close()`; per-request
mode opens one, runs one command and closes it; pooled mode (pool.py) keeps them open.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Protocol

from sshapi.errors import SSHConnectionRefused, SSHFailure, SSHTimeout

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

    def exec(self, command: str, timeout: float) -> Result: ...

    def alive(self) -> bool: ...

    def close(self) -> None: ...


def open_socket(host: str, port: int, timeout: float) -> socket.socket:
    """TCP connect; TCP_NODELAY and SO_KEEPALIVE set before the first byte of SSH."""
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except ConnectionRefusedError:
        raise SSHConnectionRefused(f"connection to {host}:{port} refused") from None
    except TimeoutError:
        raise SSHTimeout(f"TCP connect to {host}:{port} timed out after {timeout:g} s") from None
    except OSError as e:
        raise SSHFailure(f"cannot connect to {host}:{port}: {e.strerror or e}") from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, TCP_NODELAY)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, SO_KEEPALIVE)
    return sock


def library_socket_options() -> dict:
    """What /healthz reports for the backends that own their socket (ssh2, paramiko)."""
    return {
        "TCP_NODELAY": TCP_NODELAY,
        "SO_KEEPALIVE": SO_KEEPALIVE,
        "when": "set by sshapi right after connect(), before the first SSH byte",
    }


def decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")
