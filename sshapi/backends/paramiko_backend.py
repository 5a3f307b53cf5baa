"""Paramiko, pure Python SSH. A Transport is thread-safe and carries several channels at
once, so a pooled connection may run up to max-sessions-per-connection commands together."""

from __future__ import annotations

import io
import logging
import socket
import time

import paramiko

from sshapi.backends.base import Result, decode, library_socket_options, open_socket
from sshapi.errors import SSHAuthFailed, SSHFailure, SSHHostKeyMismatch, SSHTimeout
from sshapi.keys import parse_host_key
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

    def __init__(self, target: Target, settings: Settings) -> None:
        global last_kex
        self._target = target
        host_key = parse_host_key(target.host_key)
        sock = open_socket(target.host, target.port, settings.connect_timeout)
        t = _Transport(sock)
        t.banner_timeout = t.handshake_timeout = t.auth_timeout = settings.connect_timeout
        options = t.get_security_options()
        # only algorithms for the stored key's type (Paramiko 5 has no SHA-1 "ssh-rsa")
        options.key_types = [a for a in host_key.algorithms() if a in options.key_types]
        err: SSHFailure | None = None
        start = time.monotonic()
        try:
            t.start_client(timeout=settings.connect_timeout)
            if t.get_remote_server_key().asbytes() != host_key.blob:
                err = SSHHostKeyMismatch(
                    f"host key of {target.host}:{target.port} does not match the stored one"
                )
            else:
                t.auth_publickey(target.username, _load_key(target.private_key))
                last_kex = t.kex_name
        except SSHFailure as e:
            err = e
        except (paramiko.SSHException, OSError, EOFError) as e:
            err = _translate(e, "SSH handshake/authentication", target)
            if time.monotonic() - start >= settings.connect_timeout * 0.95:
                # the transport thread's banner/handshake timeout does not always reach
                # start_client as a timeout ("No existing session"): judge by the clock
                err = SSHTimeout(
                    f"SSH handshake with {target.host}:{target.port} timed out after "
                    f"{settings.connect_timeout:g} s"
                )
        if err is not None:
            t.close()
            raise err
        self._t = t

    def exec(self, command: str, timeout: float) -> Result:
        deadline = time.monotonic() + timeout
        err: SSHFailure | None = None
        try:
            chan = self._t.open_session(timeout=timeout)
            try:
                chan.settimeout(timeout)
                chan.exec_command(command)
                out, errs = [], []
                while data := chan.recv(65536):
                    out.append(data)
                while data := chan.recv_stderr(65536):
                    errs.append(data)
                if not chan.status_event.wait(max(0.0, deadline - time.monotonic())):
                    raise TimeoutError
                status = chan.recv_exit_status()
            finally:
                chan.close()
        except (paramiko.SSHException, OSError, EOFError) as e:
            err = _translate(e, f"running {command.split()[0]!r}", self._target)
        if err is not None:
            raise err
        return Result(decode(b"".join(out)), decode(b"".join(errs)), status)

    def alive(self) -> bool:
        return self._t.is_active()

    def close(self) -> None:
        self._t.close()


def connect(target: Target, settings: Settings) -> ParamikoConnection:
    return ParamikoConnection(target, settings)
