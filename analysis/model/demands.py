"""Service demands per configuration, from a sweep's tidy table (the model's input).

A configuration is library x connection mode x command x sshd profile x client TCP
(``CONFIG``): the host and its CPU quota are not part of it (sshd's CPU per connection does
not depend on how many cores it may use; the topology says how many it has).

For each configuration and resource (``RESOURCES``: the host's sshd cgroup, the API's
process tree, the load generator, and the rest of the machine = machine busy minus the other
three) the CPU rate of each fitting point (cpu_s_<r> / W, in cores) is regressed on its
throughput (answers/s): ``rate = background + throughput * demand`` (scipy.stats.linregress,
95 % CI from Student's t with n - 2 degrees of freedom). With one fitting rate only
(``regress``), the demand is the points' mean ratio (utilisation law D = U / X) with a t CI
over the points, and the rest of the machine is left out (its background and its per-answer
part cannot be told apart at one rate).

Fitting points (``fit_points``): sustained pattern, status ok, no failure, no missed slot,
throughput at least ``KEEP_PACE`` of the target (the steady state the utilisation law needs)
and nothing of the system under test or the generator ran out (``limited_by`` holds nothing
but ``machine_cpu``: on a shared machine the machine's other tenants keep it busy, which
does not change CPU per answer). Capacity steps are never used (they are what validation
predicts).

The non-CPU delay (network, delayed-ACK stalls, sshd's authentication padding) is not fitted
here: analysis.model.validate calibrates it so the model's p50 at the lowest fitting rate
equals the measured one (``delay_ms`` in demands.csv).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from measure import saturation

CONFIG: tuple[str, ...] = ("library", "connections", "command", "profile", "client_tcp")
RESOURCES: tuple[str, ...] = ("host", "api", "generator", "rest")
# Answers must keep up with the schedule for a point to be a steady state.
KEEP_PACE = 0.95
# limited_by items that do not disqualify a fitting point (the environment, not the system).
ALLOWED_LIMITS = frozenset({"machine_cpu"})

DEMAND_COLUMNS = [
    *CONFIG,
    "resource",
    "demand_ms",
    "demand_ci_low_ms",
    "demand_ci_high_ms",
    "background_cores",
    "method",
    "points",
    "rates",
]


@dataclass
class Demand:
    """CPU ms per answer of one resource, with its 95 % CI (NaN when not estimable)."""

    ms: float
    low: float = math.nan
    high: float = math.nan
    background: float = 0.0


@dataclass
class ConfigDemands:
    """Everything the model needs about one configuration."""

    config: dict[str, str]
    demands: dict[str, Demand]
    points: int
    rates: list[float]
    delay_ms: float = math.nan  # set by the calibration (analysis.model.validate)
    fit: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    @property
    def key(self) -> str:
        return config_key(self.config)


def config_key(config: dict[str, object]) -> str:
    """One configuration as text: "ssh2 per-request uptime tuned tcp:default"."""
    c = {k: str(config.get(k, "")) for k in CONFIG}
    return f"{c['library']} {c['connections']} {c['command']} {c['profile']} tcp:{c['client_tcp']}"


def wide(tidy: pd.DataFrame) -> pd.DataFrame:
    """One row per point: its parameters and per-point columns, one column per metric."""
    if tidy.empty:
        return pd.DataFrame()
    metrics = tidy.pivot_table(index="point_id", columns="metric", values="value", aggfunc="first")
    params = [
        c
        for c in (
            "status",
            "pattern",
            "rps",
            "host",
            "host_cpus",
            "trial",
            "search",
            "step",
            "duration_s",
            "warmup_s",
            "limited_by",
            "limit_kind",
            "settings.api.workers",
            "settings.loadgen.processes",
            "resources.machine_cores",
            *CONFIG,
        )
        if c in tidy.columns
    ]
    first = tidy.drop_duplicates("point_id").set_index("point_id")[params]
    return first.join(metrics, how="left").reset_index()


def _limits(text: object) -> set[str]:
    """A limited_by cell's items without their detail (host_cpu:taco -> host_cpu)."""
    return {x.split(":")[0] for x in saturation.items(text)}


