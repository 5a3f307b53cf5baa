"""Choosing data from the tidy table: which columns are design parameters, the rows a claim's
condition names, one row per point, and which level of a factor a figure or table keeps.

Figures, tables and the claims check all select through this module, so "the study's
configuration" or "a point left out for broken integrity" means the same everywhere.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from analysis.capacity import CAPACITY_COLUMNS, capacities
from analysis.claims_spec import study_reference
from analysis.common import isnum, order, same
from measure.metrics import percentile_metric

# Design parameters of the contract (docs/ARCHITECTURE.md section 3); a tidy table may
# name more in its param_names column. Trials (and their seeds) are repetitions, never a
# grouping; a capacity search's step number is a repetition of the search, too.
CONTRACT_PARAMS = (
    "rps",
    "host",
    "host_cpus",
    "client_tcp",
    "command",
    "profile",
    "library",
    "connections",
    "pattern",
    "duration_s",
    "warmup_s",
    "burst_size",
    "logins",
    "search",
)
REPETITION_PARAMS = ("trial", "seed", "step")

# Facts of a point (one value per point) that selection and wording read.
POINT_FACTS = (
    "integrity",
    "limited_by",
    "saturation",
    "limit_kind",
    "limit_order",
    "error_class",
)

# The study's configuration: its API used ssh2-python with a new connection per request,
# driven at a constant rate, on VMs of 2 CPUs. Figures prefer these levels when a sweep has
# several, and the claims name them in their conditions.
STUDY = {
    "library": "ssh2",
    "connections": "per-request",
    "pattern": "sustained",
    "host_cpus": 2,
    "client_tcp": "default",
}
# The rate of the study's headline claim (paper/claims.yaml `reference:`, 99 % < 2 s at
# 90 RPS); capacities are set beside it.
STUDY_RPS = study_reference().study_rps
LIBRARY_ORDER = ["ssh2", "paramiko", "openssh", "asyncssh", "ssh-python"]
MODE_ORDER = ["per-request", "pooled"]
PROFILE_ORDER = ["default", "tuned"]
TCP_ORDER = ["default", "quickack"]

CONDITION_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


def latency_metric(q: float) -> str:
    """Latency (from the intended send time) at percentile q: 99.9 -> latency_p99.9."""
    return percentile_metric(q, "latency")


def service_metric(q: float) -> str:
    """Service time (from the actual send) at percentile q."""
    return percentile_metric(q, "service")


# ---------------------------------------------------------------- parameters and conditions


def param_columns(tidy: pd.DataFrame) -> list[str]:
    """Design parameters present in the table (contract ones plus any named in param_names)."""
    names = set(CONTRACT_PARAMS)
    if "param_names" in tidy.columns:
        for text in tidy["param_names"].dropna().unique():
            names.update(json.loads(text))
    names -= set(REPETITION_PARAMS)
    return [c for c in tidy.columns if c in names]


def match(series: pd.Series, spec: Any) -> pd.Series:
    """Rows of a column matching a condition: a value, a list of values, or {op: value}."""
    if isinstance(spec, dict):
        mask = pd.Series(True, index=series.index)
        for op, val in spec.items():
            if op not in CONDITION_OPS:
                raise ValueError(f"condition operator {op!r} is not one of {list(CONDITION_OPS)}")
            num = pd.to_numeric(series, errors="coerce")
            mask &= num.notna() & CONDITION_OPS[op](num, float(val))
        return mask
    values = spec if isinstance(spec, list) else [spec]
    return series.map(lambda x: any(same(x, v) for v in values)).astype(bool)


def select(tidy: pd.DataFrame, condition: dict[str, Any]) -> pd.DataFrame | None:
    """Rows matching every condition; None if a conditioned parameter is not in the table.

    A parameter the table lacks but whose condition is the contract's default (host_cpus 2,
    client_tcp default) matches every row: a sweep from before the axis existed ran there.
    """
    mask = pd.Series(True, index=tidy.index)
    for col, spec in condition.items():
        if col not in tidy.columns:
            if col in STUDY and not isinstance(spec, dict) and same(spec, STUDY[col]):
                continue
            return None
        mask &= match(tidy[col], spec)
    return tidy[mask]


# ---------------------------------------------------------------- points


def integrity_ok(rows: pd.DataFrame) -> pd.Series:
    """Rows of points whose record is whole (integrity "ok"; a table without the column is)."""
    if "integrity" not in rows.columns:
        return pd.Series(True, index=rows.index)
    return rows["integrity"].fillna("ok").astype(str).eq("ok")


def environment_limited(rows: pd.DataFrame) -> pd.Series:
    """Rows of points whose environment (machine CPU, load generator) ran out before the
    bound broke (limit_kind environment, measure.saturation); "unknown" is not included."""
    if "limit_kind" not in rows.columns:
        return pd.Series(False, index=rows.index)
    return rows["limit_kind"].astype(str).eq("environment")


def per_point(tidy: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """One row per point: its parameters, status, point facts and the metrics (NaN if absent)."""
    if tidy.empty or "point_id" not in tidy.columns:
        return pd.DataFrame(columns=["point_id", "status", *metrics])
    meta_cols = ["point_id", "status", *param_columns(tidy)]
    meta_cols += [c for c in (*REPETITION_PARAMS, *POINT_FACTS) if c in tidy.columns]
    meta = tidy.drop_duplicates("point_id")[meta_cols].set_index("point_id")
    sub = tidy[tidy["metric"].isin(metrics)]
    wide = sub.pivot_table(index="point_id", columns="metric", values="value", aggfunc="first")
    out = meta.join(wide, how="left").reset_index()
    for m in metrics:
        if m not in out.columns:
            out[m] = np.nan
    return out


def http_load(pts: pd.DataFrame) -> pd.DataFrame:
    """Points that sent HTTP requests through the API: every pattern but `auth` (whose rows
    are logins with the library alone, sshbench/load/authtime.py)."""
    if pts.empty or "pattern" not in pts.columns:
        return pts
    return pts[pts["pattern"] != "auth"]


def ok_points(pts: pd.DataFrame) -> pd.DataFrame:
    """Points that finished (status ok) with a whole record (integrity ok)."""
    if pts.empty:
        return pts
    return pts[(pts["status"] == "ok") & integrity_ok(pts)]


def keep_one(
    df: pd.DataFrame, col: str, prefer: Any = None, cover: Sequence[str] = ()
) -> tuple[pd.DataFrame, str]:
    """Keep one level of col and say which, if it varied.

    The level kept is the one under which the columns `cover` (what the figure compares)
    have the most distinct combinations; ties go to `prefer`, then to the first level. So a
    figure about libraries keeps the host the libraries were measured on.
    """
    if col not in df.columns or df.empty:
        return df, ""
    levels = order(df[col].unique())
    if len(levels) <= 1:
        return df, ""
    cover = [c for c in cover if c in df.columns]

    def score(level: Any) -> tuple[int, int]:
        sub = df[df[col] == level]
        n = len(sub.drop_duplicates(cover)) if cover else 0
        return (n, 1 if prefer is not None and same(level, prefer) else 0)

    keep = max(levels, key=score)  # max keeps the first of equal scores
    shown = f"{float(keep):g}" if isnum(keep) else keep
    return df[df[col] == keep], f"{col}={shown}"


def study_config(df: pd.DataFrame, also: Sequence[str] = ()) -> tuple[pd.DataFrame, list[str]]:
    """Restrict to the study's configuration (pattern, library, connections, host CPUs, client
    TCP) and `also`, keeping one level of each that varied; say which were kept."""
    notes = []
    for col in ("pattern", "library", "connections", "host_cpus", "client_tcp", *also):
        df, note = keep_one(df, col, STUDY.get(col))
        if note:
            notes.append(note)
    return df, notes


# ---------------------------------------------------------------- capacity searches


def capacity_searches(tidy: pd.DataFrame) -> pd.DataFrame:
    """One row per capacity search of the sweep (analysis.capacity.CAPACITY_COLUMNS; empty,
    with those columns, when the sweep has none)."""
    if tidy.empty or "metric" not in tidy.columns:
        return pd.DataFrame(columns=CAPACITY_COLUMNS)
    return capacities(tidy)
