"""ssh-python (libssh 0.11), the libssh bindings by ssh2-python's author; parallel-ssh offers
it as its alternative client (its default is ssh2-python).

libssh pitfalls handled here (NOTES.md has ssh2-python's fd-reuse hang; libssh has its own
form of it): libssh owns the descriptor it is given and closes it when the session is freed,
so the Python socket is detached and handed over as a bare fd; a `dup` of it is kept only to
shut the connection down from the alarm thread (shutdown acts on the socket, not the fd
number, and closing the dup never closes libssh's fd). Every channel and the session are
dropped in the function or object that made them, exceptions are translated outside the
`except` block so no traceback keeps a session alive, and one thread at a time uses a
session (`max_channels = 1`, like libssh2). libssh's own timeouts are per wait (and its
numeric options cannot be set safely through these bindings), so the request's alarm holds
every phase to its deadline, and reads wait in short slices.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time

from ssh import exceptions as x
from ssh import options
from ssh.key import import_privkey_base64
from ssh.session import Session

from sshapi.backends.base import (
    Output,
    Result,
    exec_timeout,
    handshake_timeout,
    library_socket_options,
    open_socket,
    shutdown,
)
from sshapi.backends.sftp import CHUNK, FX_FAILURE, FileStat, NamedCalls, RateGuard, SftpStatus
from sshapi.deadline import Deadline, arm
from sshapi.errors import (
    OutputTooLarge,
    SSHAuthFailed,
    SSHFailure,
    SSHHostKeyMismatch,
    SSHTimeout,
)
from sshapi.keys import parse_host_key
from sshapi.settings import Settings
from sshapi.store import Target

NAME = "ssh-python"
MAX_CHANNELS = 1  # a libssh session must not be used by two threads at once
READ_SLICE_MS = 250  # a read waits at most this long before the deadline is checked again
last_kex: str | None = None

_AUTH_ERRORS = (x.AuthenticationDenied, x.AuthenticationError, x.AuthenticationPartial)


def kex_info() -> dict:
    """libssh's default key exchange list; the last negotiated one in this process."""
    return {"offered": "libssh defaults", "last_negotiated": last_kex}


def socket_options() -> dict:
    return library_socket_options()


def _translate(e: Exception, phase: str, target: Target) -> SSHFailure:
    where = f"{target.username}@{target.host}:{target.port}"
    if isinstance(e, _AUTH_ERRORS):
        return SSHAuthFailed(f"{where} refused the key ({type(e).__name__})")
    return SSHFailure(f"{phase} with {where} failed: {type(e).__name__} {e}".strip())


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


