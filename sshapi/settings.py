"""Settings of one API server; every knob that changes behaviour or timing lives here."""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

LIBRARIES = ("ssh2", "paramiko", "openssh", "asyncssh", "ssh-python")
CONNECTION_MODES = ("per-request", "pooled")
DEFAULT_DB_URL = "sqlite:///sshapi.db"
MIB = 1024 * 1024


def default_db_url() -> str:
    """`SSHAPI_DB_URL` if set (so a password never has to be on a command line)."""
    return os.environ.get("SSHAPI_DB_URL") or DEFAULT_DB_URL


def default_key_file() -> Path:
    """Where the data key lives unless told otherwise (`SSHAPI_KEY_FILE` moves it)."""
    env = os.environ.get("SSHAPI_KEY_FILE")
    if env:
        return Path(env)
    return Path.home() / ".config" / "sshapi" / "secret.key"


@dataclass(frozen=True)
class Settings:
    library: str = "ssh2"
    connections: str = "per-request"
    db_url: str = DEFAULT_DB_URL
    key_file: Path | None = None  # None: default_key_file(); ignored if SSHAPI_SECRET_KEY set
    connect_timeout: float = 10.0  # TCP connect + SSH handshake + authentication, seconds
    command_timeout: float = 30.0  # opening the channel, running the command, reading output
    max_connections: int = 50  # pooled mode: open SSH connections per server process
    max_sessions_per_connection: int = 10  # pooled mode: concurrent channels on one connection
    # pooled mode: connections one API user may hold in one worker; None: max_connections
    # (the benchmark is one user); a shared service sets its fair share
    max_user_connections: int | None = None
    # One wall-clock deadline per request, across connect, auth, exec, read and close;
    # None: connect_timeout + command_timeout. Each phase is also held to its own timeout.
    request_timeout: float | None = None
    max_output_bytes: int = MIB  # stdout + stderr of one command; more is output_too_large
    max_user_requests: int = 32  # SSH requests one API user may have running (all workers)
    max_credentials: int = 100  # credentials one API user may store
    # Destinations a credential may reach, checked after name resolution; empty: any.
    allowed_networks: tuple[str, ...] = ()
    # File transfers (sshapi/files.py): an upload larger than this is refused with 413; a
    # transfer is cut once it falls below this average rate (bytes/s) after command_timeout
    # seconds, or moves no byte for command_timeout seconds.
    max_upload_bytes: int = 1024 * MIB
    min_transfer_rate: float = 256 * 1024
    # Destinations refused even inside allowed_networks (loopback, link-local such as a
    # cloud's metadata service, the API's own addresses); "self": this machine's addresses.
    denied_networks: tuple[str, ...] = ()
    # One answer ("cannot connect", 502 ssh_error) for refused, unreachable and timed-out TCP
    # connects, the detail only in the log: no port scanning through the API. Off for the
    # benchmark, whose analysis counts sshd's refusals (ssh_connection_refused).
    uniform_connect_errors: bool = False

    def __post_init__(self) -> None:
        if self.library not in LIBRARIES:
            raise ValueError(f"library {self.library!r} is not one of {', '.join(LIBRARIES)}")
        if self.connections not in CONNECTION_MODES:
            raise ValueError(
                f"connections {self.connections!r} is not one of {', '.join(CONNECTION_MODES)}"
            )
        if self.request_timeout is None:
            object.__setattr__(self, "request_timeout", self.connect_timeout + self.command_timeout)
        for name in ("connect_timeout", "command_timeout", "request_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0 seconds, got {getattr(self, name)!r}")
        for name in (
            "max_connections",
            "max_sessions_per_connection",
            "max_output_bytes",
            "max_user_requests",
            "max_credentials",
            "max_upload_bytes",
            "min_transfer_rate",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        allowed = [n for n in self.allowed_networks if not n.startswith("!")]
        denied = [n[1:] for n in self.allowed_networks if n.startswith("!")]
        denied = _networks((*denied, *self.denied_networks), "denied")
        object.__setattr__(self, "denied_networks", denied)
        # The one list every backend hands to base.resolve: "!CIDR" entries refuse (first)
        object.__setattr__(
            self,
            "allowed_networks",
            tuple(f"!{n}" for n in denied) + _networks(tuple(allowed), "allowed"),
        )


def own_addresses() -> list[str]:
    """Every address of this machine's interfaces, as host networks (/32, /128)."""
    import psutil

    out = []
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family in (socket.AF_INET, socket.AF_INET6):
                ip = ipaddress.ip_address(a.address.split("%", 1)[0])
                out.append(str(ipaddress.ip_network(ip)))
    return sorted(set(out))


def _networks(nets: tuple[str, ...], kind: str) -> tuple[str, ...]:
    out: list[str] = []
    for net in nets:
        if net == "self":
            out += own_addresses()
            continue
        try:
            out.append(str(ipaddress.ip_network(net, strict=False)))
        except ValueError:
            raise ValueError(f"{kind} network {net!r} is not an address, CIDR or self") from None
    return tuple(dict.fromkeys(out))
