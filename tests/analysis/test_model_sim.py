"""The model's simulation (analysis.model.simulate) against closed forms: M/M/1 and M/D/1
mean waits (Pollaczek-Khinchine), the utilisation law U = X D, a fractional CPU quota, and
the bottleneck law's bound. Seeds are fixed, so each check is exact to rerun."""

from __future__ import annotations

import math

import pytest

from analysis.model.simulate import capacity, simulate
from analysis.model.topology import Topology, here, study

D_MS = 10.0  # service demand: mu = 100/s


def one_server(cores: float = 1.0, cap: float | None = None) -> Topology:
    return Topology(
        name="mm1",
        pools={"cpu": cores},
        placement={"host": (("cpu", 1.0),)},
        caps={} if cap is None else {"host": cap},
    )


def mean_wait_ms(rate: float, service: str, seed: int = 7) -> tuple[float, dict[str, float]]:
    res = simulate(
        one_server(),
        {"host": D_MS},
        0.0,
        rate,
        400.0,
        0.0,
        seed=seed,
        service=service,
        arrivals="poisson",
    )
    return float(res.latencies_ms.mean()) - D_MS, res.util


@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_mm1_mean_wait(rho: float) -> None:
    mu = 1000.0 / D_MS
    lam = rho * mu
    expected = rho / (mu - lam) * 1000.0  # Wq = rho / (mu - lambda)
    got, _ = mean_wait_ms(lam, "exponential")
    assert got == pytest.approx(expected, rel=0.12)


@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_md1_mean_wait(rho: float) -> None:
    mu = 1000.0 / D_MS
    lam = rho * mu
    expected = rho / (2 * mu * (1 - rho)) * 1000.0  # Wq = rho / (2 mu (1 - rho))
    got, _ = mean_wait_ms(lam, "deterministic")
    assert got == pytest.approx(expected, rel=0.12)


def test_mm1_and_md1_differ_as_theory_says() -> None:
    # the same load: M/D/1 waits half as long as M/M/1 (P-K with CV 0 against CV 1)
    mm1, _ = mean_wait_ms(60.0, "exponential")
    md1, _ = mean_wait_ms(60.0, "deterministic")
    assert md1 / mm1 == pytest.approx(0.5, rel=0.15)


@pytest.mark.parametrize("rate", [20.0, 50.0, 70.0])
def test_utilisation_law(rate: float) -> None:
    _, util = mean_wait_ms(rate, "exponential")
    assert util["cpu"] == pytest.approx(rate * D_MS / 1000.0, rel=0.05)


def test_schedule_below_capacity_has_no_queue_with_deterministic_service() -> None:
    # D/D/1 at rho 0.5: nobody waits, latency = delay + service exactly
    res = simulate(one_server(), {"host": D_MS}, 30.0, 50.0, 10.0, 2.0, service="deterministic")
    assert res.latencies_ms.min() == pytest.approx(40.0)
    assert res.latencies_ms.max() == pytest.approx(40.0)
    assert len(res.latencies_ms) == 500  # the window's slots only (10 s at 50/s)


def test_fractional_quota_runs_at_its_share() -> None:
    # a 0.5-CPU quota on a 2-core pool: one server at half speed, D/D/1 at rho 0.4
    topo = one_server(cores=2.0, cap=0.5)
    res = simulate(topo, {"host": D_MS}, 0.0, 20.0, 10.0, 0.0, service="deterministic")
    assert res.latencies_ms.max() == pytest.approx(2 * D_MS)
    assert res.util["cap:host"] == pytest.approx(20.0 * D_MS / 1000.0 / 0.5, rel=0.02)
    assert topo.bottleneck_rps({"host": D_MS}) == pytest.approx(50.0)


def test_capacity_near_the_bottleneck_law() -> None:
    # here with a 0.5-CPU host of 25 ms per connection: bottleneck law 20 RPS; the search's
    # p99 < 2 s over a 30 s window lands a little above or below, never far
    d = {"host": 25.0, "api": 5.0, "generator": 1.0, "rest": 2.0}
    topo = here(0.5)
    cap = capacity(topo, d, 50.0, 30.0, 5.0)
    assert topo.bottleneck_rps(d) == pytest.approx(20.0)
    assert 0.85 * 20.0 <= cap <= 1.15 * 20.0


def test_study_topology_splits_the_client_and_the_host() -> None:
    d = {"host": 25.0, "api": 5.0, "generator": 1.0, "rest": 4.0}
    topo = study()
    # host VM: 2 cores / (25 + 2) ms; client: the API's GIL cap 1 / 5 ms; client pool 2 / 8 ms
    assert topo.bottleneck_rps(d) == pytest.approx(2000.0 / 27.0)
    assert topo.faster(2.0).bottleneck_rps(d) == pytest.approx(4000.0 / 27.0)
    assert math.isinf(Topology("empty", {"a": 1.0}, {}).bottleneck_rps(d))


def test_bad_input_is_one_line() -> None:
    with pytest.raises(ValueError, match="rps > 0"):
        simulate(one_server(), {"host": D_MS}, 0.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="unknown pool"):
        Topology("x", {"a": 1.0}, {"host": (("b", 1.0),)})
