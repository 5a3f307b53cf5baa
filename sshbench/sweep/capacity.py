"""Capacity search: the highest sustained rate at which one configuration still meets the
bound (analysis.capacity: p99 of latency from the schedule < 2 s, no failure, >= 97 % of the
target sent, by default).

The rules (growth, bisection, a failing step confirmed by one repeat, non-monotone results,
environment-limited lower bounds) live once, in analysis.capacity: this module runs the
steps they ask for. Every step is an ordinary point (sshbench.sweep.point) in
results/<sweep>/points/, with `pattern: capacity`, its `step` and `search`; its point.json
also says whether it passed. A rerun reuses the steps already measured with the same
parameters, so an interrupted search loses at most one step. The search's record goes to
results/<sweep>/capacity/<search>.json.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from measure import saturation
from measure.capacity import (
    SEARCH_DEFAULTS,
    bound_of,
    judge_search,
    next_rate,
    search_config,
    step_passes,
    step_rate,
)
from measure.metrics import summarise_point
from measure.point import PointFiles, PointRecord
from sshbench import paths
from sshbench.sweep import point

__all__ = ["SEARCH_DEFAULTS", "next_rate", "search", "search_config", "step_id"]


def step_id(search: str, step: int, rps: float) -> str:
    return f"{search}-s{step}-r{rps:g}"


def _reuse(pdir: Path, params: dict[str, Any]) -> dict[str, Any] | None:
    """A step already measured with the same parameters (an earlier, interrupted run)."""
    try:
        rec = PointRecord.read(pdir)
    except (OSError, ValueError):
        return None
    return rec.to_dict() if rec.params == params and rec.capacity_step is not None else None


def _summary(pdir: Path) -> dict[str, Any]:
    try:
        return summarise_point(pdir)
    except Exception:  # the step's verdict then says why it cannot pass
        return {}


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
    steps: list[dict[str, Any]] = []
    rate: float | None = step_rate(cfg["start_rps"])
    while rate is not None and len(steps) < cfg["max_steps"]:
        n = len(steps)
        sp = {**params, "rps": rate, "step": n, "search": search}
        pid = step_id(search, n, rate)
        pdir = paths.SweepLayout.of(sweep_name).point(pid)
        rec = _reuse(pdir, sp)
        fresh = rec is None
        if fresh:
            rec = run_step(sweep_name, pid, sp, settings, log_path)
        summary = _summary(pdir)  # once per step: the verdict and what ran out
        if fresh:
            verdict = step_passes(summary, bound)
            if rec["status"] != "ok":
                verdict = {"passes": False, "why": f"point failed: {rec['error_class']}"}
            rec["capacity_step"] = verdict
            point.write_record(pdir, rec)
            if point.interrupted():  # Ctrl-C: this step is kept; the search stops here
                raise KeyboardInterrupt
            PointFiles(pdir).kept.unlink(missing_ok=True)
        limited = summary.get("limited_by")
        steps.append(
            {
                "step": n,
                "id": pid,
                "rps": rate,
                **rec["capacity_step"],
                "limited_by": limited,
                "limit_kind": "unknown" if limited is None else saturation.kind(limited),
            }
        )
        rate = next_rate(steps, cfg)
    judged = judge_search(steps, cfg)
    result = {
        "search": search,
        "params": params,
        "bound": bound,
        "search_config": cfg,
        **judged,
        "converged": judged["converged"] and rate is None,
        "steps": steps,
    }
    out = paths.SweepLayout.of(sweep_name).capacity_search(search)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1, default=str) + "\n")
    tmp.replace(out)
    print(f"capacity {search}: {judged['capacity_text']} ({len(steps)} steps)", flush=True)
    return result
