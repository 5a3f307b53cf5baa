"""Capacity at the bound: does one step of a capacity search meet the study's bound, which
rate comes next, and what is each search's capacity (the highest passing rate, with its
bracket). The one place these rules live: the runner (sshbench.sweep.capacity) calls
`step_passes` and `next_rate` after each step and `judge_search` at the end; the analysis
(analysis.capacity.capacities, on the tidy table) judges the same steps with the same
functions.

The bound (sweep config `capacity:`, default the study's): p99 of latency from the schedule
under `p99_ms`, at most `max_failures` failed requests, at least `min_achieved_fraction` of
the target rate sent, and counts that add up.

The search grows the rate by `growth` from `start_rps` until a step fails (or `max_rps`),
then bisects between the highest passing and the lowest failing rate until the bracket is
narrower than `resolution` (relative), in at most `max_steps` steps; a first rate that fails
makes it go down by the same factor instead. A failing step is repeated once before its
rate counts as failing (one stray failure cannot set the upper bracket): two failures at a
rate confirm it; a pass on the repeat overturns it (the rate passes, and the stray failure
is listed). A failing step below a passing one is reported (`non_monotone`). When the
bracket's failing rate ran out of the environment (measure.saturation kind
`environment`: this machine's CPU or the load generator), the capacity is only a lower
bound ("≥ N RPS, environment-limited"); so it is when no rate up to `max_rps` failed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

SEARCH_DEFAULTS: dict[str, float] = {
    "start_rps": 20.0,
    "max_rps": 1000.0,
    "growth": 1.5,
    "resolution": 0.05,
    "max_steps": 10,
}

DEFAULT_BOUND: dict[str, float] = {
    "p99_ms": 2000.0,
    "max_failures": 0,
    "min_achieved_fraction": 0.97,
}


def bound_of(settings: Mapping[str, Any] | None) -> dict[str, float]:
    """The bound in force: the sweep's `capacity:` settings over the study's defaults."""
    given = dict((settings or {}).get("capacity") or {})
    return {k: float(given.get(k, v)) for k, v in DEFAULT_BOUND.items()}


def bound_text(bound: Mapping[str, float]) -> str:
    return (
        f"p99 < {bound['p99_ms']:g} ms, failures <= {bound['max_failures']:g}, "
        f"achieved >= {bound['min_achieved_fraction']:.0%} of target"
    )


def search_config(settings: Mapping[str, Any] | None) -> dict[str, float]:
    """The search's settings in force: the sweep's `capacity:` over SEARCH_DEFAULTS."""
    given = dict((settings or {}).get("capacity") or {})
    return {k: float(given.get(k, v)) for k, v in SEARCH_DEFAULTS.items()}


def step_rate(x: float) -> float:
    """Step rates: whole requests per second from 10 up, one decimal below."""
    return float(round(x)) if x >= 10 else round(x, 1)


def _by_rate(steps: list[Mapping[str, Any]]) -> dict[float, list[bool]]:
    """Each rate's step results (passes), in step order."""
    out: dict[float, list[bool]] = {}
    for s in sorted(steps, key=lambda s: s["step"]):
        out.setdefault(float(s["rps"]), []).append(bool(s["passes"]))
    return out


def rates_of(steps: list[Mapping[str, Any]]) -> tuple[list[float], list[float], list[float]]:
    """(passing, confirmed failing, pending) rates: a rate fails when two of its steps
    failed; a single failure waits for its repeat (pending); a rate with a pass and no
    second failure passes."""
    passing, failing, pending = [], [], []
    for rate, results in _by_rate(steps).items():
        fails = results.count(False)
        if fails >= 2:
            failing.append(rate)
        elif True in results:
            passing.append(rate)
        else:
            pending.append(rate)
    return sorted(passing), sorted(failing), sorted(pending)


def bracket(passed: list[float], failed: list[float]) -> tuple[float | None, float | None]:
    """(highest passing rate below the lowest failing one, that failing rate); None where
    there is none."""
    high = min(failed) if failed else None
    below = [r for r in passed if high is None or r < high]
    return (max(below) if below else None), high


