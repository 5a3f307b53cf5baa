"""Tell every worker of one server which credentials were deleted (issue 24), so each closes
its pooled connections for them at once, not just the worker that served the DELETE.

A ring of the last RING deleted pool keys (their SHA-256) and a counter, in shared memory made
by the gunicorn master before it forks (`make_shared`). DELETE appends; each worker's watcher
thread looks every INTERVAL seconds and discards the new keys from its own pool. Without a
shared ring (one process: the Flask test client) only the local pool is told, as before.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import threading
from collections.abc import Callable

RING = 256
INTERVAL = 0.5
_shared: Deletions | None = None


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class Deletions:
    def __init__(self) -> None:
        ctx = multiprocessing.get_context("fork")
        self._lock = ctx.Lock()
        self._count = ctx.RawValue("q", 0)
        self._ring = ctx.RawArray("c", RING * 32)

    def add(self, key: str) -> None:
        got = self._lock.acquire(timeout=2)  # a writer killed mid-write: go on
        try:
            n = self._count.value
            self._ring[(n % RING) * 32 : (n % RING + 1) * 32] = digest(key)
            self._count.value = n + 1
        finally:
            if got:
                self._lock.release()

    def since(self, seen: int) -> tuple[int, list[bytes]]:
        """(the counter now, digests added after `seen`; the last RING at most)."""
        n = self._count.value
        first = max(seen, n - RING)
        return n, [
            bytes(self._ring[(i % RING) * 32 : (i % RING + 1) * 32]) for i in range(first, n)
        ]

    def watch(self, discard: Callable[[set[bytes]], None]) -> None:
        """Start this worker's watcher thread: `discard(digests)` for every new deletion."""
        seen = self._count.value

        def loop() -> None:
            nonlocal seen
            while True:
                stop.wait(INTERVAL)
                seen, new = self.since(seen)
                if new:
                    discard(set(new))

        stop = threading.Event()
        threading.Thread(target=loop, name="sshapi-deletions", daemon=True).start()


def make_shared() -> None:
    """In the master, before the fork."""
    global _shared
    _shared = Deletions()


def shared() -> Deletions | None:
    return _shared
