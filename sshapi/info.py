"""What /healthz reports: the configuration and the exact versions and socket options in
force, so every result can say what it measured."""

from __future__ import annotations

import functools
import subprocess
from importlib.metadata import PackageNotFoundError, version

from sshapi import __version__, backends
from sshapi.settings import Settings


@functools.cache
def openssh_client_version() -> str:
    try:
        out = subprocess.run(["ssh", "-V"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unavailable ({e})"
    return (out.stderr or out.stdout).strip()


def _pkg(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def healthz_info(settings: Settings) -> dict:
    backend = backends.load(settings.library)
    return {
        "status": "ok",
        "sshapi": __version__,
        "library": settings.library,
        "connections": settings.connections,
        "settings": {
            "connect_timeout": settings.connect_timeout,
            "command_timeout": settings.command_timeout,
            "request_timeout": settings.request_timeout,
            "max_output_bytes": settings.max_output_bytes,
            "max_user_requests": settings.max_user_requests,
            "max_credentials": settings.max_credentials,
            "allowed_networks": [n for n in settings.allowed_networks if n[0] != "!"],
            "denied_networks": list(settings.denied_networks),
            "uniform_connect_errors": settings.uniform_connect_errors,
            "max_connections": settings.max_connections,
            "max_sessions_per_connection": settings.max_sessions_per_connection,
            "max_channels_per_connection": min(
                settings.max_sessions_per_connection, backend.MAX_CHANNELS
            ),
        },
        "versions": {
            "ssh2-python": _pkg("ssh2-python"),
            "paramiko": _pkg("paramiko"),
            "asyncssh": _pkg("asyncssh"),
            "ssh-python": _pkg("ssh-python"),
            "openssh-client": openssh_client_version(),
            "flask": _pkg("flask"),
            "gunicorn": _pkg("gunicorn"),
        },
        "socket_options": backend.socket_options(),
        "kex": backend.kex_info(),
    }
