"""Pooled connections: authenticated SSH connections reused per credential.

Bounded like the Tapis Files session pool: at most `max_connections` open connections per
server process and at most `max_sessions_per_connection` commands running at once on one
(less if the library cannot share a connection between threads). A request that finds no
free channel waits for a connection already being opened if that one will have a channel
to spare, so a cold burst opens only as many connections as it needs (and sshd sees fewer
simultaneous handshakes, which its MaxStartups would drop). When the bound is hit,
an idle connection of another credential is closed to make room, else the request waits
up to the connect timeout. One API user (a target's owner) holds at most `max_per_owner`
connections, open or being opened; past that, the request closes one of its own idle
connections to make room or waits; and the idle connection closed to make room for another
is taken from whoever holds the most (issue 24: one user's silent servers must not hold
every slot). A connection that breaks is dropped and the call retried once
on a new one. Everything a request does here (waiting, connecting, the retry) ends by its
deadline; a connection that timed out or overflowed the output cap is closed, not reused.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sshapi.backends.base import Connection, Result
from sshapi.deadline import Deadline
from sshapi.errors import OutputTooLarge, SSHFailure, SSHTimeout
from sshapi.store import Target


@dataclass(eq=False)
class _Slot:
    key: str
    conn: Connection
    limit: int
    owner: int = 0
    busy: int = 0
    dropped: bool = False
    last_used: float = field(default_factory=time.monotonic)


class Pool:
    def __init__(
        self,
        connect: Callable[[Target, Deadline], Connection],
        max_connections: int,
        max_sessions: int,
        wait_timeout: float,
        max_per_owner: int | None = None,
    ) -> None:
        self._connect = connect
        self._max_connections = max_connections
        self._max_per_owner = max_per_owner or max_connections
        self._owned: dict[int, int] = {}  # per owner: connections open or being opened
        self._max_sessions = max_sessions
        self._wait_timeout = wait_timeout
        self._cond = threading.Condition()
        self._slots: dict[str, list[_Slot]] = {}
        self._opening: dict[str, int] = {}  # per credential: connections being opened
        self._waiting: dict[str, int] = {}  # per credential: requests waiting for those
        self._open = 0  # connections open or being opened
        self._peak = 0
        self._broken = 0  # connections found broken and dropped
        self._retries = 0

    def run(self, target: Target, command: str, timeout: float, deadline: Deadline) -> Result:
        """Run `command` within `timeout` seconds of exec and by `deadline` overall."""
        slot, fresh = self._acquire(target, deadline)
        try:
            return slot.conn.exec(command, deadline.cap(timeout))
        except SSHFailure as e:
            broken = not slot.conn.alive()
            if broken:
                self._drop(slot, broken=True)
            final = isinstance(e, SSHTimeout | OutputTooLarge) or deadline.expired()
            if not broken or fresh or final:
                raise
        finally:
            self._release(slot)
        # a reused connection broke under us (e.g. sshd restarted): retry once, fresh
        with self._cond:
            self._retries += 1
        slot, _ = self._acquire(target, deadline, reuse=False)
        try:
            return slot.conn.exec(command, deadline.cap(timeout))
        except SSHFailure:
            if not slot.conn.alive():
                self._drop(slot, broken=True)
            raise
        finally:
            self._release(slot)

    def stats(self) -> dict:
        with self._cond:
            return {
                "open_connections": self._open,
                "peak_open_connections": self._peak,
                "broken_dropped": self._broken,
                "retries": self._retries,
                "busy_channels": sum(s.busy for v in self._slots.values() for s in v),
                "max_per_owner": self._max_per_owner,
            }

    def discard(self, key: str) -> None:
        """Forget every connection of one credential (it was deleted)."""
        with self._cond:
            slots = list(self._slots.get(key, []))
        for slot in slots:
            self._drop(slot)

    def discard_digests(self, digests: set[bytes]) -> None:
        """discard() every credential whose key's SHA-256 is in `digests` (broadcast.py)."""
        from sshapi.broadcast import digest

        with self._cond:
            keys = [k for k in self._slots if digest(k) in digests]
        for key in keys:
            self.discard(key)

    def close_all(self) -> None:
        with self._cond:
            slots = [s for v in self._slots.values() for s in v]
        for slot in slots:
            self._drop(slot)

    def _acquire(self, target: Target, request: Deadline, reuse: bool = True) -> tuple[_Slot, bool]:
        deadline = min(time.monotonic() + self._wait_timeout, request.at)
        victim: _Slot | None = None
        dead: list[_Slot] = []
        found: _Slot | None = None
        with self._cond:
            while found is None:
                for slot in list(self._slots.get(target.key, [])):
                    if slot.busy == 0 and not slot.conn.alive():
                        self._forget(slot)  # broke while idle (e.g. sshd restarted)
                        self._broken += 1
                        dead.append(slot)
                if reuse:
                    for slot in self._slots.get(target.key, []):
                        if slot.busy < slot.limit and slot.conn.alive():
                            slot.busy += 1
                            found = slot
                            break
                    if found is not None:
                        break
                key = target.key
                spare = self._opening.get(key, 0) * (self._max_sessions - 1)
                if reuse and self._waiting.get(key, 0) < spare:
                    self._wait_for(key, deadline)  # a channel on the one being opened
                    continue
                if self._owned.get(target.owner, 0) >= self._max_per_owner:
                    victim = self._idle_victim(target.owner)  # one of its own, or wait
                elif self._open < self._max_connections:
                    self._open += 1
                    break
                else:
                    victim = self._idle_victim()
                if victim is not None:
                    self._forget(victim)
                    self._open += 1  # the victim's place goes to the new connection
                    break
                self._wait_for(key, deadline)
            self._peak = max(self._peak, self._open)
            if found is None:
                self._count(self._opening, target.key, +1)
                self._count(self._owned, target.owner, +1)
        self._close([*dead, victim] if victim else dead)  # outside the lock: may be slow
        if found is not None:
            return found, False
        try:
            conn = self._connect(target, request)
        except BaseException:
            with self._cond:
                self._open -= 1
                self._count(self._opening, target.key, -1)
                self._count(self._owned, target.owner, -1)
                self._cond.notify_all()
            raise
        slot = _Slot(
            target.key, conn, min(self._max_sessions, conn.max_channels), target.owner, busy=1
        )
        with self._cond:
            self._slots.setdefault(target.key, []).append(slot)
            self._count(self._opening, target.key, -1)
            self._cond.notify_all()
        return slot, True

    def _wait_for(self, key: str, deadline: float) -> None:
        """Wait (lock held) until something changes; a 504 once the deadline passes."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise SSHTimeout(
                f"no free pooled SSH channel within {self._wait_timeout:g} s "
                f"({self._max_connections} connections at most)"
            )
        self._count(self._waiting, key, +1)
        try:
            self._cond.wait(left)
        finally:
            self._count(self._waiting, key, -1)

    @staticmethod
    def _count(counts: dict[str, int], key: str, delta: int) -> None:
        n = counts.get(key, 0) + delta
        if n:
            counts[key] = n
        else:
            counts.pop(key, None)

    @staticmethod
    def _close(slots: list[_Slot]) -> None:
        for slot in slots:
            slot.conn.close()

    def _idle_victim(self, owner: int | None = None) -> _Slot | None:
        """The idle connection to close for room: `owner`'s own least recently used, or
        (None) the least recently used of whoever holds the most connections."""
        idle = [s for v in self._slots.values() for s in v if s.busy == 0]
        if owner is not None:
            idle = [s for s in idle if s.owner == owner]
        return min(idle, key=lambda s: (-self._owned.get(s.owner, 0), s.last_used), default=None)

    def _forget(self, slot: _Slot) -> None:
        """Unlist a slot (lock held); the caller closes it or leaves it to the last user."""
        slots = self._slots.get(slot.key, [])
        if slot in slots:
            slots.remove(slot)
            if not slots:
                del self._slots[slot.key]
            self._open -= 1
            self._count(self._owned, slot.owner, -1)
        slot.dropped = True
        self._cond.notify_all()

    def _drop(self, slot: _Slot, broken: bool = False) -> None:
        with self._cond:
            self._broken += broken and not slot.dropped
            already = slot.dropped
            self._forget(slot)
            close_now = not already and slot.busy == 0
        if close_now:
            slot.conn.close()

    def _release(self, slot: _Slot) -> None:
        with self._cond:
            slot.busy -= 1
            slot.last_used = time.monotonic()
            close_now = slot.dropped and slot.busy == 0
            self._cond.notify_all()
        if close_now:
            slot.conn.close()
