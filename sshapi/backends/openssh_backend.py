"""The system OpenSSH client (`ssh`), one process per command.

Every call runs with `-F /dev/null` (no user config), BatchMode, only the stored key
(written 0600 into a private 0700 temp dir, removed after) and a known_hosts file holding
only the stored host key, with StrictHostKeyChecking=yes. Pooled mode keeps a ControlMaster
per connection (control socket in the same private dir) and runs commands through it.

ssh's own messages go to a log file per call (`-v -E FILE`), not to stderr: the command's
stderr stays the command's, errors are classified from the log, and the log says which key
exchange was negotiated (recorded in /healthz, as the other backends do).
"""

from __future__ import annotations

import os
import re
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from sshapi.backends.base import Output, Result, resolve, unreachable
from sshapi.deadline import Deadline
from sshapi.errors import (
    OutputTooLarge,
    SSHAuthFailed,
    SSHConnectionRefused,
    SSHFailure,
    SSHHostKeyMismatch,
    SSHTimeout,
)
from sshapi.keys import parse_host_key, runtime_dir
from sshapi.settings import Settings
from sshapi.store import Target

NAME = "openssh"
MAX_CHANNELS = 1000  # the master multiplexes; the pool's max-sessions-per-connection applies
ALIAS = "sshapi-target"  # HostKeyAlias: known_hosts is looked up by this name, not host:port
_KEX_RE = re.compile(r"kex: algorithm: (\S+)")
last_kex: str | None = None

_ERRORS = (  # (pattern in ssh's stderr, error class) for ssh's own exit status 255
    (re.compile(r"Permission denied|Too many authentication failures"), SSHAuthFailed),
    (re.compile(r"Connection refused"), SSHConnectionRefused),
    (
        re.compile(r"Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED"),
        SSHHostKeyMismatch,
    ),
    (re.compile(r"timed out|Operation timed out"), SSHTimeout),
)
# where ssh could not reach the destination: answered with the one text of base.unreachable
_UNREACHABLE = re.compile(
    r"Could not resolve hostname|No route to host|Network is unreachable|connect to host"
)


def socket_options() -> dict:
    # Measured with strace on OpenSSH 9.2 (Debian 12): ssh owns its socket, so sshapi
    # cannot set options on it; ssh sets TCP_NODELAY only once the session starts, so key
    # exchange and authentication run with Nagle's algorithm on.
    return {
        "TCP_NODELAY": 1,
        "SO_KEEPALIVE": 1,
        "when": "set by ssh itself: SO_KEEPALIVE at connect, TCP_NODELAY only after key "
        "exchange and authentication (ssh_packet_set_interactive)",
    }


def kex_info() -> dict:
    return {"offered": "OpenSSH client defaults (-F /dev/null)", "last_negotiated": last_kex}


class _Workdir:
    """A private 0700 dir with the key (0600) and a one-line known_hosts; removed on close."""

    def __init__(self, target: Target) -> None:
        host_key = parse_host_key(target.host_key)
        self.path = Path(tempfile.mkdtemp(prefix="k-", dir=runtime_dir()))  # 0700
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


def _ssh_args(
    target: Target, work: _Workdir, settings: Settings, log: Path, *extra: str, verbose=True
) -> list[str]:
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
    }
    # -v (debug1) for the kex line; a long-lived master stays quiet (its log would grow
    # with every multiplexed command), so pooled openssh does not record its kex
    level = ["-v"] if verbose else ["-o", "LogLevel=ERROR"]
    args = ["ssh", "-F", "/dev/null", "-T", *level, "-E", str(log)]
    args += ["-p", str(target.port), "-l", target.username]
    for k, v in opts.items():
        args += ["-o", f"{k}={v}"]
    return [*args, *extra]


def _read_log(log: Path) -> str:
    """ssh's messages for one call; the file is removed once read."""
    global last_kex
    try:
        text = log.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    log.unlink(missing_ok=True)
    if m := _KEX_RE.search(text):
        last_kex = m.group(1)
    return text


def _failure(log: str, target: Target) -> SSHFailure:
    where = f"{target.username}@{target.host}:{target.port}"
    messages = [ln for ln in log.splitlines() if ln.strip() and not ln.startswith("debug")]
    last = messages[-1] if messages else "no message"
    refused_or_slow = re.compile(r"Connection refused|timed out")  # keep their own codes
    if any(_UNREACHABLE.search(ln) for ln in messages) and not any(
        refused_or_slow.search(ln) for ln in messages
    ):
        return unreachable(target.host, target.port)
    for pattern, cls in _ERRORS:
        if any(pattern.search(ln) for ln in messages):
            return cls(f"ssh to {where}: {last}")
    return SSHFailure(f"ssh to {where} failed: {last}")


