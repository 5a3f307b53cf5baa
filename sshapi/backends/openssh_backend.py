"""The system OpenSSH client (`ssh`), one process per command.

Every call runs with `-F /dev/null` (no user config), BatchMode, only the stored key
(written 0600 into a private 0700 temp dir, removed after) and a known_hosts file holding
only the stored host key, with StrictHostKeyChecking=yes. Pooled mode keeps a ControlMaster
per connection (control socket in the same private dir) and runs commands through it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from sshapi.backends.base import Result, decode
from sshapi.errors import (
    SSHAuthFailed,
    SSHConnectionRefused,
    SSHFailure,
    SSHHostKeyMismatch,
    SSHTimeout,
)
from sshapi.keys import parse_host_key
from sshapi.settings import Settings
from sshapi.store import Target

NAME = "openssh"
MAX_CHANNELS = 1000  # the master multiplexes; the pool's max-sessions-per-connection applies
ALIAS = "sshapi-target"  # HostKeyAlias: known_hosts is looked up by this name, not host:port

_ERRORS = (  # (pattern in ssh's stderr, error class) for ssh's own exit status 255
    (re.compile(r"Permission denied|Too many authentication failures"), SSHAuthFailed),
    (re.compile(r"Connection refused"), SSHConnectionRefused),
    (
        re.compile(r"Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED"),
        SSHHostKeyMismatch,
    ),
    (re.compile(r"timed out|Operation timed out"), SSHTimeout),
)


def socket_options() -> dict:
    return {
        "TCP_NODELAY": "set by ssh itself once the session starts (after authentication)",
        "how": "ssh owns its socket; sshapi cannot set options on it, so the handshake "
        "and authentication run with Nagle's algorithm on",
    }


def kex_info() -> dict:
    return {"offered": "OpenSSH client defaults (-F /dev/null)", "last_negotiated": None}


class _Workdir:
    """A private 0700 dir with the key (0600) and a one-line known_hosts; removed on close."""

    def __init__(self, target: Target) -> None:
        host_key = parse_host_key(target.host_key)
        self.path = Path(tempfile.mkdtemp(prefix="sshapi-"))  # mkdtemp makes it 0700
        self.key = self.path / "id"
        fd = os.open(self.key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(target.private_key)
        self.known_hosts = self.path / "known_hosts"
        self.known_hosts.write_text(f"{ALIAS} {host_key.key_type} {host_key.base64}\n")
        self.algorithms = ",".join(host_key.algorithms())
        self.control = self.path / "cm"

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _ssh_args(target: Target, work: _Workdir, settings: Settings, *extra: str) -> list[str]:
    opts = {
        "BatchMode": "yes",
        "StrictHostKeyChecking": "yes",
        "UserKnownHostsFile": str(work.known_hosts),
        "GlobalKnownHostsFile": "/dev/null",
        "HostKeyAlias": ALIAS,
        "HostKeyAlgorithms": work.algorithms,
        "UpdateHostKeys": "no",
        "IdentityFile": str(work.key),
        "IdentitiesOnly": "yes",
        "IdentityAgent": "none",
        "PasswordAuthentication": "no",
        "KbdInteractiveAuthentication": "no",
        "ConnectTimeout": str(max(1, round(settings.connect_timeout))),
        "ServerAliveInterval": "0",
        "LogLevel": "ERROR",
    }
    args = ["ssh", "-F", "/dev/null", "-T", "-p", str(target.port), "-l", target.username]
    for k, v in opts.items():
        args += ["-o", f"{k}={v}"]
    return [*args, *extra]


def _failure(stderr: str, target: Target) -> SSHFailure:
    where = f"{target.username}@{target.host}:{target.port}"
    last = stderr.strip().splitlines()[-1] if stderr.strip() else "no message"
    for pattern, cls in _ERRORS:
        if pattern.search(stderr):
            return cls(f"ssh to {where}: {last}")
    return SSHFailure(f"ssh to {where} failed: {last}")


def _run(args: list[str], timeout: float, target: Target) -> Result:
    try:
        proc = subprocess.run(args, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise SSHTimeout(
            f"ssh to {target.host}:{target.port} did not finish within {timeout:g} s"
        ) from None
    stderr = decode(proc.stderr)
    if proc.returncode == 255 and any(p.search(stderr) for p, _ in _ERRORS):
        raise _failure(stderr, target)
    if proc.returncode == 255 and not proc.stdout:
        raise _failure(stderr, target)
    return Result(decode(proc.stdout), stderr, proc.returncode)


class OpensshConnection:
    """Per-request: `exec` runs one full `ssh` (connect, auth, command, close).
    Pooled: a ControlMaster process holds the connection; `exec` goes through its socket."""

    max_channels = MAX_CHANNELS

    def __init__(self, target: Target, settings: Settings, master: bool) -> None:
        self._target, self._settings = target, settings
        self._work = _Workdir(target)
        self._master: subprocess.Popen | None = None
        if master:
            try:
                self._start_master()
            except BaseException:
                self._work.remove()
                raise

    def _start_master(self) -> None:
        args = _ssh_args(
            self._target,
            self._work,
            self._settings,
            "-N",
            "-o",
            "ControlMaster=yes",
            "-o",
            f"ControlPath={self._work.control}",
            "-o",
            "ControlPersist=no",
            "--",
            self._target.host,
        )
        self._master = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + self._settings.connect_timeout + 1
        while not self._work.control.exists():
            if self._master.poll() is not None:
                stderr = decode(self._master.stderr.read())
                self._master = None
                raise _failure(stderr, self._target)
            if time.monotonic() > deadline:
                self._stop_master()
                raise SSHTimeout(
                    f"ssh master to {self._target.host}:{self._target.port} not ready within "
                    f"{self._settings.connect_timeout:g} s"
                )
            time.sleep(0.005)

    def exec(self, command: str, timeout: float) -> Result:
        if self._master is None:
            args = _ssh_args(self._target, self._work, self._settings)
            budget = self._settings.connect_timeout + timeout
        else:
            args = _ssh_args(
                self._target,
                self._work,
                self._settings,
                "-o",
                "ControlMaster=no",
                "-o",
                f"ControlPath={self._work.control}",
            )
            budget = timeout
        return _run([*args, "--", self._target.host, command], budget, self._target)

    def alive(self) -> bool:
        if self._master is None:
            return True
        return self._master.poll() is None and self._work.control.exists()

    def _stop_master(self) -> None:
        master, self._master = self._master, None
        if master is None:
            return
        if master.poll() is None:
            master.send_signal(signal.SIGTERM)
            try:
                master.wait(timeout=5)
            except subprocess.TimeoutExpired:
                master.kill()
                master.wait()
        if master.stderr:
            master.stderr.close()

    def close(self) -> None:
        self._stop_master()
        self._work.remove()


def connect(target: Target, settings: Settings) -> OpensshConnection:
    return OpensshConnection(target, settings, master=settings.connections == "pooled")
