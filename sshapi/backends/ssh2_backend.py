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
from ssh2.sftp import LIBSSH2_FXF_CREAT, LIBSSH2_FXF_READ, LIBSSH2_FXF_TRUNC, LIBSSH2_FXF_WRITE

from sshapi.backends.base import (
    Output,
    Result,
    exec_timeout,
    handshake_timeout,
    library_socket_options,
    open_socket,
    shutdown,
)
from sshapi.backends.sftp import CHUNK, WINDOW, FileStat, NamedCalls, RateGuard, SftpStatus
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


def _ms(dl: Deadline) -> int:
    """libssh2's timeout for the next blocking call (0 would mean none at all)."""
    return max(1, int(dl.left() * 1000))


class Ssh2Connection:
    max_channels = MAX_CHANNELS
    auth_span: tuple[float, float] | None = None

    def __init__(self, target: Target, settings: Settings, deadline: Deadline) -> None:
        global last_kex
        self._lock = threading.Lock()
        self._broken = False
        self._target = target
        self._max_output = settings.max_output_bytes
        # per-request: close() too must end by the request's deadline
        self._close_by = deadline.at if settings.connections == "per-request" else None
        host_key = parse_host_key(target.host_key)
        phase = Deadline(deadline.cap(settings.connect_timeout))
        self._sock = open_socket(
            target.host, target.port, settings.connect_timeout, phase, settings.allowed_networks
        )
        self._sock.settimeout(None)  # libssh2 wants a blocking socket; it times out itself
        err: Exception | None = None
        session = Session()
        # libssh2's timeout is per wait: a server dripping bytes never trips it
        alarm = arm(phase.at, self._abort)
        try:
            session.set_timeout(_ms(phase))
            # RSA: SHA-2 signatures only (host_key.algorithms())
            session.method_pref(LIBSSH2_METHOD_HOSTKEY, ",".join(host_key.algorithms()))
            session.handshake(self._sock)
            blob, _ = session.hostkey()
            if blob != host_key.blob:
                err = SSHHostKeyMismatch(
                    f"host key of {target.host}:{target.port} does not match the stored one"
                )
            else:
                session.set_timeout(_ms(phase))
                # libssh2 always sends a public-key query before the signed request, and
                # sshd pads every auth request to its per-user minimum time D (5-9.2 ms): an
                # ssh2 login waits 2*D where Paramiko's waits D (README, latency floor).
                t0 = time.time()
                session.userauth_publickey_frommemory(target.username, target.private_key)
                self.auth_span = (t0, time.time())
                last_kex = session.methods(LIBSSH2_METHOD_KEX)
        except x.SSH2Error as e:
            err = _translate(e, "SSH handshake/authentication", target)
        fired = alarm.cancel()
        if err is not None and (fired or phase.expired()):
            err = handshake_timeout(target.host, target.port, phase.seconds)
        if err is not None:
            shutdown(self._sock)  # freeing the session then cannot wait on the server
            session = None  # free the session while its socket is still open
            self._sock.close()
            raise err
        self._session = session

    def _abort(self) -> None:
        self._broken = True
        shutdown(self._sock)

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
                raise x.Timeout()
            self._session.set_timeout(_ms(dl))
            chan = self._session.open_session()
            chan.execute(command)
            for read, stderr in ((chan.read, False), (chan.read_stderr, True)):
                while True:  # stdout to EOF, then stderr (small outputs: no window stall)
                    self._session.set_timeout(_ms(dl))
                    size, data = read()
                    if size <= 0:
                        break
                    out.add(data, stderr)
                    if dl.expired():
                        raise x.Timeout()
            self._session.set_timeout(_ms(dl))
            chan.close()
            chan.wait_closed()
            status = chan.get_exit_status()
        except x.SSH2Error as e:
            err = _translate(e, f"running {command.split()[0]!r}", self._target)
        except OutputTooLarge as e:
            err = e.with_traceback(None)  # no traceback may keep the channel alive
        fired = alarm.cancel()
        if err is not None:
            if fired or dl.expired():
                err = exec_timeout(command, self._target.host, self._target.port, timeout)
            # the connection is done for: shut the socket first, so freeing the channel
            # (libssh2 sends CLOSE and waits for the server's) returns at once
            self._abort()
        read = None
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
                shutdown(self._sock)
            else:
                alarm = arm(time.monotonic() + grace, self._abort)
                try:
                    session.set_timeout(max(1, int(grace * 1000)))
                    session.disconnect()
                except x.SSH2Error:
                    pass
                alarm.cancel()
            session = None  # last reference: freed here, before the socket closes
        self._sock.close()

    def open_sftp(self, guard: RateGuard) -> Ssh2Sftp:
        """An SFTP session on this connection (issue 21; the class is at the end)."""
        return Ssh2Sftp(self, guard)


