"""Topologies: CPU pools (cores), the resources placed on them, and per-resource caps.

A resource's demand runs on the pool it is placed on (a share of it on each pool when it is
split). A cap bounds how many cores one resource may use at once, whatever its pool has:
the host's CFS quota (``host_cpus``), and the GIL, which keeps each Python process's Python
code on one core (the API with W gunicorn workers: W cores; Locust with P processes: P).
``background`` is CPU a pool spends on things that are not answers (other tenants, idle
daemons): in ``here`` it is the regression's intercept of the rest of the machine, in a
dedicated VM 0. It counts in the pool's utilisation, not against its cores
(analysis.model.simulate says why).

Built in:
- ``here``: what ran. Every resource shares the machine's cores; the host's quota applies.
- ``study``: paper/claims.yaml's study_testbed: the API and Locust on the 2-CPU client VM,
  sshd on one 2-CPU host VM; the rest (kernel, softirq) split half and half between them.
- ``study_loadgen_apart``: the same, with Locust on a machine of its own.
- ``inventory_topology``: the declared sizes of an inventory's client and hosts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

RESOURCES = ("generator", "api", "host", "rest")


@dataclass(frozen=True)
class Topology:
    name: str
    pools: dict[str, float]
    placement: dict[str, tuple[tuple[str, float], ...]]
    caps: dict[str, float] = field(default_factory=dict)
    background: dict[str, float] = field(default_factory=dict)
    speed: float = 1.0  # core speed relative to this machine's (demands divide by it)
    description: str = ""

    def __post_init__(self) -> None:
        for r, places in self.placement.items():
            for pool, _ in places:
                if pool not in self.pools:
                    raise ValueError(f"topology {self.name}: {r} placed on unknown pool {pool!r}")
        for pool, cores in self.pools.items():
            if cores <= 0:
                raise ValueError(f"topology {self.name}: pool {pool!r} needs cores > 0")

    def faster(self, factor: float) -> Topology:
        """The same topology on cores `factor` times as fast."""
        return replace(self, speed=self.speed * factor)

    def bottleneck_rps(self, demands_ms: dict[str, float]) -> float:
        """The bottleneck law's bound on throughput: min over pools and caps of cores / D."""
        bounds = []
        load: dict[str, float] = {p: 0.0 for p in self.pools}
        for r, places in self.placement.items():
            for pool, share in places:
                load[pool] += _ms(demands_ms.get(r)) * share / 1000.0 / self.speed
        for pool, d in load.items():
            if d > 0:
                bounds.append(self.pools[pool] / d)
        for r, cap in self.caps.items():
            d = _ms(demands_ms.get(r)) / 1000.0 / self.speed
            if d > 0:
                bounds.append(cap / d)
        return min(bounds) if bounds else float("inf")


def here(
    host_cpus: float,
    machine_cores: float = 2,
    api_workers: int = 1,
    generator_processes: int = 1,
    background: float = 0.0,
) -> Topology:
    whole = (("machine", 1.0),)
    return Topology(
        name="here",
        pools={"machine": float(machine_cores)},
        placement={r: whole for r in RESOURCES},
        caps={
            "host": float(host_cpus),
            "api": float(api_workers),
            "generator": float(generator_processes),
        },
        background={"machine": max(float(background), 0.0)},
        description=f"this machine: {machine_cores:g} cores shared by all, host quota "
        f"{host_cpus:g} CPU",
    )


def study(
    client_cpus: float = 2,
    host_cpus: float = 2,
    api_workers: int = 1,
    generator_processes: int = 1,
    loadgen_apart: bool = False,
    loadgen_cpus: float = 2,
    name: str | None = None,
) -> Topology:
    pools = {"client": float(client_cpus), "host": float(host_cpus)}
    gen_pool = "client"
    if loadgen_apart:
        pools["loadgen"] = float(loadgen_cpus)
        gen_pool = "loadgen"
    return Topology(
        name=name or ("study_loadgen_apart" if loadgen_apart else "study"),
        pools=pools,
        placement={
            "generator": ((gen_pool, 1.0),),
            "api": (("client", 1.0),),
            "host": (("host", 1.0),),
            "rest": (("client", 0.5), ("host", 0.5)),
        },
        caps={"api": float(api_workers), "generator": float(generator_processes)},
        description=f"client VM {client_cpus:g} CPU (API"
        + (")" if loadgen_apart else " + Locust)")
        + f", host VM {host_cpus:g} CPU"
        + (f", Locust on its own {loadgen_cpus:g} CPU" if loadgen_apart else ""),
    )


def study_from_claims(claims_file: Path, **kw: Any) -> Topology:
    """``study`` sized from claims.yaml's study_testbed (client and first host's cpus)."""
    spec = yaml.safe_load(Path(claims_file).read_text()) or {}
    machines = (spec.get("study_testbed") or {}).get("machines") or []
    client = next((m for m in machines if m.get("role") == "client"), None)
    host = next((m for m in machines if m.get("role") == "host"), None)
    if client is None or host is None:
        raise ValueError(f"{claims_file}: study_testbed needs a client and a host machine")
    return study(client_cpus=float(client["cpus"]), host_cpus=float(host["cpus"]), **kw)


def inventory_topology(inventory_file: Path, **kw: Any) -> Topology:
    """A topology from an inventory's declared sizes: ``testbed_host_study_cpus`` of its
    first host, and ``testbed_client_cpus`` (default 2) for the client."""
    inv = yaml.safe_load(Path(inventory_file).read_text()) or {}
    found: dict[str, float] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("testbed_host_study_cpus", "testbed_client_cpus") and k not in found:
                    found[k] = float(v)
                walk(v)

    walk(inv)
    if "testbed_host_study_cpus" not in found:
        raise ValueError(f"{inventory_file}: no testbed_host_study_cpus declared")
    return study(
        client_cpus=found.get("testbed_client_cpus", 2.0),
        host_cpus=found["testbed_host_study_cpus"],
        name=f"inventory:{_inventory_name(Path(inventory_file))}",
        **kw,
    )


def _inventory_name(path: Path) -> str:
    """inventories/cloud.example -> cloud.example; inventories/vms-local/hosts.yml -> vms-local."""
    return path.parent.name if path.stem == "hosts" else path.name


def _ms(v: float | None) -> float:
    """A demand as the model uses it: missing, NaN or negative counts as 0."""
    return max(float(v), 0.0) if v is not None and math.isfinite(float(v)) else 0.0