class SshPythonConnection:
    max_channels = MAX_CHANNELS
    auth_span: tuple[float, float] | None = None

    def __init__(self, target: Target, settings: Settings, deadline: Deadline) -> None:
        global last_kex
        self._lock = threading.Lock()
        self._broken = False
        self._target = target
        self._max_output = settings.max_output_bytes
        self._close_by = deadline.at if settings.connections == "per-request" else None
        host_key = parse_host_key(target.host_key)
        phase = Deadline(deadline.cap(settings.connect_timeout))
        sock = open_socket(
            target.host, target.port, settings.connect_timeout, phase, settings.allowed_networks
        )
        # libssh closes the fd it is given: it gets the bare fd; we keep a dup to shut it down
        self._waker = socket.socket(fileno=os.dup(sock.fileno()))
        fd = sock.detach()
        handed = False  # libssh takes the fd over in ssh_connect; before that it is ours
        err: Exception | None = None
        session = Session()
        alarm = arm(phase.at, self._abort)
        try:
            session.options_set(options.HOST, target.host)
            # no ssh_config files (libssh reads them at connect unless one was parsed)
            session.options_parse_config(os.devnull)
            session.options_set_port(target.port)
            session.options_set(options.USER, target.username)
            # only the stored key's type (RSA: SHA-2 signatures only)
            session.options_set(options.HOSTKEYS, ",".join(host_key.algorithms()))
            session.set_socket(fd)
            handed = True
            session.connect()
            server_key = session.get_server_publickey()
            if server_key.export_pubkey_base64() != host_key.base64.encode():
                err = SSHHostKeyMismatch(
                    f"host key of {target.host}:{target.port} does not match the stored one"
                )
            else:
                # libssh sends the signed request at once (no "would this key do?" query
                # first, unlike libssh2): one wait for sshd's per-user minimum time D
                key = import_privkey_base64(target.private_key)
                t0 = time.time()
                session.userauth_publickey(key)
                self.auth_span = (t0, time.time())
                key = None
                last_kex = _text(session.get_kex_algo())
            server_key = None
        except x.BaseSSHError as e:
            err = _translate(e, "SSH handshake/authentication", target)
        fired = alarm.cancel()
        if err is not None and (fired or phase.expired()):
            err = handshake_timeout(target.host, target.port, phase.seconds)
        if err is not None:
            shutdown(self._waker)  # freeing the session then cannot wait on the server
            session = None  # freed here: libssh closes its fd
            if not handed:
                os.close(fd)
            self._waker.close()
            raise err
        self._session = session

    def _abort(self) -> None:
        self._broken = True
        shutdown(self._waker)

    def exec(self, command: str, timeout: float) -> Result:
        with self._lock:
            return self._exec(command, timeout)

    def _exec(self, command: str, timeout: float) -> Result:
        dl = Deadline(timeout)
        out = Output(self._max_output)
        err: Exception | None = None
        status = -1
        chan = None
        alarm = arm(dl.at, self._abort)
        try:
            if dl.expired():
                raise TimeoutError
            chan = self._session.channel_new()
            chan.open_session()
            chan.request_exec(command)
            _read(chan, out, dl)
            chan.send_eof()
            status = chan.get_exit_status()
            chan.close()
        except x.BaseSSHError as e:
            err = _translate(e, f"running {command.split()[0]!r}", self._target)
        except (OutputTooLarge, TimeoutError) as e:
            err = e.with_traceback(None)  # no traceback may keep the channel alive
        fired = alarm.cancel()
        if err is not None:
            if fired or dl.expired() or isinstance(err, TimeoutError):
                err = exec_timeout(command, self._target.host, self._target.port, timeout)
            # the connection is done for: shut it first, so freeing the channel returns at once
            self._abort()
        chan = None
        if err is not None:
            raise err
        return out.result(status)

    def alive(self) -> bool:
        return not self._broken

    def close(self) -> None:
        session, self._session = getattr(self, "_session", None), None
        if session is not None:
            grace = 1.0
            if self._close_by is not None:
                grace = min(grace, self._close_by - time.monotonic())
            if self._broken or grace <= 0:
                shutdown(self._waker)
            else:
                # ssh_free sends the disconnect message; the alarm bounds a server that
                # does not read it
                alarm = arm(time.monotonic() + grace, self._abort)
                session = None
                alarm.cancel()
            session = None  # last reference: libssh frees the session and closes its fd
        with contextlib.suppress(OSError):
            self._waker.close()

    def open_sftp(self, guard: RateGuard) -> SshPythonSftp:
        """An SFTP session on this connection (issue 21; the class is at the end)."""
        return SshPythonSftp(self, guard)


def _chunk(read, *args) -> tuple[int, bytes]:
    """One read; libssh answers SSH_EOF (raised as EOF) once a stream is drained."""
    try:
        return read(*args)
    except x.EOF:
        return 0, b""


def _read(chan, out: Output, dl: Deadline) -> None:
    """stdout to EOF, with stderr taken as it comes (so a flood on either meets the cap), then
    the rest of stderr. Reads wait in short slices so the deadline is checked between them."""
    while True:
        if dl.expired():
            raise TimeoutError
        ms = max(1, min(READ_SLICE_MS, int(dl.left() * 1000)))
        size, data = _chunk(chan.read_timeout, ms, 65536, False)
        if size > 0:
            out.add(data)
        while True:
            size_err, data_err = _chunk(chan.read_nonblocking, 65536, True)
            if size_err <= 0:
                break
            out.add(data_err, stderr=True)
        if size <= 0 and chan.is_eof():
            break
    while True:
        if dl.expired():
            raise TimeoutError
        ms = max(1, min(READ_SLICE_MS, int(dl.left() * 1000)))
        size, data = _chunk(chan.read_timeout, ms, 65536, True)
        if size > 0:
            out.add(data, stderr=True)
        elif chan.is_eof() or chan.is_closed():
            return


