"""The capacity search's choice of rates (pure) and its result table (analysis.capacity)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from analysis.capacity import bound_of, capacities, step_passes
from sshbench.capacity import SEARCH_DEFAULTS, next_rate


def _search(true_capacity: float, **cfg) -> list[float]:
    """Rates a search visits against a system that passes exactly up to true_capacity."""
    c = {**SEARCH_DEFAULTS, **cfg}
    passed: list[float] = []
    failed: list[float] = []
    visited = []
    rate = next_rate(passed, failed, c)
    while rate is not None and len(visited) < c["max_steps"]:
        visited.append(rate)
        (passed if rate <= true_capacity else failed).append(rate)
        rate = next_rate(passed, failed, c)
    return visited


@pytest.mark.parametrize("true_capacity", [7.3, 63, 117, 400])
def test_search_brackets_the_capacity_within_its_resolution(true_capacity):
    visited = _search(true_capacity, max_steps=20)
    low = max(r for r in visited if r <= true_capacity)
    high = min(r for r in visited if r > true_capacity)
    assert low <= true_capacity < high
    assert high - low <= max(1.0, 0.05 * low)
    assert visited[0] == SEARCH_DEFAULTS["start_rps"]


def test_search_stops_at_its_step_budget_and_at_max_rps():
    assert len(_search(10_000, max_steps=4)) == 4
    visited = _search(10_000, max_rps=100, max_steps=20)
    assert visited[-1] == 100 and len(visited) == len(set(visited))


def test_step_judgement_names_each_breach():
    bound = bound_of({"capacity": {"p99_ms": 1000}})
    good = {"latency_p99": 80.0, "failures": 0, "achieved_rps": 59.5, "target_rps": 60}
    assert step_passes(good, bound) == {"passes": True, "why": "meets the bound"}
    bad = {**good, "latency_p99": float("inf"), "failures": 2, "achieved_rps": 40.0}
    why = step_passes(bad, bound)["why"]
    assert "p99 inf ms >= 1000 ms" in why and "2 failures" in why and "achieved 40.0" in why
    assert not step_passes({**good, "integrity": "broken: x"}, bound)["passes"]


def _step(search, step, rps, p99, lim="[]"):
    base = {
        "sweep": "t", "point_id": f"{search}-s{step}", "status": "ok", "pattern": "capacity",
        "search": search, "step": step, "rps": rps, "host": "taco", "host_cpus": 2,
        "client_tcp": "default", "command": "uptime", "profile": "tuned", "library": "ssh2",
        "connections": "per-request", "trial": 0, "integrity": "ok", "limited_by": lim,
    }  # fmt: skip
    vals = {"latency_p99": p99, "failures": 0, "achieved_rps": rps, "target_rps": rps}
    return [{**base, "metric": m, "value": v} for m, v in vals.items()]


def test_capacities_from_a_tidy_table():
    rows = []
    for step, (rps, p99, lim) in enumerate(
        [(20, 80, "[]"), (30, 90, "[]"), (45, 3000, json.dumps(["host_cpu:taco"])), (38, 120, "[]"),
         (41, 2500, json.dumps(["host_cpu:taco"])), (40, 150, "[]")]
    ):  # fmt: skip
        rows += _step("cap-a", step, rps, p99, lim)
    row = capacities(pd.DataFrame(rows)).iloc[0]
    assert row["capacity_rps"] == 40 and row["bracket_high_rps"] == 41
    assert row["steps"] == 6 and bool(row["converged"])
    assert json.loads(row["first_failing_limited_by"]) == ["host_cpu:taco"]
    assert capacities(pd.DataFrame(_step("x", 0, 10, 1)).assign(pattern="sustained")).empty
