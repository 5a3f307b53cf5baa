"""The pure open-loop schedule (sshbench.load.schedule), without Locust or gevent."""

from __future__ import annotations

import pytest

from sshbench.load.schedule import Schedule


def test_slots_are_due_on_the_grid_and_split_between_processes():
    a = Schedule(rps=10, duration_s=1, process=0, processes=3, t0=100.0)
    b = Schedule(rps=10, duration_s=1, process=1, processes=3, t0=100.0)
    c = Schedule(rps=10, duration_s=1, process=2, processes=3, t0=100.0)
    taken = {s.process: [] for s in (a, b, c)}
    for s in (a, b, c):
        while (slot := s.take(now=100.0)) is not None:
            taken[s.process].append(slot)
    assert [k for k, _ in taken[0]] == [0, 3, 6, 9]
    assert [k for k, _ in taken[1]] == [1, 4, 7]
    assert sorted(k for v in taken.values() for k, _ in v) == list(range(10))
    assert all(due == pytest.approx(100.0 + k / 10) for v in taken.values() for k, due in v)
    assert a.slots + b.slots + c.slots == a.total_slots == 10


def test_nothing_is_taken_after_the_end_and_the_rest_is_missed():
    s = Schedule(rps=4, duration_s=2, t0=50.0)
    assert s.take(now=50.0) == (0, 50.0)
    assert s.take(now=51.0) == (1, 50.25)  # late: the due time stays the slot's own
    assert s.take(now=52.0) is None  # at the end: the schedule is over
    assert s.missed() == [(k, 50.0 + k / 4) for k in range(2, 8)]
    assert s.taken + len(s.missed()) == s.slots == 8


def test_bad_schedules_say_what_is_wrong():
    with pytest.raises(ValueError, match="rps > 0"):
        Schedule(rps=0, duration_s=1)
    with pytest.raises(ValueError, match="process 2"):
        Schedule(rps=1, duration_s=1, process=2, processes=2)
    with pytest.raises(RuntimeError, match="not started"):
        Schedule(rps=1, duration_s=1).take(now=0.0)