def connect(
    target: Target, settings: Settings, deadline: Deadline | None = None
) -> SshPythonConnection:
    return SshPythonConnection(target, settings, deadline or Deadline(settings.connect_timeout))


# --- SFTP (issue 21) -----------------------------------------------------------------------
# libssh's SFTP calls block; the guard's alarm shuts the socket down to end one that waits
# past the transfer's due time. Statuses come from sftp_get_error(). The SFTP session and
# every file handle are dropped before the connection is (close()), as for channels.


class SshPythonSftp(NamedCalls):
    def __init__(self, conn: SshPythonConnection, guard: RateGuard) -> None:
        self._conn = conn
        self._guard = guard
        guard.arm(conn._abort)
        self._sftp = None
        sftp = self._call("session start", conn._session.sftp_init)
        if isinstance(sftp, int):  # ssh-python returns libssh's error code here, no raise
            conn._abort()
            raise SSHFailure(f"SFTP session start failed (libssh error {sftp})")
        self._sftp = sftp

    def _call(self, what: str, fn):
        try:
            self._guard.check()
            result = fn()
            self._guard.check()  # an aborted call may have returned as if at EOF
            return result
        except (x.BaseSSHError, TimeoutError) as e:
            err = self._error(e, what)
        if not isinstance(err, SftpStatus):
            self._conn._abort()  # the connection is done for
        raise err

    def _error(self, e: BaseException, what: str) -> SSHFailure:
        if self._guard.fired or isinstance(e, TimeoutError):
            return SSHTimeout(f"SFTP {what} fell below the minimum transfer rate or stalled")
        # libssh raises some statuses as SSHError (mkdir of an existing name: its code 11)
        code = self._sftp.get_error() if self._sftp is not None else 0
        if isinstance(e, x.SFTPError | x.SFTPHandleError) or (code and not self._conn._broken):
            code = code or FX_FAILURE
            return SftpStatus(code, f"SFTP {what} failed (status {code})")
        return SSHFailure(f"SFTP {what} failed: {type(e).__name__}")

    def stat(self, path: str) -> FileStat:
        a = self._call(f"stat of {path!r}", lambda: self._sftp.stat(path))
        return FileStat(a.size or 0, a.mtime or 0, a.permissions or 0)

    def read(self, path: str, offset: int, length: int):
        f = self._call(f"open of {path!r}", lambda: self._sftp.open(path, os.O_RDONLY, 0))
        try:
            f.seek64(offset)
            left = length
            while left > 0:
                want = min(CHUNK, left)
                size, data = self._call(f"read of {path!r}", lambda n=want: _chunk(f.read, n))
                if size <= 0:
                    break
                data = data[:left]
                left -= len(data)
                self._guard.add(len(data))
                yield data
        finally:
            if not self._conn._broken:
                self._call(f"close of {path!r}", f.close)
            f = None

    def write(self, path: str, chunks, offset: int) -> int:
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if offset == 0 else 0)
        f = self._call(f"open of {path!r}", lambda: self._sftp.open(path, flags, 0o644))
        total = 0
        try:
            f.seek64(offset)
            for chunk in chunks:
                view = memoryview(chunk)
                while view:
                    n = self._call(f"write of {path!r}", lambda v=view: f.write(bytes(v)))
                    n = n[1] if isinstance(n, tuple) else n
                    view = view[n:]
                    total += n
                    self._guard.add(n)
            self._call(f"close of {path!r}", f.close)
        finally:
            f = None
        return total

    def close(self) -> None:
        self._sftp = None  # freed here, while the connection is open
        self._guard.cancel()
