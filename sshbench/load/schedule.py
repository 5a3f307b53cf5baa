"""The open-loop schedule of one Locust process: which slot goes next, when it is due, and
which slots were never sent. Pure (no gevent, no Locust), so it is tested on its own, like
Locust's load-shape classes.

A sustained point of rate R and length D has ``round(R * D)`` slots; slot k is due at
``t0 + k / R``. With N Locust processes, process i owns slots i, i + N, i + 2N, ... A user
takes the next slot of its process, sleeps until it is due and sends; when every user is
busy, the slot is taken late, and its latency (measured from the due time) shows it. The
schedule is bounded in count and in time: no slot is taken after ``t0 + D``; the slots
still untaken then are *missed*.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Schedule:
    rps: float
    duration_s: float
    process: int = 0
    processes: int = 1
    t0: float | None = None
    _next: int = field(default=0, repr=False)  # index into this process's own slots

    def __post_init__(self) -> None:
        if self.rps <= 0 or self.duration_s < 0:
            raise ValueError(f"schedule needs rps > 0 and duration_s >= 0, not {self}")
        if not 0 <= self.process < self.processes:
            raise ValueError(f"process {self.process} is not in 0..{self.processes - 1}")

    @property
    def total_slots(self) -> int:
        """Slots of the whole schedule (every process)."""
        return round(self.rps * self.duration_s)

    @property
    def slots(self) -> int:
        """Slots this process owns."""
        return len(range(self.process, self.total_slots, self.processes))

    @property
    def taken(self) -> int:
        return self._next

    @property
    def end(self) -> float:
        """No slot is taken at or after this time."""
        return self._started() + self.duration_s

    def _started(self) -> float:
        if self.t0 is None:
            raise RuntimeError("the schedule has not started (t0 is not set)")
        return self.t0

    def slot_index(self, n: int) -> int:
        """The global slot index of this process's n-th slot."""
        return self.process + n * self.processes

    def due(self, slot: int) -> float:
        """When global slot `slot` is due (unix s)."""
        return self._started() + slot / self.rps

    def take(self, now: float) -> tuple[int, float] | None:
        """The next slot and its due time, or None when the schedule is over (every slot
        taken, or `now` past its end)."""
        if self._next >= self.slots or now >= self.end:
            return None
        slot = self.slot_index(self._next)
        self._next += 1
        return slot, self.due(slot)

    def missed(self) -> list[tuple[int, float]]:
        """(slot, due time) of every slot never taken; call once the schedule is over."""
        return [
            (self.slot_index(n), self.due(self.slot_index(n)))
            for n in range(self._next, self.slots)
        ]
