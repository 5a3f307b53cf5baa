"""Settings of one API server; every knob that changes behaviour or timing lives here."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

LIBRARIES = ("ssh2", "paramiko", "openssh")
CONNECTION_MODES = ("per-request", "pooled")
DEFAULT_DB_URL = "sqlite:///sshapi.db"


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

    def __post_init__(self) -> None:
        if self.library not in LIBRARIES:
            raise ValueError(f"library {self.library!r} is not one of {', '.join(LIBRARIES)}")
        if self.connections not in CONNECTION_MODES:
            raise ValueError(
                f"connections {self.connections!r} is not one of {', '.join(CONNECTION_MODES)}"
            )
        for name in ("connect_timeout", "command_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0 seconds, got {getattr(self, name)!r}")
        for name in ("max_connections", "max_sessions_per_connection"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
