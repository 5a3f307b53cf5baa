"""Capacity searches from the tidy table: one row per search (CAPACITY_COLUMNS), each step
judged by measure.capacity's rules (the same functions the runner applied while it searched).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from measure import saturation
from measure.capacity import (
    bound_of,
    bound_text,
    judge_search,
    search_config,
    step_passes,
)

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
    "lower_bound",
    "lower_bound_why",
    "non_monotone",
    "unconfirmed_failures_rps",
    "capacity_text",
]


def _settings_from_row(row: Mapping[str, Any]) -> dict[str, Any]:
    cap = {
        k.removeprefix("settings.capacity."): v
        for k, v in row.items()
        if isinstance(k, str) and k.startswith("settings.capacity.") and pd.notna(v)
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
        base = pts.iloc[0]
        settings = _settings_from_row(base)
        bound = bound_of(settings)
        steps = []
        for pid, row in pts.iterrows():
            summary = {m: _num(wide.loc[pid, m]) if pid in wide.index and m in wide else None
                       for m in metrics}  # fmt: skip
            summary["integrity"] = row.get("integrity", "ok")
            ok = row.get("status") == "ok" and step_passes(summary, bound)["passes"]
            limited = row.get("limited_by", "[]")
            steps.append(
                {
                    "step": int(row["step"]),
                    "rps": float(row["rps"]),
                    "passes": bool(ok),
                    "limited_by": limited,
                    "limit_kind": _limit_kind(row),
                }
            )
        res = judge_search(steps, search_config(settings))
        failing = [s for s in steps if not s["passes"]]
        first_fail = min(failing, key=lambda s: s["step"]) if failing else None
        low, high = res["bracket"]
        out.append(
            {
                "search": search,
                **{k: base.get(k) for k in CAPACITY_COLUMNS[1:9]},
                "capacity_rps": math.nan if res["capacity_rps"] is None else low,
                "bracket_low_rps": low,
                "bracket_high_rps": math.nan if high is None else high,
                "steps": len(steps),
                "first_failing_limited_by": _json_list(first_fail and first_fail["limited_by"]),
                "converged": res["converged"],
                "bound": bound_text(bound),
                "lower_bound": res["lower_bound"],
                "lower_bound_why": res["lower_bound_why"],
                "non_monotone": res["non_monotone"],
                "unconfirmed_failures_rps": json.dumps(res["unconfirmed_failures_rps"]),
                "capacity_text": res["capacity_text"],
            }
        )
    return pd.DataFrame(out, columns=CAPACITY_COLUMNS)


def _limit_kind(row: Mapping[str, Any]) -> str:
    """The step's limit kind: the tidy column, else measure.saturation's kind of its
    limited_by; "unknown" when neither is there."""
    given = row.get("limit_kind")
    if isinstance(given, str) and given:
        return given
    limited = row.get("limited_by")
    return saturation.kind(limited) if isinstance(limited, str) else "unknown"


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
