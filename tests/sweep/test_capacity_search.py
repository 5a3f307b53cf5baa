"""The capacity search's choice of rates (pure) and its result table (analysis.capacity)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from analysis.capacity import capacities
from measure.capacity import SEARCH_DEFAULTS, bound_of, judge_search, next_rate, step_passes


def _search(true_capacity: float, stray=(), env_limited=False, **cfg) -> list[dict]:
    """Steps of a search against a system that passes exactly up to true_capacity, except
    that each rate in `stray` fails the first time it is tried (a stray failure)."""
    c = {**SEARCH_DEFAULTS, **cfg}
    steps: list[dict] = []
    strays = set(stray)
    rate = next_rate(steps, c)
    while rate is not None and len(steps) < c["max_steps"]:
        passes = rate <= true_capacity and rate not in strays
        strays.discard(rate)
        kind = (
            "environment" if env_limited and not passes else "saturated" if not passes else "none"
        )
        steps.append({"step": len(steps), "rps": rate, "passes": passes, "limit_kind": kind})
        rate = next_rate(steps, c)
    return steps


@pytest.mark.parametrize("true_capacity", [7.3, 63, 117, 400])
def test_search_brackets_the_capacity_within_its_resolution(true_capacity):
    steps = _search(true_capacity, max_steps=30)
    res = judge_search(steps, SEARCH_DEFAULTS)
    low, high = res["bracket"]
    assert low <= true_capacity < high and res["capacity_rps"] == low
    assert high - low <= max(1.0, 0.05 * low) and res["converged"]
    assert steps[0]["rps"] == SEARCH_DEFAULTS["start_rps"]
    assert not res["non_monotone"] and not res["lower_bound"]
    assert res["capacity_text"] == f"{low:g} RPS (bracket {low:g} to {high:g})"


def test_a_failing_step_is_confirmed_by_one_repeat_before_it_is_the_bracket():
    steps = _search(63, max_steps=30)
    for rate in {s["rps"] for s in steps if not s["passes"]}:
        # every failing rate was tried twice in a row, and failed both times
        tries = [s for s in steps if s["rps"] == rate]
        assert [s["passes"] for s in tries] == [False, False]
        assert tries[1]["step"] == tries[0]["step"] + 1


def test_one_stray_failure_cannot_set_the_bracket_and_is_reported():
    steps = _search(63, stray=[30], max_steps=30)
    res = judge_search(steps, SEARCH_DEFAULTS)
    assert [s["passes"] for s in steps if s["rps"] == 30] == [False, True]
    low, high = res["bracket"]
    assert low <= 63 < high and high - low <= max(1.0, 0.05 * low)
    assert res["unconfirmed_failures_rps"] == [30]
    assert res["non_monotone"] and "non-monotone" in res["capacity_text"]


def test_an_environment_limited_bracket_makes_the_capacity_a_lower_bound():
    steps = _search(56, env_limited=True, max_steps=30)
    res = judge_search(steps, SEARCH_DEFAULTS)
    low, _ = res["bracket"]
    assert res["lower_bound"] and res["lower_bound_why"] == "environment-limited"
    assert res["capacity_text"] == f"≥ {low:g} RPS, environment-limited"
    # a search that never failed is a lower bound too
    never = judge_search(_search(10_000, max_rps=100, max_steps=20), SEARCH_DEFAULTS)
    assert never["lower_bound"] and never["bracket"] == [100, None]
    assert never["capacity_text"] == "≥ 100 RPS, no rate up to 100 RPS failed"


def test_search_stops_at_its_step_budget_and_at_max_rps():
    assert len(_search(10_000, max_steps=4)) == 4
    steps = _search(10_000, max_rps=100, max_steps=20)
    rates = [s["rps"] for s in steps]
    assert rates[-1] == 100 and len(rates) == len(set(rates))


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
    host = json.dumps(["host_cpu:taco"])
    for step, (rps, p99, lim) in enumerate(
        [(20, 80, "[]"), (30, 90, "[]"), (45, 3000, host), (45, 3100, host), (38, 120, "[]"),
         (41, 2500, host), (41, 2600, host), (40, 150, "[]")]
    ):  # fmt: skip
        rows += _step("cap-a", step, rps, p99, lim)
    row = capacities(pd.DataFrame(rows)).iloc[0]
    assert row["capacity_rps"] == 40 and row["bracket_high_rps"] == 41
    assert row["steps"] == 8 and bool(row["converged"])
    assert json.loads(row["first_failing_limited_by"]) == ["host_cpu:taco"]
    assert not row["lower_bound"] and not row["non_monotone"]
    assert row["capacity_text"] == "40 RPS (bracket 40 to 41)"
    # the same steps, the bracket's failures limited by this machine's CPU: a lower bound
    env = json.dumps(["machine_cpu"])
    rows = [{**r, "limited_by": env} if r["rps"] == 41 else r for r in rows]
    row = capacities(pd.DataFrame(rows)).iloc[0]
    assert row["lower_bound"] and row["capacity_text"] == "≥ 40 RPS, environment-limited"
    assert capacities(pd.DataFrame(_step("x", 0, 10, 1)).assign(pattern="sustained")).empty