def next_rate(steps: list[Mapping[str, Any]], cfg: Mapping[str, float]) -> float | None:
    """The next step's rate (a repeat of a single failure first), or None when done."""
    passed, failed, pending = rates_of(steps)
    if pending:
        return pending[0]
    low, high = bracket(passed, failed)
    if high is None:  # nothing failed yet: grow, until max_rps has passed
        if low is not None and low >= cfg["max_rps"]:
            return None
        start = low or cfg["start_rps"] / cfg["growth"]
        return step_rate(min(cfg["max_rps"], start * cfg["growth"]))
    if low is None:  # everything failed so far: go down
        nxt = step_rate(high / cfg["growth"])
        return nxt if 0.1 <= nxt < high and nxt not in passed else None
    if high - low <= max(1.0, cfg["resolution"] * low):
        return None
    nxt = step_rate((low + high) / 2)
    return nxt if low < nxt < high else None


def judge_search(steps: list[Mapping[str, Any]], cfg: Mapping[str, float]) -> dict[str, Any]:
    """A search's result from its steps (each: ``step``, ``rps``, ``passes``, and
    ``limit_kind`` (measure.saturation.kind of the step; "unknown" when not known)."""
    passed, failed, pending = rates_of(steps)
    low, high = bracket(passed, failed)
    by_rate = _by_rate(steps)
    fail_rates = [float(s["rps"]) for s in steps if not s["passes"]]
    pass_rates = [float(s["rps"]) for s in steps if s["passes"]]
    non_monotone = bool(fail_rates and pass_rates and min(fail_rates) < max(pass_rates))
    unconfirmed = sorted(r for r in passed if False in by_rate[r])
    kinds = [str(s.get("limit_kind") or "unknown") for s in steps if high is not None
             and float(s["rps"]) == high and not s["passes"]]  # fmt: skip
    converged = (
        low is not None and high is not None and high - low <= max(1.0, cfg["resolution"] * low)
    )
    lower_bound, why = False, None
    if "environment" in kinds:
        lower_bound, why = True, "environment-limited"
    elif high is None and low is not None:
        lower_bound, why = True, f"no rate up to {max(pass_rates):g} RPS failed"
    if low is None:
        text = "no rate met the bound"
        if fail_rates:
            text += f" (lowest tried {min(fail_rates):g} RPS)"
    elif lower_bound:
        text = f"≥ {low:g} RPS, {why}"
    else:
        text = f"{low:g} RPS (bracket {low:g} to {high:g})"
    if non_monotone:
        text += "; non-monotone: a step failed below a passing rate"
    return {
        "capacity_rps": low,
        "bracket": [low or 0.0, high],  # high None: nothing failed above the capacity
        "converged": bool(converged) and not pending,
        "lower_bound": lower_bound,
        "lower_bound_why": why,
        "non_monotone": non_monotone,
        "confirmed_failures_rps": failed,
        "unconfirmed_failures_rps": unconfirmed,
        "bracket_high_limit_kinds": kinds,
        "capacity_text": text,
    }


def _bad(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def step_passes(summary: Mapping[str, Any], bound: Mapping[str, float]) -> dict[str, Any]:
    """{"passes": bool, "why": text} for one step's summary (measure.metrics'
    summarise_point)."""
    why = []
    p99, target, achieved = (summary.get(k) for k in ("latency_p99", "target_rps", "achieved_rps"))
    failures = summary.get("failures")
    if summary.get("integrity", "ok") != "ok":
        why.append(f"counts {summary['integrity']}")
    if _bad(p99) or p99 >= bound["p99_ms"]:
        why.append(f"p99 {p99:.0f} ms >= {bound['p99_ms']:g} ms" if not _bad(p99) else "no p99")
    if _bad(failures) or failures > bound["max_failures"]:
        why.append(f"{failures} failures > {bound['max_failures']:g}")
    if _bad(achieved) or _bad(target) or achieved < bound["min_achieved_fraction"] * target:
        why.append(f"achieved {achieved} of {target} RPS")
    return {"passes": not why, "why": "; ".join(why) or "meets the bound"}
