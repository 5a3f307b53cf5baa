"""Calibration of the non-CPU delay, and validation on what the model was not fitted on.

Fitted: the demands (analysis.model.demands, from the fitting points' CPU rates) and one
delay per configuration, chosen so the model's p50 at the configuration's lowest fitting
rate equals the measured p50 there (so that row is ``used_for_fit``). Held out, predicted
with the ``here`` topology of each point (its host quota, this machine's cores, the fitted
background): every capacity search's result (capacity steps are never fitted on), p50 and
p99 at every other measured rate.

The rule (``RULE``): validated when at least one held-out capacity exists, every held-out
capacity lies within 15 % of the measurement, and every held-out p50 at a rate whose
utilisation is below 70 % lies within 20 % (``bottleneck_util``: the larger of the model's
busiest pool or cap, by answers alone, and the measured util_machine / util_host: a machine
kept busy by other tenants is not in the regime the rule checks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis.capacity import capacities
from analysis.model.demands import CONFIG, ConfigDemands, config_key, wide
from analysis.model.simulate import capacity, simulate
from analysis.model.topology import Topology, here
from measure.capacity import bound_of

CAPACITY_TOL = 0.15
P50_TOL = 0.20
P50_MAX_UTIL = 0.70
RULE = (
    f"every held-out capacity within {CAPACITY_TOL:.0%} of the measured bracket (a search "
    "measures an interval [capacity, first confirmed failing rate); a lower bound only below "
    f"it), and p50 within "
    f"{P50_TOL:.0%} at rates whose predicted bottleneck utilisation is below {P50_MAX_UTIL:.0%}"
)
VALIDATION_COLUMNS = [
    "configuration",
    "host_cpus",
    "rps",
    "quantity",
    "predicted",
    "measured",
    "rel_error",
    "used_for_fit",
    "bottleneck_util",
    # capacity rows: the search's bracket [measured, measured_high) and the prediction's
    # distance from it (0 inside; relative to the nearer end outside), which the rule reads
    "measured_high",
    "bracket_error",
]


@dataclass
class Machine:
    """What ``here`` needs from the sweep: cores, API workers, Locust processes, window."""

    cores: float = 2.0
    api_workers: int = 1
    generator_processes: int = 1
    duration_s: float = 8.0
    warmup_s: float = 2.0
    p99_ms: float = 2000.0
    extra: dict[str, Any] = field(default_factory=dict)


def _first(w: pd.DataFrame, col: str, default: float) -> float:
    if col not in w.columns:
        return default
    vals = pd.to_numeric(w[col], errors="coerce").dropna()
    return float(vals.iloc[0]) if len(vals) else default


def machine_of(tidy: pd.DataFrame) -> Machine:
    w = wide(tidy)
    settings = {}
    if "settings.capacity.p99_ms" in tidy.columns:
        v = pd.to_numeric(tidy["settings.capacity.p99_ms"], errors="coerce").dropna()
        if len(v):
            settings = {"capacity": {"p99_ms": float(v.iloc[0])}}
    sustained = w[w["pattern"] == "sustained"] if "pattern" in w.columns else w
    return Machine(
        cores=_first(w, "resources.machine_cores", 2.0),
        api_workers=int(_first(w, "settings.api.workers", 1)),
        generator_processes=int(_first(w, "settings.loadgen.processes", 1)),
        duration_s=_first(sustained, "duration_s", 8.0),
        warmup_s=_first(sustained, "warmup_s", 2.0),
        p99_ms=bound_of(settings)["p99_ms"],
    )


def here_of(f: ConfigDemands, m: Machine, host_cpus: float) -> Topology:
    return here(
        host_cpus,
        machine_cores=m.cores,
        api_workers=m.api_workers,
        generator_processes=m.generator_processes,
        background=f.demands["rest"].background,
    )


def point_demands(f: ConfigDemands, which: str = "ms") -> dict[str, float]:
    return {r: getattr(d, which) for r, d in f.demands.items()}


def calibrate(f: ConfigDemands, m: Machine) -> ConfigDemands:
    """Set f.delay_ms: measured p50 at the lowest fitting rate minus the model's p50 there
    without any delay (not below 0)."""
    low = min(f.rates)
    pts = f.fit[f.fit["target_rps"] == low]
    measured = float(pts["latency_p50"].mean())
    host_cpus = float(pts["host_cpus"].iloc[0])
    dur, warm = _first(pts, "duration_s", m.duration_s), _first(pts, "warmup_s", m.warmup_s)
    sim = simulate(here_of(f, m, host_cpus), point_demands(f), 0.0, low, dur, warm)
    f.delay_ms = max(measured - sim.p(50), 0.0)
    return f


def _rel(pred: float, meas: float) -> float:
    if not (math.isfinite(pred) and math.isfinite(meas)) or meas == 0:
        return math.nan
    return (pred - meas) / meas


def bracket_error(pred: float, low: float, high: float | None) -> float:
    """How far a predicted capacity lies from a search's measured bracket [low, high): 0
    inside it, else relative to the nearer end. ``high`` None (a lower bound: nothing failed
    that counts as the system's limit) leaves only ``pred < low`` as an error."""
    if not (math.isfinite(pred) and math.isfinite(low)) or low == 0:
        return math.nan
    if pred < low:
        return (pred - low) / low
    if high is None or not math.isfinite(high) or pred <= high:
        return 0.0
    return (pred - high) / high


def validation_rows(tidy: pd.DataFrame, fits: list[ConfigDemands], m: Machine) -> pd.DataFrame:
    """validation.csv's rows: predicted against measured, fitted and held-out."""
    if not fits:
        return pd.DataFrame(columns=VALIDATION_COLUMNS)
    w = wide(tidy)
    fitted_ids = set()
    for f in fits:
        fitted_ids |= set(f.fit["point_id"])
    by_key = {f.key: f for f in fits}
    rows: list[dict[str, Any]] = []
    sustained = w[(w["pattern"] == "sustained") & (w["status"] == "ok")]
    for key, g in sustained.groupby([*CONFIG, "host_cpus", "rps"], sort=True):
        config = dict(zip(CONFIG, (str(k) for k in key[: len(CONFIG)]), strict=True))
        f = by_key.get(config_key(config))
        if f is None:
            continue
        host_cpus, rps = float(key[-2]), float(key[-1])
        dur, warm = _first(g, "duration_s", m.duration_s), _first(g, "warmup_s", m.warmup_s)
        sim = simulate(here_of(f, m, host_cpus), point_demands(f), f.delay_ms, rps, dur, warm)
        measured_util = [float(g[c].mean()) for c in ("util_machine", "util_host") if c in g]
        bott = max([sim.bottleneck_util, *measured_util])
        fitted = bool(set(g["point_id"]) & fitted_ids)
        calib = fitted and rps == min(f.rates)
        base = {"configuration": f.key, "host_cpus": host_cpus, "rps": rps, "bottleneck_util": bott}
        for q, col in ((50, "latency_p50"), (99, "latency_p99")):
            if col in g.columns:
                meas = float(g[col].mean())
                pred = sim.p(q)
                rows.append(
                    {
                        **base,
                        "quantity": f"{col}_ms",
                        "predicted": pred,
                        "measured": meas,
                        "rel_error": _rel(pred, meas),
                        "used_for_fit": bool(calib and q == 50),
                    }
                )
        for pool, col in (("machine", "util_machine"), ("cap:host", "util_host")):
            if col in g.columns and pool in sim.util:
                meas = float(g[col].mean())
                pred = min(float(sim.util[pool]), 1.0)
                rows.append(
                    {
                        **base,
                        "quantity": col,
                        "predicted": pred,
                        "measured": meas,
                        "rel_error": _rel(pred, meas),
                        "used_for_fit": fitted,
                    }
                )
    caps = capacities(tidy)
    for _, c in caps.iterrows():
        config = {k: str(c[k]) for k in CONFIG}
        f = by_key.get(config_key(config))
        if f is None:
            continue
        host_cpus = float(c["host_cpus"])
        steps = w[w["search"] == c["search"]] if "search" in w.columns else w.iloc[0:0]
        dur = _first(steps, "duration_s", m.duration_s)  # the search's own step length
        warm = _first(steps, "warmup_s", m.warmup_s)
        pred = capacity(
            here_of(f, m, host_cpus),
            point_demands(f),
            f.delay_ms,
            dur,
            warm,
            m.p99_ms,
        )
        meas = float(c["capacity_rps"]) if pd.notna(c["capacity_rps"]) else math.nan
        high = c.get("bracket_high_rps")
        high = float(high) if pd.notna(high) and not _true(c.get("lower_bound")) else None
        bott = here_of(f, m, host_cpus).bottleneck_rps(point_demands(f))
        rows.append(
            {
                "configuration": f.key,
                "host_cpus": host_cpus,
                "rps": math.nan,
                "quantity": "capacity_rps",
                "predicted": pred,
                "measured": meas,
                "rel_error": _rel(pred, meas),
                "used_for_fit": False,
                "bottleneck_util": pred / bott if bott else math.nan,
                "measured_high": high if high is not None else math.nan,
                "bracket_error": bracket_error(pred, meas, high),
            }
        )
    return pd.DataFrame(rows, columns=VALIDATION_COLUMNS)


def _true(v: Any) -> bool:
    """A capacity table's boolean cell (bool, or its CSV text)."""
    if isinstance(v, str):
        return v.strip().lower() in ("true", "1", "1.0")
    return bool(v) and not (isinstance(v, float) and math.isnan(v))


def verdict(rows: pd.DataFrame, fits: list[ConfigDemands]) -> dict[str, Any]:
    """validation.json: validated or not, why, and the worst held-out errors."""
    held = rows[~rows["used_for_fit"].astype(bool)] if len(rows) else rows
    cap = held[held["quantity"] == "capacity_rps"] if len(held) else held
    p50 = held[(held["quantity"] == "latency_p50_ms") & (held["bottleneck_util"] < P50_MAX_UTIL)]
    why = []
    if not fits:
        why.append("no sustained, unsaturated point to fit demands on")
    if cap.empty:
        why.append("no held-out capacity search to check")
    cap_err = cap["bracket_error"].abs()
    p50_err = p50["rel_error"].abs()
    if len(cap) and not (cap_err <= CAPACITY_TOL).all():
        worst_cap = np.nanmax(cap_err.to_numpy())
        why.append(f"held-out capacity off its measured bracket by up to {worst_cap:.0%}")
    if len(p50) and not (p50_err <= P50_TOL).all():
        why.append(f"held-out p50 off by up to {np.nanmax(p50_err.to_numpy()):.0%}")

    def worst(df: pd.DataFrame, col: str = "rel_error") -> dict[str, Any] | None:
        if df.empty or df[col].abs().isna().all():
            return None
        r = df.loc[df[col].abs().idxmax()]
        return {
            k: (None if isinstance(r[k], float) and math.isnan(r[k]) else r[k])
            for k in ("configuration", "host_cpus", "rps", "predicted", "measured", "rel_error")
            + (("measured_high", "bracket_error") if col == "bracket_error" else ())
        }

    return {
        "validated": not why,
        "why": "; ".join(why) or "every held-out check within its tolerance",
        "rule": RULE,
        "held_out_capacities": len(cap),
        "held_out_p50_checked": len(p50),
        "worst_capacity": worst(cap, "bracket_error"),
        "worst_p50": worst(p50),
        "worst_p99": worst(held[held["quantity"] == "latency_p99_ms"]) if len(held) else None,
    }
