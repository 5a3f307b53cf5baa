"""asyncssh, the maintained asyncio SSH library, behind the same blocking interface.

How its event loop fits gunicorn: the API runs gunicorn's threaded workers (one process,
N request threads), and a Flask view is a plain blocking function. So each worker process
runs one asyncio event loop in one daemon thread of its own ("sshapi-asyncssh"), and a
request thread submits its coroutine to it (`run_coroutine_threadsafe`) and waits for the
answer. Why one shared loop, not `asyncio.run()` per request: an asyncssh connection belongs
to the loop that opened it, so pooled mode (one connection, many channels, many request
threads) needs every thread to reach the same loop; and a new loop per request would add its
set-up to every call, which per-request mode measures. The loop thread is started lazily and
again after a fork (gunicorn forks its workers after importing the app, and threads do not
survive a fork), as the deadline alarm's thread is. Nothing blocking ever runs on the loop:
it only moves bytes, so one thread serves every request of the worker.

The request's deadline is enforced on the loop (`asyncio.wait_for` cancels the coroutine and
the connection is aborted), and again by the waiting thread (it stops waiting a moment after
the deadline even if the loop were stuck). Output is read from stdout and stderr at once and
capped together; past the cap the channel is closed without reading the rest. asyncssh
multiplexes channels on one connection, so a pooled connection may run up to
max-sessions-per-connection commands together, as Paramiko's. asyncssh sets TCP_NODELAY and
SO_KEEPALIVE on the socket itself, the same values `open_socket` has already set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

import asyncssh

from sshapi.backends.base import (
    Output,
    Result,
    exec_timeout,
    handshake_timeout,
    library_socket_options,
    open_socket,
)
from sshapi.backends.sftp import CHUNK as SFTP_CHUNK
from sshapi.backends.sftp import WINDOW, FileStat, RateGuard, SftpStatus, windows
from sshapi.deadline import Deadline
from sshapi.errors import (
    OutputTooLarge,
    SSHAuthFailed,
    SSHFailure,
    SSHHostKeyMismatch,
    SSHTimeout,
)
from sshapi.keys import load_once, parse_host_key
from sshapi.settings import Settings
from sshapi.store import Target

NAME = "asyncssh"
MAX_CHANNELS = 1000  # no limit of its own: the pool's max-sessions-per-connection applies
# How long past the deadline the waiting thread gives the loop to deliver the timeout itself.
LOOP_GRACE_S = 0.5
CHUNK = 65536
last_kex: str | None = None

# asyncssh logs every connection and channel at INFO; we report errors ourselves.
logging.getLogger("asyncssh").setLevel(logging.WARNING)

T = TypeVar("T")


def kex_info() -> dict:
    return {"offered": "asyncssh defaults", "last_negotiated": last_kex}


def socket_options() -> dict:
    return library_socket_options()


class _LoopThread:
    """One event loop per process, in its own daemon thread, started on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0

    def get(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if (
                self._loop is None
                or self._pid != os.getpid()
                or self._thread is None
                or not self._thread.is_alive()
            ):
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="sshapi-asyncssh", daemon=True
                )
                thread.start()
                self._loop, self._thread, self._pid = loop, thread, os.getpid()
            return self._loop


LOOP = _LoopThread()


def _run(make: Callable[[], Awaitable[T]], seconds: float, on_timeout: Callable[[], None]) -> T:
    """Run the coroutine `make()` on the loop within `seconds`; TimeoutError after them
    (the coroutine is cancelled and `on_timeout` runs on the loop)."""
    loop = LOOP.get()

    async def bounded() -> T:
        try:
            return await asyncio.wait_for(make(), max(seconds, 0.001))
        except TimeoutError:
            on_timeout()
            raise

    future = asyncio.run_coroutine_threadsafe(bounded(), loop)
    try:
        return future.result(max(seconds, 0.0) + LOOP_GRACE_S)
    except FutureTimeout:
        future.cancel()
        loop.call_soon_threadsafe(on_timeout)
        raise TimeoutError from None


def _import_key(data: bytes) -> asyncssh.SSHKey:
    # stored keys passed keys.check_private_key (size, consistency): skip OpenSSL's slow check
    return asyncssh.import_private_key(data, unsafe_skip_rsa_key_validation=True)


def _translate(e: BaseException, phase: str, target: Target) -> SSHFailure:
    where = f"{target.username}@{target.host}:{target.port}"
    if isinstance(e, TimeoutError):
        return SSHTimeout(f"{phase} with {where} timed out")
    if isinstance(e, asyncssh.PermissionDenied):
        return SSHAuthFailed(f"{where} refused the key ({type(e).__name__})")
    if isinstance(e, asyncssh.HostKeyNotVerifiable):
        return SSHHostKeyMismatch(
            f"host key of {target.host}:{target.port} does not match the stored one"
        )
    return SSHFailure(f"{phase} with {where} failed: {type(e).__name__} {e}".strip())