def child_env() -> dict[str, str]:
    """ssh's environment: ours without SSHAPI_* (above all not SSHAPI_SECRET_KEY)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SSHAPI_")}


def _pump(proc: subprocess.Popen, out: Output, dl: Deadline) -> None:
    """Read stdout and stderr as they come until both end; TimeoutError at the deadline,
    OutputTooLarge past the cap (the caller kills ssh)."""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ, False)
        sel.register(proc.stderr, selectors.EVENT_READ, True)
        while sel.get_map():
            if dl.expired():
                raise TimeoutError
            for key, _ in sel.select(dl.left()):
                data = os.read(key.fd, 65536)
                if data:
                    out.add(data, stderr=key.data)
                else:
                    sel.unregister(key.fileobj)
    try:
        proc.wait(timeout=max(0.0, dl.left()))
    except subprocess.TimeoutExpired:
        raise TimeoutError from None


def _run(args: list[str], log: Path, dl: Deadline, limit: int, target: Target) -> Result:
    """Run one ssh; exit status 255 is ssh's own failure (uptime and ls never return 255)."""
    proc = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(),
    )
    out = Output(limit)
    err: SSHFailure | None = None
    try:
        _pump(proc, out, dl)
    except OutputTooLarge as e:
        err = e
    except TimeoutError:
        err = SSHTimeout(
            f"ssh to {target.host}:{target.port} did not finish within {dl.seconds:.3g} s"
        )
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    messages = _read_log(log)
    if err is not None:
        raise err
    if proc.returncode == 255:
        raise _failure(messages, target)
    return out.result(proc.returncode)


class OpensshConnection:
    """Per-request: `exec` runs one full `ssh` (connect, auth, command, close).
    Pooled: a ControlMaster process holds the connection; `exec` goes through its socket."""

    max_channels = MAX_CHANNELS
    auth_span: tuple[float, float] | None = None  # inside `ssh`: not separable

    def __init__(
        self, target: Target, settings: Settings, master: bool, deadline: Deadline
    ) -> None:
        self._target, self._settings = target, settings
        self._deadline = deadline  # per-request: connect happens inside exec, by this time
        self._broken = False
        self._dest = target.host
        if settings.allowed_networks:  # connect to the address checked, not the name again
            self._dest = resolve(target.host, target.port, deadline, settings.allowed_networks)[0][
                4
            ][0]
        self._work = _Workdir(target)
        self._master: subprocess.Popen | None = None
        if master:
            try:
                self._start_master(Deadline(deadline.cap(settings.connect_timeout)))
            except BaseException:
                self._work.remove()
                raise

    def _start_master(self, phase: Deadline) -> None:
        log = self._work.path / "master.log"
        args = _ssh_args(
            self._target,
            self._work,
            self._settings,
            log,
            "-N",
            "-o",
            "ControlMaster=yes",
            "-o",
            f"ControlPath={self._work.control}",
            "-o",
            "ControlPersist=no",
            "--",
            self._dest,
            verbose=False,
        )
        self._master = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=child_env(),
        )
        while not self._work.control.exists():
            if self._master.poll() is not None:
                self._master = None
                raise _failure(_read_log(log), self._target)
            if phase.expired():
                self._stop_master()
                _read_log(log)
                raise SSHTimeout(
                    f"ssh master to {self._target.host}:{self._target.port} not ready within "
                    f"{phase.seconds:.3g} s"
                )
            time.sleep(0.005)

    def exec(self, command: str, timeout: float) -> Result:
        if self._broken:
            raise SSHFailure(f"connection to {self._target.host}:{self._target.port} was closed")
        log = self._work.path / f"{uuid.uuid4().hex}.log"  # one per call: calls run in parallel
        if self._master is None:
            args = _ssh_args(self._target, self._work, self._settings, log)
            dl = Deadline(min(self._settings.connect_timeout + timeout, self._deadline.left()))
        else:
            args = _ssh_args(
                self._target,
                self._work,
                self._settings,
                log,
                "-o",
                "ControlMaster=no",
                "-o",
                f"ControlPath={self._work.control}",
            )
            dl = Deadline(timeout)
        try:
            return _run(
                [*args, "--", self._dest, command],
                log,
                dl,
                self._settings.max_output_bytes,
                self._target,
            )
        except (SSHTimeout, OutputTooLarge):
            # the connection goes too: a pool must not reuse a master the server stalls
            self._broken = True
            self._stop_master()
            raise

    def alive(self) -> bool:
        if self._broken:
            return False
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
                master.wait(timeout=1)
            except subprocess.TimeoutExpired:
                master.kill()
                master.wait()

    def close(self) -> None:
        self._stop_master()
        self._work.remove()


def connect(
    target: Target, settings: Settings, deadline: Deadline | None = None
) -> OpensshConnection:
    return OpensshConnection(
        target,
        settings,
        master=settings.connections == "pooled",
        deadline=deadline or Deadline(settings.connect_timeout + settings.command_timeout),
    )
