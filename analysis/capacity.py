"""Capacity at the bound: does one step of a capacity search meet the study's bound, and what
is each search's capacity (the highest passing rate, with its bracket).

The runner (sshbench.capacity) calls `step_passes` after each step to choose the next rate;
the analysis calls `capacities` on the tidy table, which judges the same steps with the same
function. The bound (sweep config `capacity:`, default the study's): p99 of latency from the
schedule under `p99_ms`, at most `max_failures` failed requests, at least
`min_achieved_fraction` of the target rate sent, and counts that add up.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

DEFAULT_BOUND: dict[str, float] = {
    "p99_ms": 2000.0,
    "max_failures": 0,
    "min_achieved_fraction": 0.97,
}

CAPACITY_COLUMNS = [
    "search",
    "host",
    "host_cpus",
    "client_tcp",
    "command",
    "profile",
    "library",
    "connections",
    "trial",
    "capacity_rps",
    "bracket_low_rps",
    "bracket_high_rps",
    "steps",
    "first_failing_limited_by",
    "converged",
    "bound",
]


def bound_of(settings: Mapping[str, Any] | None) -> dict[str, float]:
    """The bound in force: the sweep's `capacity:` settings over the study's defaults."""
    given = dict((settings or {}).get("capacity") or {})
    return {k: float(given.get(k, v)) for k, v in DEFAULT_BOUND.items()}


def bound_text(bound: Mapping[str, float]) -> str:
    return (
        f"p99 < {bound['p99_ms']:g} ms, failures <= {bound['max_failures']:g}, "
        f"achieved >= {bound['min_achieved_fraction']:.0%} of target"
    )


def _bad(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def step_passes(summary: Mapping[str, Any], bound: Mapping[str, float]) -> dict[str, Any]:
    """{"passes": bool, "why": text} for one step's summary (analysis.collect's numbers)."""
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


def _settings_from_row(row: Mapping[str, Any]) -> dict[str, Any]:
    cap = {
        k.removeprefix("settings.capacity."): v
        for k, v in row.items()
        if isinstance(k, str) and k.startswith("settings.capacity.") and not _bad(v)
    }
    return {"capacity": cap}


def capacities(tidy: pd.DataFrame) -> pd.DataFrame:
    """One row per capacity search of the sweep (CAPACITY_COLUMNS); empty if it has none."""
    if tidy.empty or "pattern" not in tidy.columns:
        return pd.DataFrame(columns=CAPACITY_COLUMNS)
    steps = tidy[tidy["pattern"] == "capacity"]
    if steps.empty or "search" not in steps.columns:
        return pd.DataFrame(columns=CAPACITY_COLUMNS)
    metrics = ["latency_p99", "failures", "achieved_rps", "target_rps"]
    wide = steps[steps["metric"].isin(metrics)].pivot_table(
        index="point_id", columns="metric", values="value", aggfunc="first"
    )
    first = steps.drop_duplicates("point_id").set_index("point_id")
    out = []
    for search, pts in first.groupby("search", sort=True):
        judged = []
        for pid, row in pts.iterrows():
            summary = {m: _num(wide.loc[pid, m]) if pid in wide.index and m in wide else None
                       for m in metrics}  # fmt: skip
            summary["integrity"] = row.get("integrity", "ok")
            bound = bound_of(_settings_from_row(row))
            ok = row.get("status") == "ok" and step_passes(summary, bound)["passes"]
            judged.append((float(row["rps"]), ok, row.get("limited_by", "[]"), int(row["step"])))
        passing = [r for r, ok, _, _ in judged if ok]
        failing = sorted((r, lim) for r, ok, lim, _ in judged if not ok)
        low = max(passing) if passing else 0.0
        above = [(r, lim) for r, lim in failing if r > low]
        high = above[0][0] if above else math.nan
        first_fail = min(((s, lim) for r, ok, lim, s in judged if not ok), default=(None, "[]"))
        resolution = float(pts.iloc[0].get("settings.capacity.resolution", 0.05) or 0.05)
        converged = bool(passing and above and (high - low) <= max(1.0, resolution * low))
        base = pts.iloc[0]
        out.append(
            {
                "search": search,
                **{k: base.get(k) for k in CAPACITY_COLUMNS[1:9]},
                "capacity_rps": low if passing else math.nan,
                "bracket_low_rps": low,
                "bracket_high_rps": high,
                "steps": len(judged),
                "first_failing_limited_by": _json_list(first_fail[1]),
                "converged": converged,
                "bound": bound_text(bound_of(_settings_from_row(base))),
            }
        )
    return pd.DataFrame(out, columns=CAPACITY_COLUMNS)


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def _json_list(text: Any) -> str:
    if isinstance(text, list):
        return json.dumps(text)
    return text if isinstance(text, str) and text.startswith("[") else "[]"
