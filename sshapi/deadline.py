"""One wall-clock deadline per request, and the alarm that enforces it.

Library timeouts are per read or per wait: a server that sends one byte every few seconds, or
never answers a request, never trips them. So every backend also arms an alarm for the
request's deadline; when it fires, the backend's abort function runs (it shuts the socket
down or kills `ssh`), which wakes any call blocked on that connection. One thread serves every
alarm of the process, so arming one costs a heap push, not a thread.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
import time
from collections.abc import Callable


class Deadline:
    """A point in time (monotonic clock) a request must be answered by."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def left(self) -> float:
        return self.at - time.monotonic()

    def expired(self) -> bool:
        return self.left() <= 0

    def cap(self, seconds: float) -> float:
        """`seconds`, or less if the deadline comes first (never negative)."""
        return max(0.0, min(seconds, self.left()))


class Armed:
    """An alarm set for one operation; `cancel()` before the guarded objects go away."""

    def __init__(self, fn: Callable[[], None]) -> None:
        self._fn = fn
        self._lock = threading.Lock()
        self.cancelled = False
        self.fired = False

    def _fire(self) -> None:
        with self._lock:
            if self.cancelled:
                return
            self.fired = True
            # an abort that fails still leaves the backend's own per-step timeouts
            with contextlib.suppress(Exception):
                self._fn()

    def cancel(self) -> bool:
        """Stop the alarm; when this returns, the abort has either run fully or never will.
        Returns whether it fired."""
        with self._lock:
            self.cancelled = True
            return self.fired


class _AlarmClock:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Armed]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, at: float, fn: Callable[[], None]) -> Armed:
        """Run `fn` at monotonic time `at` unless cancelled first."""
        armed = Armed(fn)
        with self._cond:
            heapq.heappush(self._heap, (at, next(self._seq), armed))
            # started lazily: gunicorn forks workers, and threads do not survive a fork
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="sshapi-alarm", daemon=True)
                self._thread.start()
            self._cond.notify()
        return armed

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    while self._heap and self._heap[0][2].cancelled:
                        heapq.heappop(self._heap)
                    if not self._heap:
                        self._cond.wait()
                        continue
                    wait = self._heap[0][0] - time.monotonic()
                    if wait <= 0:
                        armed = heapq.heappop(self._heap)[2]
                        break
                    self._cond.wait(wait)
            armed._fire()


ALARMS = _AlarmClock()


def arm(at: float, fn: Callable[[], None]) -> Armed:
    """Run `fn` (quick: a shutdown, a kill) at monotonic time `at` unless cancelled."""
    return ALARMS.arm(at, fn)
