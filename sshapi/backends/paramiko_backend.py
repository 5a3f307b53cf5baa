"""Paramiko, pure Python SSH. A Transport is thread-safe and carries several channels at
once, so a pooled connection may run up to max-sessions-per-connection commands together."""

from __future__ import annotations

import contextlib
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
from sshapi.backends.sftp import (
    CHUNK,
    FX_FAILURE,
    FX_NO_SUCH_FILE,
    FX_PERMISSION_DENIED,
    WINDOW,
    FileStat,
    RateGuard,
    SftpStatus,
    windows,
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

    def open_sftp(self, guard: RateGuard) -> ParamikoSftp:
        """An SFTP session on this connection (issue 21; the class is at the end)."""
        return ParamikoSftp(self, guard)


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


# --- SFTP (issue 21) -----------------------------------------------------------------------
# Paramiko raises SFTP statuses as OSError: FileNotFoundError (no such file),
# PermissionError, or a bare OSError without errno (any other status). Reads go through
# readv() one WINDOW at a time: its prefetch keeps that window in flight and never more
# (prefetch() of a whole file would buffer all of it if the HTTP side reads slowly).
READ_BLOCK = 32768  # Paramiko's largest single SFTP read


class ParamikoSftp:
    def __init__(self, conn: ParamikoConnection, guard: RateGuard) -> None:
        self._conn = conn
        self._guard = guard
        guard.arm(conn._abort)
        self._sftp = self._call("session start", conn._t.open_sftp_client)

    def _call(self, what: str, fn):
        try:
            self._guard.check()
            self._sftp_timeout()
            result = fn()
            self._guard.check()  # an aborted call may have returned as if at EOF
            return result
        except (OSError, EOFError, paramiko.SSHException, TimeoutError) as e:
            err = self._error(e, what)
        if not isinstance(err, SftpStatus):
            self._conn._abort()  # the connection is done for
        raise err

    def _sftp_timeout(self) -> None:
        sftp = getattr(self, "_sftp", None)
        if sftp is not None:  # one wait; the guard bounds the whole transfer
            sftp.get_channel().settimeout(max(0.001, self._guard.due() - time.monotonic()))

    def _error(self, e: BaseException, what: str) -> SSHFailure:
        if self._guard.fired or isinstance(e, TimeoutError):
            return SSHTimeout(f"SFTP {what} fell below the minimum transfer rate or stalled")
        code = None
        if isinstance(e, FileNotFoundError):
            code = FX_NO_SUCH_FILE
        elif isinstance(e, PermissionError):
            code = FX_PERMISSION_DENIED
        elif type(e) is OSError and e.errno is None:
            code = FX_FAILURE
        if code is not None:
            return SftpStatus(code, f"SFTP {what} failed (status {code})")
        return SSHFailure(f"SFTP {what} failed: {type(e).__name__}")

    def stat(self, path: str) -> FileStat:
        a = self._call(f"stat of {path!r}", lambda: self._sftp.stat(path))
        return FileStat(a.st_size or 0, a.st_mtime or 0, a.st_mode or 0)

    def read(self, path: str, offset: int, length: int):
        f = self._call(f"open of {path!r}", lambda: self._sftp.open(path, "rb"))
        try:
            size = self._call(f"stat of {path!r}", f.stat).st_size or 0
            length = max(0, min(length, size - offset))  # readv past the end fails
            for start, n in windows(offset, length, WINDOW):
                pieces = list(windows(start, n, READ_BLOCK))
                blocks = self._call(f"read of {path!r}", lambda p=pieces: f.readv(p))
                buf: list[bytes] = []
                got = 0
                while True:
                    block = self._call(f"read of {path!r}", lambda b=blocks: next(b, None))
                    if not block:
                        break
                    buf.append(block)
                    got += len(block)
                    self._guard.add(len(block))
                    if got >= CHUNK:
                        yield b"".join(buf)
                        buf, got = [], 0
                if buf:
                    yield b"".join(buf)
        finally:
            if not self._conn._broken:
                self._call(f"close of {path!r}", f.close)

    def write(self, path: str, chunks, offset: int) -> int:
        mode = "wb" if offset == 0 else "r+b"
        f = self._call(f"open of {path!r}", lambda: self._sftp.open(path, mode))
        total = 0
        try:
            f.set_pipelined(True)
            f.seek(offset)
            for chunk in chunks:
                self._call(f"write of {path!r}", lambda c=chunk: f.write(c))
                total += len(chunk)
                self._guard.add(len(chunk))
        finally:
            if not self._conn._broken:
                self._call(f"close of {path!r}", f.close)  # waits for every pipelined ack
        return total

    def rename(self, src: str, dst: str) -> None:
        self._call(f"rename of {src!r}", lambda: self._sftp.rename(src, dst))

    def remove(self, path: str) -> None:
        self._call(f"delete of {path!r}", lambda: self._sftp.remove(path))

    def rmdir(self, path: str) -> None:
        self._call(f"rmdir of {path!r}", lambda: self._sftp.rmdir(path))

    def mkdir(self, path: str) -> None:
        self._call(f"mkdir of {path!r}", lambda: self._sftp.mkdir(path, 0o755))

    def close(self) -> None:
        sftp, self._sftp = self._sftp, None
        if sftp is not None and not self._conn._broken:
            with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
                sftp.close()
        self._guard.cancel()
