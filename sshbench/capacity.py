"""Capacity search: the highest sustained rate at which one configuration still meets the
bound (analysis.capacity: p99 of latency from the schedule < 2 s, no failure, >= 97 % of the
target sent, by default).

The search grows the rate by `growth` from `start_rps` until a step fails (or `max_rps`),
then bisects between the last passing and the first failing rate until the bracket is
narrower than `resolution` (relative), in at most `max_steps` steps. A first step that
fails already makes the search go down by the same factor instead. Every step is an
ordinary point (sshbench.point) in results/<sweep>/points/, with `pattern: capacity`, its
`step` and `search`; its point.json also says whether it passed. A rerun reuses the steps
already measured with the same parameters, so an interrupted search loses at most one step.
The search's record goes to results/<sweep>/capacity/<search>.json.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from analysis.capacity import bound_of, step_passes
from analysis.collect import summarise_point
from sshbench import paths, point

SEARCH_DEFAULTS: dict[str, float] = {
    "start_rps": 20.0,
    "max_rps": 1000.0,
    "growth": 1.5,
    "resolution": 0.05,
    "max_steps": 10,
}


def search_config(settings: dict[str, Any]) -> dict[str, float]:
    given = dict(settings.get("capacity") or {})
    return {k: float(given.get(k, v)) for k, v in SEARCH_DEFAULTS.items()}


def _rate(x: float) -> float:
    """Step rates: whole requests per second from 10 up, one decimal below."""
    return float(round(x)) if x >= 10 else round(x, 1)


def step_id(search: str, step: int, rps: float) -> str:
    return f"{search}-s{step}-r{rps:g}"


def bracket(passed: list[float], failed: list[float]) -> tuple[float | None, float | None]:
    """(highest passing rate, lowest failing rate above it); None where there is none."""
    low = max(passed) if passed else None
    above = [r for r in failed if low is None or r > low]
    return low, (min(above) if above else None)


def next_rate(passed: list[float], failed: list[float], cfg: dict[str, float]) -> float | None:
    """The next step's rate, or None when the search is done."""
    low, high = bracket(passed, failed)
    if high is None:  # nothing failed yet: grow, until max_rps has passed
        if low is not None and low >= cfg["max_rps"]:
            return None
        return _rate(min(cfg["max_rps"], (low or cfg["start_rps"] / cfg["growth"]) * cfg["growth"]))
    if low is None:  # everything failed so far: go down
        nxt = _rate(high / cfg["growth"])
        return nxt if nxt >= 0.1 and nxt < high else None
    if high - low <= max(1.0, cfg["resolution"] * low):
        return None
    nxt = _rate((low + high) / 2)
    return nxt if low < nxt < high else None


def _reuse(pdir: Path, params: dict[str, Any]) -> dict[str, Any] | None:
    """A step already measured with the same parameters (an earlier, interrupted run)."""
    try:
        rec = json.loads((pdir / "point.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return rec if rec.get("params") == params and "capacity_step" in rec else None


def search(
    sweep_name: str,
    search: str,
    params: dict[str, Any],
    settings: dict[str, Any],
    log_path: Path | None = None,
    run_step: Callable[..., dict[str, Any]] = point.run,
) -> dict[str, Any]:
    """Run one capacity search; write and return its record."""
    cfg = search_config(settings)
    bound = bound_of(settings)
    passed: list[float] = []
    failed: list[float] = []
    steps: list[dict[str, Any]] = []
    rate: float | None = _rate(cfg["start_rps"])
    while rate is not None and len(steps) < cfg["max_steps"]:
        n = len(steps)
        sp = {**params, "rps": rate, "step": n, "search": search}
        pid = step_id(search, n, rate)
        pdir = paths.SweepLayout.of(sweep_name).point(pid)
        rec = _reuse(pdir, sp)
        if rec is None:
            rec = run_step(sweep_name, pid, sp, settings, log_path)
            verdict = step_passes(summarise_point(pdir), bound)
            if rec["status"] != "ok":
                verdict = {"passes": False, "why": f"point failed: {rec['error_class']}"}
            rec["capacity_step"] = verdict
            point.write_record(pdir, rec)
        ok = rec["capacity_step"]["passes"]
        (passed if ok else failed).append(rate)
        steps.append({"step": n, "id": pid, "rps": rate, **rec["capacity_step"]})
        rate = next_rate(passed, failed, cfg)
    low, high = bracket(passed, failed)
    result = {
        "search": search,
        "params": params,
        "bound": bound,
        "search_config": cfg,
        "capacity_rps": low,
        "bracket": [low or 0.0, high],  # high None: nothing failed above the capacity
        "converged": rate is None and low is not None and high is not None,
        "steps": steps,
    }
    out = paths.SweepLayout.of(sweep_name).capacity_search(search)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1, default=str) + "\n")
    tmp.replace(out)
    print(
        f"capacity {search}: {low if low is not None else 'none'} RPS at the bound "
        f"(bracket {result['bracket'][0]:g} to {'-' if high is None else f'{high:g}'}, "
        f"{len(steps)} steps)",
        flush=True,
    )
    return result
