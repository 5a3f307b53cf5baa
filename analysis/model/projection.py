"""Projected verdicts: the study's claims on the study's topology, from this sweep's demands.

Only a validated model gives a verdict (``validate.verdict``); an unvalidated one still
writes its values, labelled, with ``projected_verdict`` "not projected". A claim is
projectable when the model produces its metric (``frac_ok_under_<X>ms``, ``latency_p<q>``,
``latency_mean``) at named rates: a ``threshold`` claim at one rate, or a ``trend`` over
rates. The configuration is the one of the fitted configurations matching the claim's
condition with the most fitting points.

Verdict: "holds" / "does not hold" from the demands' point estimates, "inconclusive" when
the claim comes out differently at the demands' 95 % CI bounds (all resources at their low,
then at their high bound). ``break_even_speed``: the factor by which the topology's cores
would have to be faster (> 1) or may be slower (< 1) than this machine's for the claim to
flip (log-bisection in [1/16, 16]; NaN when it does not flip in that range). Each
projected run is ``PROJECTION_S`` seconds of the open-loop schedule after
``PROJECTION_WARMUP_S`` of warm-up: the study's runs were longer than our short points, so
an overload shows.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.claims import FAILS, HOLDS, INCONCLUSIVE
from analysis.claims_spec import Claim, load_claims
from analysis.common import isnum, same
from analysis.model.claims_hook import NOT_PROJECTED
from analysis.model.demands import CONFIG, ConfigDemands
from analysis.model.simulate import SimResult, simulate
from analysis.model.topology import Topology

PROJECTION_S = 30.0
PROJECTION_WARMUP_S = 5.0
SPEED_RANGE = (1 / 16, 16.0)

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
}


@dataclass
class Projection:
    claim_id: str
    text: str
    configuration: str = ""
    topology: str = ""
    topology_description: str = ""
    projected_verdict: str = NOT_PROJECTED
    projected_value: float = math.nan
    value_low: float = math.nan
    value_high: float = math.nan
    break_even_speed: float = math.nan
    validated: bool = False
    other_placement: str = ""
    note: str = ""
    sentence: str = ""


def _metric_of(sim: SimResult, metric: str) -> float:
    if metric.startswith("frac_ok_under_") and metric.endswith("ms"):
        return sim.frac_under(float(metric.removeprefix("frac_ok_under_").removesuffix("ms")))
    if metric == "latency_mean":
        lat = sim.latencies_ms
        return float(lat.mean()) if len(lat) else math.nan
    if metric.startswith("latency_p"):
        return sim.p(float(metric.removeprefix("latency_p")))
    raise ValueError(f"the model does not produce metric {metric!r}")


def projectable(c: Claim) -> str:
    """ "" when the model can project the claim, else why not."""
    m = c.metric
    if not (m.startswith("frac_ok_under_") or m.startswith("latency_p") or m == "latency_mean"):
        return f"the model does not produce {m}"
    if c.kind == "threshold":
        if not isnum(c.condition.get("rps")):
            return "no single rate in the claim's condition"
        return ""
    if c.kind == "trend" and c.over == "rps" and isinstance(c.levels, dict):
        return ""
    return f"a {c.kind} claim over {c.over or 'nothing'} is not projected"


def pick_config(c: Claim, fits: list[ConfigDemands]) -> ConfigDemands | None:
    def matches(f: ConfigDemands) -> bool:
        for k in CONFIG:
            want = c.condition.get(k)
            if want is None or isinstance(want, dict):
                continue
            wants = want if isinstance(want, list) else [want]
            if not any(same(f.config[k], w) for w in wants):
                return False
        return True

    found = sorted((f for f in fits if matches(f)), key=lambda f: (-f.points, f.key))
    return found[0] if found else None


def _demands(f: ConfigDemands, which: str) -> dict[str, float]:
    out = {}
    for r, d in f.demands.items():
        v = getattr(d, which)
        out[r] = d.ms if not math.isfinite(v) else v
    return out


_CACHE: dict[tuple[Any, ...], float] = {}


def _at(c: Claim, topo: Topology, demands: dict[str, float], delay: float, rps: float) -> float:
    key = (c.metric, repr(topo), tuple(sorted(demands.items())), delay, rps)
    if key not in _CACHE:
        sim = simulate(topo, demands, delay, rps, PROJECTION_S, PROJECTION_WARMUP_S)
        _CACHE[key] = _metric_of(sim, c.metric)
    return _CACHE[key]


def claim_value(c: Claim, topo: Topology, demands: dict[str, float], delay: float) -> float:
    """The claim's value on the topology: its metric at its rate, or a trend's largest step
    ratio (inf when the trend does not rise, or falls by more than max_drop)."""

    def at(rps: float) -> float:
        return _at(c, topo, demands, delay, rps)

    if c.kind == "threshold":
        return at(float(c.condition["rps"]))
    vals = [at(float(r)) for r in c.series_levels()]
    rises = vals[-1] > vals[0]
    no_drop = all(b >= a * (1.0 - c.max_drop) for a, b in itertools.pairwise(vals))
    steps = [b / a for a, b in itertools.pairwise(vals) if a > 0]
    if not (rises and no_drop) or not steps:
        return math.inf
    return max(steps)


def holds(c: Claim, value: float) -> bool:
    if not math.isfinite(value) and c.kind == "trend":
        return False
    if c.comparison == "within":
        lo, hi = c.threshold
        return lo <= value <= hi
    return _OPS[c.comparison](value, float(c.threshold))


def break_even(c: Claim, topo: Topology, f: ConfigDemands, steps: int = 7) -> float:
    """The core-speed factor at which the claim flips (module docstring)."""
    d = _demands(f, "ms")

    def h(s: float) -> bool:
        return holds(c, claim_value(c, topo.faster(s), d, f.delay_ms))

    now = h(1.0)
    lo, hi = (SPEED_RANGE[0], 1.0) if now else (1.0, SPEED_RANGE[1])
    if h(lo) == h(hi):
        return math.nan
    for _ in range(steps):
        mid = math.sqrt(lo * hi)
        if h(mid) == h(hi):
            hi = mid
        else:
            lo = mid
    return hi if not now else lo


def project_claim(
    c: Claim,
    fits: list[ConfigDemands],
    topo: Topology,
    validated: bool,
    other: Topology | None = None,
) -> Projection:
    p = Projection(c.id, c.text, topology=topo.name, topology_description=topo.description)
    p.validated = validated
    why = projectable(c)
    if why:
        p.note = why
        return p
    f = pick_config(c, fits)
    if f is None:
        p.note = "no fitted configuration matches the claim's condition"
        return p
    p.configuration = f.key
    p.projected_value = claim_value(c, topo, _demands(f, "ms"), f.delay_ms)
    p.value_low = claim_value(c, topo, _demands(f, "low"), f.delay_ms)
    p.value_high = claim_value(c, topo, _demands(f, "high"), f.delay_ms)
    est = holds(c, p.projected_value)
    ends = {holds(c, p.value_low), holds(c, p.value_high)}
    verdict = (HOLDS if est else FAILS) if ends == {est} else INCONCLUSIVE
    p.break_even_speed = break_even(c, topo, f)
    if other is not None:
        alt = holds(c, claim_value(c, other, _demands(f, "ms"), f.delay_ms))
        if alt != est:
            p.other_placement = f"{other.name} ({other.description}): {HOLDS if alt else FAILS}"
    if validated:
        p.projected_verdict = verdict
    else:
        p.note = f"model not validated on this sweep; unvalidated estimate: {verdict}"
    p.sentence = sentence(c, p, f, topo)
    return p


def _value_text(c: Claim, v: float) -> str:
    if not math.isfinite(v):
        return "no gradual rise" if c.kind == "trend" else "n/a"
    if c.metric.startswith("frac_"):
        return f"{v:.1%} within {c.metric.removeprefix('frac_ok_under_')}"
    if c.kind == "trend":
        return f"largest step x{v:.2f}"
    return f"{v:.0f} ms"


def sentence(c: Claim, p: Projection, f: ConfigDemands, topo: Topology) -> str:
    """One plain sentence: what sshd costs, where the host saturates, what the claim needs."""
    host = f.demands["host"].ms
    host_cores = topo.pools.get("host", math.nan)
    sat = host_cores * 1000.0 / host if host > 0 else math.nan
    verdict = p.projected_verdict if p.validated else f"unvalidated: {p.note.split(': ')[-1]}"
    be = p.break_even_speed
    if math.isfinite(be):
        flip = (
            f"it would flip with cores {be:.2f}x as fast as these"
            if be > 1
            else f"it holds until cores {be:.2f}x as fast as these ({1 / be:.1f}x slower)"
        )
    else:
        flip = "it does not flip between 1/16x and 16x these cores"
    return (
        f"sshd costs {host:.0f} ms of CPU per new connection on this machine ({f.key}); "
        f"a {host_cores:g}-CPU host saturates near {sat:.0f} RPS; "
        f'"{c.text}" on {topo.description}: {verdict} ({_value_text(c, p.projected_value)}); '
        f"{flip}."
    )


def project(
    claims_file: Path,
    fits: list[ConfigDemands],
    topo: Topology,
    validated: bool,
    other: Topology | None = None,
) -> pd.DataFrame:
    rows = [
        asdict(project_claim(c, fits, topo, validated, other)) for c in load_claims(claims_file)
    ]
    return pd.DataFrame(rows, columns=list(Projection.__dataclass_fields__))
