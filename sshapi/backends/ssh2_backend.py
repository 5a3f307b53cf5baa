"""ssh2-python (libssh2), the study's library.

libssh2 pitfalls handled here (NOTES.md): a Session that outlives its socket can make a
later socket with the same fd number blocking and hang a thread forever, so every channel
and session is dropped before the socket is closed, and exceptions are translated outside
the `except` block so no traceback keeps a session alive. A libssh2 session must not be
used by two threads at once: one channel at a time per connection (`max_channels = 1`).
"""

from __future__ import annotations

import threading
import time

from ssh2 import exceptions as x
from ssh2.session import LIBSSH2_METHOD_HOSTKEY, LIBSSH2_METHOD_KEX, Session

from sshapi.backends.base import Result, decode, library_socket_options, open_socket
from sshapi.errors import (
    SSHAuthFailed,
    SSHFailure,
    SSHHostKeyMismatch,
    SSHTimeout,
)
from sshapi.keys import parse_host_key
from sshapi.settings import Settings
from sshapi.store import Target

NAME = "ssh2"
MAX_CHANNELS = 1  # a libssh2 session must not be used by two threads at once
last_kex: str | None = None

_AUTH_ERRORS = (
    x.AuthenticationError,
    x.PublicKeyError,
    x.PublickeyUnverifiedError,
    x.KeyfileAuthFailedError,
    x.FileError,
)


def kex_info() -> dict:
    """libssh2's default key exchange list; the last negotiated one in this process."""
    return {"offered": "libssh2 defaults", "last_negotiated": last_kex}


def socket_options() -> dict:
    return library_socket_options()


def _translate(e: Exception, phase: str, target: Target) -> SSHFailure:
    where = f"{target.username}@{target.host}:{target.port}"
    if isinstance(e, x.Timeout | x.SocketTimeout | TimeoutError):
        return SSHTimeout(f"{phase} with {where} timed out")
    if isinstance(e, _AUTH_ERRORS):
        return SSHAuthFailed(f"{where} refused the key ({type(e).__name__})")
    return SSHFailure(f"{phase} with {where} failed: {type(e).__name__} {e}".strip())


class Ssh2Connection:
    max_channels = MAX_CHANNELS

    def __init__(self, target: Target, settings: Settings) -> None:
        global last_kex
        self._lock = threading.Lock()
        self._broken = False
        self._target = target
        host_key = parse_host_key(target.host_key)
        self._sock = open_socket(target.host, target.port, settings.connect_timeout)
        self._sock.settimeout(None)  # libssh2 wants a blocking socket; it times out itself
        err: Exception | None = None
        session = Session()
        try:
            session.set_timeout(int(settings.connect_timeout * 1000))
            session.method_pref(LIBSSH2_METHOD_HOSTKEY, ",".join(host_key.algorithms()))
            session.handshake(self._sock)
            blob, _ = session.hostkey()
            if blob != host_key.blob:
                err = SSHHostKeyMismatch(
                    f"host key of {target.host}:{target.port} does not match the stored one"
                )
            else:
                session.userauth_publickey_frommemory(target.username, target.private_key)
                last_kex = session.methods(LIBSSH2_METHOD_KEX)
        except x.SSH2Error as e:
            err = _translate(e, "SSH handshake/authentication", target)
        if err is not None:
            session = None  # free the session while its socket is still open
            self._sock.close()
            raise err
        self._session = session

    def exec(self, command: str, timeout: float) -> Result:
        with self._lock:
            return self._exec(command, timeout)

    def _exec(self, command: str, timeout: float) -> Result:
        deadline = time.monotonic() + timeout
        err: Exception | None = None
        out, errs, status = [], [], -1
        chan = None
        try:
            self._session.set_timeout(int(timeout * 1000))
            chan = self._session.open_session()
            chan.execute(command)
            while True:  # stdout to EOF, then stderr (small outputs: no window stall)
                size, data = chan.read()
                if size <= 0:
                    break
                out.append(data)
                if time.monotonic() > deadline:
                    raise x.Timeout()
            while True:
                size, data = chan.read_stderr()
                if size <= 0:
                    break
                errs.append(data)
            chan.close()
            chan.wait_closed()
            status = chan.get_exit_status()
        except x.SSH2Error as e:
            self._broken = True
            err = _translate(e, f"running {command.split()[0]!r}", self._target)
        finally:
            chan = None
        if err is not None:
            raise err
        return Result(decode(b"".join(out)), decode(b"".join(errs)), status)

    def alive(self) -> bool:
        return not self._broken

    def close(self) -> None:
        session, self._session = getattr(self, "_session", None), None
        if session is not None:
            try:
                session.set_timeout(1000)
                session.disconnect()
            except x.SSH2Error:
                pass
            session = None  # last reference: freed here, before the socket closes
        self._sock.close()


def connect(target: Target, settings: Settings) -> Ssh2Connection:
    return Ssh2Connection(target, settings)