class _Client(asyncssh.SSHClient):
    """Remembers the negotiated key exchange, which asyncssh only logs (at debug level 2),
    and when authentication began and ended (asyncssh's own hooks for both)."""

    kex: str | None = None
    auth_started: float | None = None
    auth_span: tuple[float, float] | None = None

    def begin_auth(self, username: str) -> bool:
        self.auth_started = time.time()
        return True  # authentication is needed (asyncssh's meaning of True)

    def auth_completed(self) -> None:
        if self.auth_started is not None:
            self.auth_span = (self.auth_started, time.time())

    def connection_made(self, conn: asyncssh.SSHClientConnection) -> None:
        choose = conn._choose_alg  # the one place asyncssh picks each algorithm

        def record(alg_type: str, local: Any, remote: Any) -> bytes:
            alg = choose(alg_type, local, remote)
            if alg_type == "key exchange":
                self.kex = alg.decode()
            return alg

        conn._choose_alg = record  # type: ignore[method-assign]


class AsyncsshConnection:
    max_channels = MAX_CHANNELS
    auth_span: tuple[float, float] | None = None

    def __init__(self, target: Target, settings: Settings, deadline: Deadline) -> None:
        global last_kex
        self._target = target
        self._max_output = settings.max_output_bytes
        self._broken = False
        self._close_by = deadline.at if settings.connections == "per-request" else None
        host_key = parse_host_key(target.host_key)
        phase = Deadline(deadline.cap(settings.connect_timeout))
        sock = open_socket(
            target.host, target.port, settings.connect_timeout, phase, settings.allowed_networks
        )
        try:
            pinned = asyncssh.import_public_key(f"{host_key.key_type} {host_key.base64}")
            key = load_once(target.private_key, _import_key)
        except (asyncssh.KeyImportError, ValueError):
            sock.close()
            raise SSHAuthFailed("stored private key cannot be read by asyncssh") from None
        client = _Client()
        holder: dict[str, asyncssh.SSHClientConnection] = {}

        async def open_() -> asyncssh.SSHClientConnection:
            conn, _ = await asyncssh.create_connection(
                lambda: client,
                target.host,
                target.port,
                sock=sock,
                config=None,  # no ~/.ssh/config: the session is configured here only
                username=target.username,
                client_keys=[key],
                agent_path=None,
                known_hosts=([pinned], [], []),  # the stored key, nothing else
                server_host_key_algs=host_key.algorithms(),  # RSA: SHA-2 signatures only
                x509_trusted_certs=None,
                preferred_auth="publickey",
                gss_host=None,
                login_timeout=max(phase.left(), 0.001),
                keepalive_interval=0,
            )
            holder["conn"] = conn
            return conn

        def abort() -> None:
            conn = holder.get("conn")
            if conn is not None:
                conn.abort()
            with contextlib.suppress(OSError):
                sock.close()

        try:
            self._conn = _run(open_, phase.left(), abort)
        except (asyncssh.Error, OSError, TimeoutError) as e:
            # the socket is the loop's now: closed there (a no-op if asyncssh closed it), never
            # from this thread while the loop may still watch its fd
            LOOP.get().call_soon_threadsafe(abort)
            if isinstance(e, TimeoutError) or phase.expired():
                raise handshake_timeout(target.host, target.port, phase.seconds) from None
            raise _translate(e, "SSH handshake/authentication", target) from None
        last_kex = client.kex
        self.auth_span = client.auth_span

    def exec(self, command: str, timeout: float) -> Result:
        dl = Deadline(timeout)
        try:
            if dl.expired():
                raise TimeoutError
            status, out = _run(
                lambda: _exec(self._conn, command, self._max_output), dl.left(), self._abort_now
            )
        except OutputTooLarge:
            self._abort()  # the connection goes too: a pool must not reuse it
            raise
        except (asyncssh.Error, OSError, TimeoutError) as e:
            if isinstance(e, TimeoutError) or dl.expired():
                self._abort()
                raise exec_timeout(command, self._target.host, self._target.port, timeout) from None
            raise _translate(e, f"running {command.split()[0]!r}", self._target) from None
        return out.result(status)

    def _abort_now(self) -> None:
        """On the loop: drop the connection at once (no goodbye to the server)."""
        self._broken = True
        self._conn.abort()

    def _abort(self) -> None:
        self._broken = True
        LOOP.get().call_soon_threadsafe(self._conn.abort)

    def alive(self) -> bool:
        return not self._broken and not self._conn.is_closed()

    def close(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is None:
            return
        grace = 1.0
        if self._close_by is not None:
            grace = min(grace, self._close_by - time.monotonic())
        if self._broken or grace <= 0:
            self._abort()
            return

        async def goodbye() -> None:
            conn.close()
            await conn.wait_closed()

        with contextlib.suppress(asyncssh.Error, OSError, TimeoutError):
            _run(goodbye, grace, self._abort_now)

    def open_sftp(self, guard: RateGuard) -> AsyncsshSftp:
        """An SFTP session on this connection (issue 21; the class is at the end)."""
        return AsyncsshSftp(self, guard)


async def _exec(conn: asyncssh.SSHClientConnection, command: str, limit: int) -> tuple[int, Output]:
    """Run `command`; stdout and stderr are read together and capped together."""
    out = Output(limit)
    process = await conn.create_process(command, encoding=None)
    try:

        async def pump(stream: asyncssh.SSHReader, stderr: bool) -> None:
            while True:
                data = await stream.read(CHUNK)
                if not data:
                    return
                out.add(data, stderr)

        tasks = [
            asyncio.ensure_future(pump(process.stdout, False)),
            asyncio.ensure_future(pump(process.stderr, True)),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # OutputTooLarge or a connection error
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
        completed = await process.wait(check=False)
    finally:
        process.close()
    status = completed.exit_status
    return (status if status is not None else -1), out


def connect(
    target: Target, settings: Settings, deadline: Deadline | None = None
) -> AsyncsshConnection:
    return AsyncsshConnection(target, settings, deadline or Deadline(settings.connect_timeout))


# --- SFTP (issue 21) -----------------------------------------------------------------------
# asyncssh's SFTP client lives on the loop like the connection; each call is submitted with
# the time the guard leaves it. A read asks for one WINDOW at a time (asyncssh splits it
# into parallel requests itself) and hands it on in CHUNKs.


def _quiet_lost_reads(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    """asyncssh's parallel reads leave their tasks' "connection lost" unretrieved when a
    read is aborted (the guard cut the connection): expected, not an error worth a traceback."""
    if isinstance(context.get("exception"), asyncssh.SFTPConnectionLost | asyncssh.ConnectionLost):
        return
    loop.default_exception_handler(context)


class AsyncsshSftp:
    def __init__(self, conn: AsyncsshConnection, guard: RateGuard) -> None:
        LOOP.get().set_exception_handler(_quiet_lost_reads)
        self._conn = conn
        self._guard = guard
        guard.arm(conn._abort)
        self._sftp: asyncssh.SFTPClient | None = None
        self._sftp = self._call("session start", conn._conn.start_sftp_client)

    def _call(self, what: str, make: Callable[[], Awaitable[T]]) -> T:
        try:
            self._guard.check()
            result = _run(make, self._guard.due() - time.monotonic(), self._conn._abort_now)
            self._guard.check()  # an aborted call may have returned as if at EOF
            return result
        except (asyncssh.Error, OSError, TimeoutError) as e:
            err = self._error(e, what)
        if not isinstance(err, SftpStatus):
            self._conn._abort()  # the connection is done for
        raise err

    def _error(self, e: BaseException, what: str) -> SSHFailure:
        if self._guard.fired or isinstance(e, TimeoutError):
            return SSHTimeout(f"SFTP {what} fell below the minimum transfer rate or stalled")
        if isinstance(e, asyncssh.SFTPError):
            return SftpStatus(e.code, f"SFTP {what} failed (status {e.code})")
        return SSHFailure(f"SFTP {what} failed: {type(e).__name__}")

    def stat(self, path: str) -> FileStat:
        a = self._call(f"stat of {path!r}", lambda: self._sftp.stat(path))
        return FileStat(a.size or 0, a.mtime or 0, a.permissions or 0)

    def read(self, path: str, offset: int, length: int):
        f = self._call(f"open of {path!r}", lambda: self._sftp.open(path, "rb"))
        try:
            for start, n in windows(offset, length, WINDOW):
                data = self._call(f"read of {path!r}", lambda o=start, k=n: f.read(k, o))
                for i in range(0, len(data), SFTP_CHUNK):
                    piece = data[i : i + SFTP_CHUNK]
                    self._guard.add(len(piece))
                    yield piece
                if len(data) < n:  # end of file
                    return
        finally:
            if not self._conn._broken:
                self._call(f"close of {path!r}", f.close)

    def write(self, path: str, chunks, offset: int) -> int:
        mode = "wb" if offset == 0 else "r+b"
        f = self._call(f"open of {path!r}", lambda: self._sftp.open(path, mode))
        total = 0
        try:
            for chunk in chunks:
                self._call(f"write of {path!r}", lambda c=chunk, o=offset + total: f.write(c, o))
                total += len(chunk)
                self._guard.add(len(chunk))
        finally:
            if not self._conn._broken:
                self._call(f"close of {path!r}", f.close)
        return total

    def rename(self, src: str, dst: str) -> None:
        self._call(f"rename of {src!r}", lambda: self._sftp.rename(src, dst))

    def remove(self, path: str) -> None:
        self._call(f"delete of {path!r}", lambda: self._sftp.remove(path))

    def rmdir(self, path: str) -> None:
        self._call(f"rmdir of {path!r}", lambda: self._sftp.rmdir(path))

    def mkdir(self, path: str) -> None:
        self._call(f"mkdir of {path!r}", lambda: self._sftp.mkdir(path))

    def close(self) -> None:
        sftp, self._sftp = self._sftp, None
        if sftp is not None and not self._conn._broken:

            async def bye() -> None:
                sftp.exit()
                await sftp.wait_closed()

            with contextlib.suppress(asyncssh.Error, OSError, TimeoutError):
                _run(bye, 1.0, self._conn._abort_now)
        self._guard.cancel()