def connect(target: Target, settings: Settings, deadline: Deadline | None = None) -> Ssh2Connection:
    return Ssh2Connection(target, settings, deadline or Deadline(settings.connect_timeout))


# --- SFTP (issue 21) -----------------------------------------------------------------------
# The SFTP session holds the libssh2 session: it is dropped (close()) before the connection
# closes, and errors are translated outside `except` so no traceback keeps it alive.


def _sftp_error(e: Exception, sftp, guard: RateGuard, what: str) -> SSHFailure:
    if guard.fired or isinstance(e, x.Timeout | x.SocketTimeout | TimeoutError):
        return SSHTimeout(f"SFTP {what} fell below the minimum transfer rate or stalled")
    if isinstance(e, x.SFTPProtocolError) and sftp is not None:
        code = sftp.last_error()
        if code:
            return SftpStatus(code, f"SFTP {what} failed (status {code})")
    return SSHFailure(f"SFTP {what} failed: {type(e).__name__}")


class Ssh2Sftp(NamedCalls):
    def __init__(self, conn: Ssh2Connection, guard: RateGuard) -> None:
        self._conn = conn
        self._guard = guard
        guard.arm(conn._abort)
        self._sftp = None
        self._sftp = self._call("session start", lambda: conn._session.sftp_init())

    def _call(self, what: str, fn):
        err: Exception | None = None
        try:
            self._guard.check()
            self._conn._session.set_timeout(_ms_until(self._guard.due()))
            result = fn()
            self._guard.check()  # an aborted call may have returned as if at EOF
            return result
        except (x.SSH2Error, TimeoutError) as e:
            err = _sftp_error(e, self._sftp, self._guard, what)
        if isinstance(err, SSHTimeout) or not isinstance(err, SftpStatus):
            self._conn._abort()  # the connection is done for
        raise err

    def stat(self, path: str) -> FileStat:
        a = self._call(f"stat of {path!r}", lambda: self._sftp.stat(path))
        return FileStat(a.filesize, a.mtime, a.permissions)

    def read(self, path: str, offset: int, length: int):
        h = self._call(f"open of {path!r}", lambda: self._sftp.open(path, LIBSSH2_FXF_READ, 0))
        try:
            h.seek64(offset)
            left = length
            while left > 0:
                # libssh2 pipelines read requests up to the buffer it is given: a WINDOW per
                # call measured 24 MB/s where 256 KiB gave 17 (64 MiB file, loaded machine)
                want = min(WINDOW, left)
                size, data = self._call(f"read of {path!r}", lambda n=want: h.read(n))
                if size < 0:  # an error code ssh2-python returned instead of raising
                    self._conn._abort()
                    raise _sftp_error(
                        x.Timeout() if size == -9 else x.SSH2Error(),
                        None,
                        self._guard,
                        f"read of {path!r}",
                    )
                if size == 0:
                    break
                data = data[:left]
                left -= len(data)
                self._guard.add(len(data))
                for i in range(0, len(data), CHUNK):
                    yield data[i : i + CHUNK]
        finally:
            if not self._conn._broken:
                self._call(f"close of {path!r}", h.close)
            h = None

    def write(self, path: str, chunks, offset: int) -> int:
        flags = LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT | (LIBSSH2_FXF_TRUNC if offset == 0 else 0)
        h = self._call(f"open of {path!r}", lambda: self._sftp.open(path, flags, 0o644))
        total = 0
        try:
            h.seek64(offset)
            # libssh2 pipelines write requests up to the buffer it is given: a WINDOW at once
            for data in _gathered(chunks, WINDOW):
                view = memoryview(data)
                while view:
                    _, n = self._call(f"write of {path!r}", lambda v=view: h.write(bytes(v)))
                    view = view[n:]
                    total += n
                    self._guard.add(n)
            self._call(f"close of {path!r}", h.close)
        finally:
            h = None
        return total

    def close(self) -> None:
        # the SFTP channel is freed here, while the socket is open (libssh2 sends CLOSE)
        self._sftp = None
        self._guard.cancel()


def _gathered(chunks, size: int):
    """`chunks` regrouped into pieces of `size` bytes (the last one shorter). If the source
    fails (the HTTP client went away), what arrived before is still handed on, then the
    error: a resumed upload continues from every byte received."""
    buf = bytearray()
    it = iter(chunks)
    while True:
        try:
            chunk = next(it)
        except StopIteration:
            break
        except Exception:
            if buf:
                yield bytes(buf)
            raise
        buf += chunk
        if len(buf) >= size:
            yield bytes(buf)
            buf.clear()
    if buf:
        yield bytes(buf)


def _ms_until(at: float) -> int:
    return max(1, int((at - time.monotonic()) * 1000))
