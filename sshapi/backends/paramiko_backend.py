"""Paramiko, pure Python SSH. A Transport is thread-safe and carries several channels at
once, so a pooled connection may run up to max-sessions-per-connection commands together."""

from __future__ import annotations

import io
import logging
import socket
import time

import paramiko

from sshapi.backends.base import (
    Output,
    Result,
    exec_timeout,
    handshake_timeout,
    library_socket_options,
    open_socket,
    shutdown,
)
from sshapi.deadline import Deadline, arm
from sshapi.errors import (
    OutputTooLarge,
    SSHAuthFailed,
    SSHFailure,
    SSHHostKeyMismatch,
    SSHTimeout,
)
from sshapi.keys import load_once, parse_host_key, rsa_key_unchecked
from sshapi.settings import Settings
from sshapi.store import Target

NAME = "paramiko"
MAX_CHANNELS = 1000  # no limit of its own: the pool's max-sessions-per-connection applies
last_kex: str | None = None

# Paramiko logs a traceback at ERROR for every dropped connection; we report errors ourselves.
logging.getLogger("paramiko").setLevel(logging.CRITICAL)

_KEY_CLASSES = (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey)


def socket_options() -> dict:
    return library_socket_options()


def kex_info() -> dict:
    return {"offered": "paramiko defaults", "last_negotiated": last_kex}


class _Transport(paramiko.Transport):
    """Remembers the negotiated key exchange, which Paramiko only logs (at DEBUG)."""

    kex_name: str | None = None

    def _parse_kex_init(self, m):
        super()._parse_kex_init(m)
        # the agreed kex is the client's first preference whose engine was chosen
        engine = type(self.kex_engine)
        names = [n for n in self.preferred_kex if self._kex_info.get(n) is engine]
        self.kex_name = names[0] if names else engine.__name__


def _load_key(data: bytes) -> paramiko.PKey:
    rsa_key = rsa_key_unchecked(data)  # Paramiko's own load would run OpenSSL's slow check
    if rsa_key is not None:
        return paramiko.RSAKey(key=rsa_key)
    for cls in _KEY_CLASSES:
        try:
            return cls.from_private_key(io.StringIO(data.decode()))
        except (paramiko.SSHException, ValueError):
            continue
    raise SSHAuthFailed("stored private key cannot be read by paramiko")


def _translate(e: BaseException, phase: str, target: Target) -> SSHFailure:
    where = f"{target.username}@{target.host}:{target.port}"
    cause = e.__cause__ or e.__context__
    if isinstance(e, TimeoutError | socket.timeout) or isinstance(cause, TimeoutError):
        return SSHTimeout(f"{phase} with {where} timed out")
    if isinstance(e, paramiko.AuthenticationException):
        return SSHAuthFailed(f"{where} refused the key ({type(e).__name__})")
    return SSHFailure(f"{phase} with {where} failed: {type(e).__name__} {e}".strip())


class ParamikoConnection:
    max_channels = MAX_CHANNELS
    auth_span: tuple[float, float] | None = None

    def __init__(self, target: Target, settings: Settings, deadline: Deadline) -> None:
        global last_kex
        self._target = target
        self._max_output = settings.max_output_bytes
        self._broken = False
        host_key = parse_host_key(target.host_key)
        # connect + handshake + auth: within connect_timeout and the request's deadline
        phase = Deadline(deadline.cap(settings.connect_timeout))
        sock = open_socket(
            target.host, target.port, settings.connect_timeout, phase, settings.allowed_networks
        )
        t = _Transport(sock)
        t.banner_timeout = t.handshake_timeout = t.auth_timeout = max(phase.left(), 0.001)
        options = t.get_security_options()
        # only algorithms for the stored key's type (RSA: SHA-2 signatures only)
        options.key_types = [a for a in host_key.algorithms() if a in options.key_types]
        err: SSHFailure | None = None
        # Paramiko's timeouts are per step (banner, kex, auth): a server that drips bytes
        # passes each of them; the alarm holds the whole phase to the deadline
        alarm = arm(phase.at, lambda: shutdown(sock))
        try:
            t.start_client(timeout=max(phase.left(), 0.001))
            if t.get_remote_server_key().asbytes() != host_key.blob:
                err = SSHHostKeyMismatch(
                    f"host key of {target.host}:{target.port} does not match the stored one"
                )
            else:
                t.auth_timeout = max(phase.left(), 0.001)
                key = load_once(target.private_key, _load_key)
                t0 = time.time()
                t.auth_publickey(target.username, key)
                self.auth_span = (t0, time.time())
                last_kex = t.kex_name
        except SSHFailure as e:
            err = e
        except (paramiko.SSHException, OSError, EOFError) as e:
            err = _translate(e, "SSH handshake/authentication", target)
        fired = alarm.cancel()
        if err is not None and (fired or phase.expired()):
            # the transport thread's banner/handshake timeout does not always reach
            # start_client as a timeout ("No existing session"): judge by the clock
            err = handshake_timeout(target.host, target.port, phase.seconds)
        if err is not None:
            t.close()
            raise err
        self._t = t

    def exec(self, command: str, timeout: float) -> Result:
        dl = Deadline(timeout)
        out = Output(self._max_output)
        err: SSHFailure | None = None
        status = -1
        alarm = arm(dl.at, self._abort)  # exec_command waits for the server without a timeout
        try:
            if dl.expired():
                raise TimeoutError
            chan = self._t.open_session(timeout=max(dl.left(), 0.001))
            try:
                chan.exec_command(command)
                _read(chan, out, dl)
                if not chan.status_event.wait(max(0.0, dl.left())):
                    raise TimeoutError
                status = chan.recv_exit_status()
            finally:
                chan.close()
        except OutputTooLarge as e:
            err = e
        except (paramiko.SSHException, OSError, EOFError) as e:
            err = _translate(e, f"running {command.split()[0]!r}", self._target)
        fired = alarm.cancel()
        if err is not None:
            if fired or dl.expired():
                err = exec_timeout(command, self._target.host, self._target.port, timeout)
            if isinstance(err, SSHTimeout | OutputTooLarge):
                self._abort()  # the transport goes too: a pool must not reuse it
            raise err
        return out.result(status)

    def _abort(self) -> None:
        self._broken = True
        shutdown(self._t.sock)

    def alive(self) -> bool:
        return not self._broken and self._t.is_active()

    def close(self) -> None:
        self._t.close()  # does not wait for the server: the packetizer is closed first


def _read(chan: paramiko.Channel, out: Output, dl: Deadline) -> None:
    """stdout to EOF, stderr as it comes (so a flood on either one meets the cap), then the
    rest of stderr. Short waits: stderr data does not wake a reader waiting on stdout."""
    while True:
        if dl.expired():
            raise TimeoutError
        chan.settimeout(min(dl.left(), 0.25))
        try:
            data = chan.recv(65536)
        except TimeoutError:
            data = None
        while chan.recv_stderr_ready():
            out.add(chan.recv_stderr(65536), stderr=True)
        if data == b"":
            break
        if data:
            out.add(data)
    while True:
        chan.settimeout(max(dl.left(), 0.001))
        data = chan.recv_stderr(65536)
        if not data:
            return
        out.add(data, stderr=True)


def connect(
    target: Target, settings: Settings, deadline: Deadline | None = None
) -> ParamikoConnection:
    return ParamikoConnection(target, settings, deadline or Deadline(settings.connect_timeout))
