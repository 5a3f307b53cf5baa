"""Discrete-event simulation (simpy) of an arrival schedule through a topology's CPU pools.

Why simpy: the model is a few shared resources (cores of a pool, and per-resource caps that
are held at the same time as a core), which simpy expresses directly as nested
``Resource`` requests; ciw's networks of queues have no notion of one job holding two
resources at once.

Each request, in order: the non-CPU delay (constant), then each resource's demand in turn
(generator, API, host's sshd, rest of the machine). A stage holds one slot of its resource's
cap (GIL / quota), then one core of its pool, FCFS, for its service time. A pool of c cores
has ceil(c) servers, each running at c / ceil(c) of a core;
a cap of q cores likewise (a 0.5-CPU quota: one server at half speed); a cap at least as
large as every pool its resource runs on binds nothing and is left out. A pool's background
(CPU not spent on answers) counts in its utilisation but does not take cores away: the
kernel's fair scheduler shares cores between runnable threads, it does not reserve them
for whoever was there first (on a dedicated machine the background is small either way).
Service times are
exponential with the measured mean (default): for one server, FCFS with exponential service
has the same mean response as processor sharing (what the kernel's scheduler approximates)
with any service distribution. ``service="deterministic"`` is there for the M/D/1 check.

Arrivals: the sweep's open-loop schedule (slot k due at k / rate, analysis window
[warmup, warmup + duration)), or Poisson for the closed-form checks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import simpy

from analysis.model.topology import RESOURCES, Topology
from measure.metrics import percentile

PERCENTILES = (50, 90, 99)


@dataclass
class SimResult:
    rps: float
    latencies_ms: np.ndarray  # every slot of the window, sorted
    util: dict[str, float] = field(default_factory=dict)  # pool or cap:<resource> -> fraction
    load: dict[str, float] = field(default_factory=dict)  # the same, answers only (no background)

    @property
    def bottleneck_util(self) -> float:
        """The busiest pool's or cap's utilisation by answers alone."""
        return max(self.load.values(), default=math.nan)

    def p(self, q: float) -> float:
        return percentile(self.latencies_ms, q)

    def frac_under(self, ms: float) -> float:
        n = len(self.latencies_ms)
        return float((self.latencies_ms < ms).sum() / n) if n else math.nan


def _servers(cores: float) -> tuple[int, float]:
    """(servers, speed of each) for a fractional number of cores."""
    cores = max(cores, 1e-3)
    n = max(math.ceil(cores - 1e-9), 1)
    return n, cores / n


def simulate(
    topo: Topology,
    demands_ms: dict[str, float],
    delay_ms: float,
    rps: float,
    duration_s: float,
    warmup_s: float = 0.0,
    seed: int = 1,
    service: str = "exponential",
    arrivals: str = "schedule",
) -> SimResult:
    """Latency of every slot in the window and utilisation of each pool and cap."""
    if rps <= 0 or duration_s <= 0:
        raise ValueError(f"simulate needs rps > 0 and duration_s > 0, not {rps}, {duration_s}")
    if service not in ("exponential", "deterministic"):
        raise ValueError(f"service must be exponential or deterministic, not {service!r}")
    rng = np.random.default_rng(seed)
    env = simpy.Environment()
    pools = {}
    for name, cores in topo.pools.items():
        n, speed = _servers(cores)
        pools[name] = (simpy.Resource(env, capacity=n), speed)
    caps = {}
    for r, cores in topo.caps.items():
        if all(cores >= topo.pools[p] for p, _ in topo.placement.get(r, ())):
            continue  # binds nothing
        n, speed = _servers(cores)
        caps[r] = (simpy.Resource(env, capacity=n), speed)
    stages = []  # (resource, pool, mean service s at full speed)
    for r in RESOURCES:
        d = float(demands_ms.get(r, 0.0) or 0.0)
        d = max(d, 0.0) / 1000.0 / topo.speed if math.isfinite(d) else 0.0
        for pool, share in topo.placement.get(r, ()):
            if d * share > 0:
                stages.append((r, pool, d * share))
    n_slots = round(rps * (warmup_s + duration_s))
    if arrivals == "poisson":
        due = np.cumsum(rng.exponential(1.0 / rps, n_slots))
    else:
        due = np.arange(n_slots) / rps
    draws = (
        rng.exponential(1.0, (n_slots, len(stages)))
        if service == "exponential"
        else np.ones((n_slots, len(stages)))
    )
    done = np.full(n_slots, np.nan)
    busy: dict[str, float] = {p: 0.0 for p in topo.pools}
    busy_cap: dict[str, float] = {r: 0.0 for r in topo.caps}
    start, end = warmup_s if arrivals == "schedule" else 0.0, warmup_s + duration_s
    if arrivals == "poisson":
        end = float(due[-1]) if n_slots else 0.0

    def request(k: int):
        if delay_ms > 0:
            yield env.timeout(delay_ms / 1000.0)
        for j, (r, pool, mean) in enumerate(stages):
            res, pool_speed = pools[pool]
            cap = caps.get(r)
            speed = min(pool_speed, cap[1]) if cap else pool_speed
            t = mean * draws[k, j] / speed
            if start <= due[k] < end:
                busy[pool] += mean * draws[k, j]
                if r in busy_cap:
                    busy_cap[r] += mean * draws[k, j]
            if cap:
                with cap[0].request() as c:
                    yield c
                    with res.request() as p:
                        yield p
                        yield env.timeout(t)
            else:
                with res.request() as p:
                    yield p
                    yield env.timeout(t)
        done[k] = env.now

    def source():
        for k in range(n_slots):
            wait = due[k] - env.now
            if wait > 0:
                yield env.timeout(wait)
            env.process(request(k))

    env.process(source())
    env.run()
    window = (due >= start) & (due < end)
    lat = np.sort((done[window] - due[window]) * 1000.0)
    span = end - start
    util, load = {}, {}
    for p, cores in topo.pools.items():
        load[p] = min(busy[p] / (cores * span), 1.0) if span > 0 else math.nan
        bg = topo.background.get(p, 0.0)
        util[p] = min((busy[p] + bg * span) / (cores * span), 1.0) if span > 0 else math.nan
    for r, cores in topo.caps.items():
        util[f"cap:{r}"] = min(busy_cap[r] / (cores * span), 1.0) if span > 0 else math.nan
        load[f"cap:{r}"] = util[f"cap:{r}"]
    return SimResult(rps, lat, util, load)


def passes(res: SimResult, p99_ms: float) -> bool:
    """The capacity search's bound as the model can judge it: p99 of latency < p99_ms
    (the model has no failures and sends every slot)."""
    return len(res.latencies_ms) > 0 and res.p(99) < p99_ms


def capacity(
    topo: Topology,
    demands_ms: dict[str, float],
    delay_ms: float,
    duration_s: float,
    warmup_s: float,
    p99_ms: float = 2000.0,
    resolution: float = 0.01,
    seed: int = 1,
) -> float:
    """The highest rate whose simulated window meets the bound (bisection, from the
    bottleneck law's bound); 0 when even a trickle does not."""
    xmax = topo.bottleneck_rps(demands_ms)
    if not math.isfinite(xmax):
        raise ValueError(f"topology {topo.name}: no demand on any pool, capacity unbounded")

    def ok(r: float) -> bool:
        return passes(simulate(topo, demands_ms, delay_ms, r, duration_s, warmup_s, seed), p99_ms)

    lo, hi = 0.25 * xmax, 3.0 * xmax
    while not ok(lo):
        hi, lo = lo, lo / 4
        if lo < 1e-3:
            return 0.0
    while ok(hi):
        lo, hi = hi, hi * 2
    while (hi - lo) > resolution * lo:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return lo
