"""What every backend's SFTP client provides (issue 21), and the guard that holds a transfer
to a minimum rate instead of a fixed deadline.

A Connection with file support has `open_sftp(guard) -> SftpClient`: an SFTP session on that
connection (its own channel), used by one request thread, closed by `close()`. Every call of
the client is bounded by `guard`, a `RateGuard` the backend arms with its abort function (it
shuts the socket down); a call the guard aborted raises `SSHTimeout`. SFTP status codes are
raised as `SftpStatus(code)`; sshapi/files.py maps them to HTTP (no such file 404,
permission 403).

- `stat(path) -> FileStat`
- `read(path, offset, length) -> Iterator[bytes]`: at most `length` bytes from `offset`, in
  chunks of at most `CHUNK` bytes (a server that sends more is not read further);
- `write(path, chunks, offset) -> int`: offset 0 creates or truncates, offset N > 0 writes
  from N on an existing file; returns the bytes written;
- `rename(src, dst)` (dst must not exist: v3 rename), `remove(path)`, `rmdir(path)`,
  `mkdir(path)`, `close()`.

Every client reads and writes through a window of at most `WINDOW` bytes in flight, so a
transfer's memory does not grow with the file.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sshapi.deadline import Armed, arm
from sshapi.errors import SSHFailure

CHUNK = 256 * 1024  # bytes handed to the HTTP side at once
WINDOW = 2 * 1024 * 1024  # bytes a client may have requested and not yet handed on

# SFTP v3 status codes (draft-ietf-secsh-filexfer-02, section 7)
FX_EOF = 1
FX_NO_SUCH_FILE = 2
FX_PERMISSION_DENIED = 3
FX_FAILURE = 4

S_IFMT, S_IFDIR, S_IFREG = 0o170000, 0o040000, 0o100000


@dataclass(frozen=True)
class FileStat:
    size: int
    mtime: int  # unix seconds (SFTP v3 has no finer time)
    mode: int  # st_mode: type and permission bits

    @property
    def kind(self) -> str:
        t = self.mode & S_IFMT
        return "dir" if t == S_IFDIR else "file" if t == S_IFREG else "other"

    @property
    def etag(self) -> str:
        """Changes when the size or the modification second changes."""
        return f'"{self.size:x}-{self.mtime:x}"'


class SftpStatus(SSHFailure):
    """An SFTP status other than OK from the server (`sftp_code`: the v3 code)."""

    code = "sftp_error"

    def __init__(self, sftp_code: int, message: str) -> None:
        super().__init__(message)
        self.sftp_code = sftp_code


class RateGuard:
    """Aborts a transfer that falls below `min_rate` bytes/s on average after `grace` s, or
    moves no byte for `grace` s. Due time: min(start + grace + bytes / min_rate,
    last progress + grace). One alarm at a time, re-armed only when it fires early, so a
    64 MiB transfer costs a few heap pushes, not one per chunk."""

    def __init__(self, grace: float, min_rate: float) -> None:
        self.grace = grace
        self.min_rate = min_rate
        self.start = self.last = time.monotonic()
        self.bytes = 0
        self.fired = False
        self._done = False
        self._lock = threading.Lock()
        self._abort: Callable[[], None] | None = None
        self._armed: Armed | None = None

    def due(self) -> float:
        return min(self.start + self.grace + self.bytes / self.min_rate, self.last + self.grace)

    def arm(self, abort: Callable[[], None]) -> None:
        """Called by the backend once: `abort` wakes every call blocked on the connection."""
        with self._lock:
            self._abort = abort
            self._armed = arm(self.due(), self._fire)

    def add(self, n: int) -> None:
        self.bytes += n
        self.last = time.monotonic()

    def check(self) -> None:
        """Raise TimeoutError if the guard fired (between calls of a backend)."""
        if self.fired:
            raise TimeoutError

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            due = self.due()
            if time.monotonic() < due:
                self._armed = arm(due, self._fire)
                return
            self.fired = True
            if self._abort is not None:
                self._abort()

    def cancel(self) -> bool:
        """Stop watching; returns whether the guard fired (then the connection is gone)."""
        with self._lock:
            self._done = True
            if self._armed is not None:
                self._armed.cancel()
            return self.fired


def windows(offset: int, length: int, size: int = CHUNK):
    """(offset, length) pieces covering `length` bytes from `offset`."""
    end = offset + length
    while offset < end:
        n = min(size, end - offset)
        yield offset, n
        offset += n


class NamedCalls:
    """The path operations of the libssh2 and libssh SFTP clients (ssh2-python, ssh-python),
    whose APIs agree on them: each through the client's own ``_call(what, fn)`` (its error
    mapping and guard) on its ``_sftp`` handle."""

    _sftp: Any

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        raise NotImplementedError

    def rename(self, src: str, dst: str) -> None:
        self._call(f"rename of {src!r}", lambda: self._sftp.rename(src, dst))

    def remove(self, path: str) -> None:
        self._call(f"delete of {path!r}", lambda: self._sftp.unlink(path))

    def rmdir(self, path: str) -> None:
        self._call(f"rmdir of {path!r}", lambda: self._sftp.rmdir(path))

    def mkdir(self, path: str) -> None:
        self._call(f"mkdir of {path!r}", lambda: self._sftp.mkdir(path, 0o755))
