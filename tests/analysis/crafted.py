"""Hand-built tidy tables in the contract-v2 shape, for unit tests of figures, tables and
the report. They are test fixtures only, never presented as measurements."""

from __future__ import annotations

import itertools
import json
import math

import pandas as pd

from analysis.select import latency_metric, service_metric
from measure.metrics import PERCENTILES

POINT_COLUMNS = {
    "integrity": "ok",
    "limited_by": "[]",
    "saturation": "",
    "limit_kind": "none",
    "host_cpus": 2,
    "client_tcp": "default",
    "pattern": "sustained",
    "host": "taco",
    "command": "uptime",
    "profile": "tuned",
    "library": "ssh2",
    "connections": "per-request",
}


def point_rows(params: dict, metrics: dict, point_id: str, status: str = "ok") -> list[dict]:
    base = {"sweep": "crafted", "point_id": point_id, "status": status, **POINT_COLUMNS, **params}
    return [
        {**base, "metric": m, "value": float(v), "unit": "", "quantile": None}
        for m, v in metrics.items()
    ]


def sustained_metrics(rps: float, base_ms: float, saturated: bool = False) -> dict[str, float]:
    lat = base_ms * (40 if saturated else 1)
    m = {latency_metric(q): lat * (1 + q / 200) for q in PERCENTILES}
    m |= {f"ok_{latency_metric(q)}": lat * (1 + q / 200) for q in PERCENTILES}
    m |= {service_metric(q): base_ms * (1 + q / 200) for q in PERCENTILES}
    sent = rps * 20
    ok = sent - (3 if saturated else 0)
    m |= {
        "latency_mean": math.inf if saturated else lat * 1.1,  # a failure: not answered
        "ok_latency_mean": lat * 1.1,
        "answered_share": ok / sent,
        "service_mean": base_ms * 1.1,
        "slots": sent,
        "sent": sent,
        "requests": sent,
        "missed": 0,
        "successes": ok,
        "failures": sent - ok,
        "failures_ssh_error": sent - ok,
        "target_rps": rps,
        "achieved_rps": rps * (0.8 if saturated else 1.0),
        "throughput_rps": rps * (0.78 if saturated else 1.0),
        "frac_ok_under_1000ms": 0.5 if saturated else 1.0,
        "frac_ok_under_2000ms": 0.6 if saturated else 1.0,
        "demand_ms_host": 23.0,
        "demand_ms_api": 3.0,
        "demand_ms_generator": 0.5,
        "demand_ms_machine": 27.0,
    }
    return m


def v2_tidy() -> pd.DataFrame:
    """taco, tuned, uptime; ssh2 per-request at 10/50/90 RPS (90 saturated: host_cpu:taco),
    3 trials; paramiko per-request at 10 RPS; ssh2 pooled at 10 RPS. No default profile,
    no jetstream, no openssh, no paramiko pooled: figures must not draw panels for them."""
    rows = []
    configs = [("ssh2", "per-request", r) for r in (10, 50, 90)]
    configs += [("paramiko", "per-request", 10), ("ssh2", "pooled", 10)]
    for (lib, mode, rps), trial in itertools.product(configs, range(3)):
        sat = rps == 90
        params = {"rps": rps, "library": lib, "connections": mode, "trial": trial}
        if sat:
            params |= {
                "limited_by": json.dumps(["host_cpu:taco"]),
                "saturation": "saturated: host_cpu:taco",
                "limit_kind": "saturated",
            }
        base = 75.0 if mode == "per-request" else 8.0
        pid = f"r{rps}-taco-c2-uptime-tuned-{lib}-{mode}-tcpd-sustained-t{trial}"
        rows += point_rows(params, sustained_metrics(rps, base + trial, sat), pid)
    return pd.DataFrame(rows)


def capacities_frame() -> pd.DataFrame:
    """A frame with exactly analysis.capacity.capacities' columns (contract v2)."""
    rows = []
    for lib, mode, cap, conv, trial in (
        ("ssh2", "per-request", 74.0, True, 0),
        ("ssh2", "per-request", 76.0, True, 1),
        ("paramiko", "per-request", 68.0, True, 0),
        ("ssh2", "pooled", 310.0, False, 0),
        ("openssh", "per-request", float("nan"), False, 0),
    ):
        rows.append(
            {
                "search": f"cap-taco-c2-uptime-tuned-{lib}-{mode}-tcpd-t{trial}",
                "host": "taco",
                "host_cpus": 2.0,
                "client_tcp": "default",
                "command": "uptime",
                "profile": "tuned",
                "library": lib,
                "connections": mode,
                "trial": trial,
                "capacity_rps": cap,
                "bracket_low_rps": 0.0 if cap != cap else cap,
                "bracket_high_rps": 20.0 if cap != cap else cap * 1.05,
                "steps": 6,
                "first_failing_limited_by": json.dumps(["host_cpu:taco"]),
                "converged": conv,
                "bound": "p99 <= 2000 ms, 0 failures, achieved >= 97 %",
            }
        )
    return pd.DataFrame(rows)
