"""Per-user counts of running SSH requests shared by every worker of one server (issue 24):
`--max-user-requests` then holds for the whole server, not per worker process.

The table lives in shared memory made by the gunicorn master before it forks its workers
(`make_shared`). Each worker claims a row of its own when its app is made (keyed by its PID;
a row whose process is gone is taken over and zeroed, so a killed worker's counts do not
leak), adds to its own row only, under a lock of its own process (no lock is shared, so a
worker killed at any moment cannot leave one held), and reads a user's count as the sum of
the rows: two workers admitting one user at the same instant may each pass the cap by one.
Users map to BUCKETS columns by id (users sharing a column count together: stricter, never
looser). Without a shared table (the Flask test client, one process) counts stay local.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from contextlib import contextmanager
from pathlib import Path

BUCKETS = 4096
_shared: UserCounts | None = None


class UserCounts:
    def __init__(self, rows: int) -> None:
        ctx = multiprocessing.get_context("fork")
        self.rows = rows
        self._claim_lock = ctx.Lock()  # only while a worker claims its row
        self._owner = ctx.RawArray("i", rows)  # PID owning each row, 0: free
        self._counts = ctx.RawArray("i", rows * BUCKETS)
        self._row = -1
        self._pid = 0
        self._lock = threading.Lock()

    def claim(self) -> None:
        """Take a row for this process (once, in the worker, before it serves)."""
        pid = os.getpid()
        if self._pid == pid:
            return
        self._lock = threading.Lock()  # not the parent's
        got = self._claim_lock.acquire(timeout=2)  # a worker killed mid-claim: go on
        try:
            for r in range(self.rows):
                owner = self._owner[r]
                if owner in (0, pid) or not Path(f"/proc/{owner}").exists():
                    self._owner[r] = pid
                    for b in range(r * BUCKETS, (r + 1) * BUCKETS):
                        self._counts[b] = 0
                    self._row, self._pid = r, pid
                    return
        finally:
            if got:
                self._claim_lock.release()
        raise RuntimeError(f"more than {self.rows} worker processes share the user counts")

    def enter(self, user: int, cap: int) -> bool:
        """Count one more request of `user` unless it already has `cap` running."""
        self.claim()
        b = user % BUCKETS
        with self._lock:
            live = [r for r in range(self.rows) if self._owner[r]]
            if sum(self._counts[r * BUCKETS + b] for r in live) >= cap:
                return False
            self._counts[self._row * BUCKETS + b] += 1
            return True

    def leave(self, user: int) -> None:
        with self._lock:
            self._counts[self._row * BUCKETS + user % BUCKETS] -= 1


class _Local:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[int, int] = {}

    def claim(self) -> None:
        pass

    def enter(self, user: int, cap: int) -> bool:
        with self._lock:
            if self._running.get(user, 0) >= cap:
                return False
            self._running[user] = self._running.get(user, 0) + 1
            return True

    def leave(self, user: int) -> None:
        with self._lock:
            self._running[user] -= 1
            if not self._running[user]:
                del self._running[user]


def make_shared(workers: int) -> None:
    """In the master, before the fork: one table for all workers (and their replacements)."""
    global _shared
    _shared = UserCounts(max(4, 2 * workers + 2))


def counter() -> UserCounts | _Local:
    """The shared table (claimed for this process), else a count of this process only."""
    counts = _shared if _shared is not None else _Local()
    counts.claim()
    return counts


@contextmanager
def running(counts: UserCounts | _Local, user: int, cap: int, refuse):
    """Hold one of `user`'s `cap` slots for the block; `refuse()` raises when none is free."""
    if not counts.enter(user, cap):
        refuse()
    try:
        yield
    finally:
        counts.leave(user)