def fit_points(w: pd.DataFrame) -> pd.DataFrame:
    """The sustained, steady-state points the demands are fitted on (module docstring)."""
    if w.empty or "pattern" not in w.columns:
        return w.iloc[0:0]
    need = [
        "throughput_rps",
        "target_rps",
        "failures",
        "missed",
        "sent",
        "achieved_rps",
        "status",
        "limited_by",
        "cpu_s_host",
        "cpu_s_api",
    ]
    if any(c not in w.columns for c in need):
        return w.iloc[0:0]
    ok = (
        (w["pattern"] == "sustained")
        & (w["status"] == "ok")
        & (w["failures"].fillna(1) == 0)
        & (w["missed"].fillna(1) == 0)
        & (w["throughput_rps"] >= KEEP_PACE * w["target_rps"])
        & w["limited_by"].map(lambda t: _limits(t) <= ALLOWED_LIMITS)
    )
    out = w[ok].copy()
    out["window_s"] = out["sent"] / out["achieved_rps"]
    for r in ("host", "api", "generator", "machine"):
        col = f"cpu_s_{r}"
        out[f"rate_{r}"] = out[col] / out["window_s"] if col in out.columns else np.nan
    out["rate_rest"] = out["rate_machine"] - out[["rate_host", "rate_api", "rate_generator"]].sum(
        axis=1, min_count=3
    )
    return out.dropna(subset=["rate_host", "rate_api"])


def regress(x: np.ndarray, y: np.ndarray, levels: np.ndarray, resource: str = "") -> Demand:
    """rate (cores) = background + x (answers/s) * demand; demand in ms with its 95 % CI.

    Needs points at two target rates or more (``levels``); at one rate the demand is the
    mean of the points' own ratios (utilisation law D = U / X) with a t CI over them, and no
    background, except for the rest of the machine, whose per-answer part cannot be told
    from its background at one rate: it is left out (NaN, modelled as 0).
    """
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0)
    x, y, levels = x[ok], y[ok], levels[ok]
    if len(x) == 0:
        return Demand(math.nan)
    if len(np.unique(levels)) < 2:
        if resource == "rest":
            return Demand(math.nan, background=float(np.mean(y)))
        ratios = y / x * 1000.0
        d = Demand(float(np.mean(ratios)))
        if len(ratios) > 1:
            d.low, d.high = (
                float(v)
                for v in stats.t.interval(0.95, len(ratios) - 1, loc=d.ms, scale=stats.sem(ratios))
            )
        return d
    fit = stats.linregress(x, y)
    d = Demand(fit.slope * 1000.0, background=float(fit.intercept))
    if len(x) > 2:
        t = stats.t.ppf(0.975, len(x) - 2)
        d.low = (fit.slope - t * fit.stderr) * 1000.0
        d.high = (fit.slope + t * fit.stderr) * 1000.0
    return d


def fit_demands(tidy: pd.DataFrame) -> list[ConfigDemands]:
    """Demands of every configuration with at least one fitting point."""
    pts = fit_points(wide(tidy))
    out = []
    if pts.empty:
        return out
    for key, g in pts.groupby(list(CONFIG), sort=True):
        config = dict(zip(CONFIG, (str(k) for k in key), strict=True))
        x = g["throughput_rps"].to_numpy(dtype=float)
        levels = g["target_rps"].to_numpy(dtype=float)
        demands = {
            r: regress(x, g[f"rate_{r}"].to_numpy(dtype=float), levels, r) for r in RESOURCES
        }
        rates = sorted({float(r) for r in g["target_rps"]})
        out.append(ConfigDemands(config, demands, len(g), rates, fit=g))
    return out


def demands_table(fits: list[ConfigDemands]) -> pd.DataFrame:
    """demands.csv: one row per configuration and resource, plus one ``delay`` row each."""
    rows = []
    for f in fits:
        method = "regression" if len(f.rates) > 1 else "ratio at one rate (CI over points)"
        for r, d in f.demands.items():
            rows.append(
                {
                    **f.config,
                    "resource": r,
                    "demand_ms": d.ms,
                    "demand_ci_low_ms": d.low,
                    "demand_ci_high_ms": d.high,
                    "background_cores": d.background,
                    "method": method,
                    "points": f.points,
                    "rates": " ".join(f"{r:g}" for r in f.rates),
                }
            )
        rows.append(
            {
                **f.config,
                "resource": "delay",
                "demand_ms": f.delay_ms,
                "demand_ci_low_ms": math.nan,
                "demand_ci_high_ms": math.nan,
                "background_cores": math.nan,
                "method": "non-CPU latency at the lowest rate (p50 calibration)",
                "points": f.points,
                "rates": f"{min(f.rates):g}" if f.rates else "",
            }
        )
    return pd.DataFrame(rows, columns=DEMAND_COLUMNS)
