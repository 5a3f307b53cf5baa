"""Projected verdicts (analysis.model.projection) and claims.csv's projected columns.

The demands here are model inputs chosen to put a claim on either side of its bound (the
way a closed-form check chooses its rates); what is tested is how the states follow: holds,
does not hold, inconclusive when the demands' CI straddles, not projected when the model is
not validated or cannot speak to the claim, and the break-even speed's direction."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from analysis.claims import FAILS, HOLDS, INCONCLUSIVE
from analysis.claims_spec import load_claims
from analysis.model.claims_hook import NOT_PROJECTED, add_projection
from analysis.model.demands import ConfigDemands, Demand
from analysis.model.projection import project, project_claim
from analysis.model.topology import study_from_claims
from sshbench import paths

CLAIMS = paths.PAPER_DIR / "claims.yaml"
CONFIG = {
    "library": "ssh2",
    "connections": "per-request",
    "command": "uptime",
    "profile": "tuned",
    "client_tcp": "default",
}


def fitted(host_ms: float, low: float | None = None, high: float | None = None) -> ConfigDemands:
    d = {
        "host": Demand(
            host_ms, low if low is not None else host_ms, high if high is not None else host_ms
        ),
        "api": Demand(5.0, 5.0, 5.0),
        "generator": Demand(1.0, 1.0, 1.0),
        "rest": Demand(2.0, 2.0, 2.0),
    }
    return ConfigDemands(dict(CONFIG), d, points=6, rates=[10.0, 20.0, 30.0], delay_ms=40.0)


@pytest.fixture(scope="module")
def claim_90():
    return next(c for c in load_claims(CLAIMS) if c.id == "p99_under_2s_at_90rps")


@pytest.fixture(scope="module")
def topo():
    return study_from_claims(CLAIMS)


def test_holds_with_cheap_connections(claim_90, topo) -> None:
    # 10 ms of sshd per connection: a 2-CPU host could take 200 RPS
    p = project_claim(claim_90, [fitted(10.0)], topo, validated=True)
    assert p.projected_verdict == HOLDS
    assert p.projected_value >= 0.99
    # it holds until the study's cores are about half as fast (90 RPS needs <= ~21 ms)
    assert 0.3 < p.break_even_speed < 0.7
    assert "flip" in p.sentence or "holds until" in p.sentence


def test_fails_with_costly_connections(claim_90, topo) -> None:
    # 40 ms: the host saturates near 48 RPS; 90 RPS needs cores ~2x as fast
    p = project_claim(claim_90, [fitted(40.0)], topo, validated=True)
    assert p.projected_verdict == FAILS
    assert 1.5 < p.break_even_speed < 2.6


def test_inconclusive_when_the_ci_straddles(claim_90, topo) -> None:
    p = project_claim(claim_90, [fitted(15.0, low=10.0, high=40.0)], topo, validated=True)
    assert p.projected_verdict == INCONCLUSIVE


def test_unvalidated_model_gives_no_verdict_but_its_value(claim_90, topo) -> None:
    p = project_claim(claim_90, [fitted(10.0)], topo, validated=False)
    assert p.projected_verdict == NOT_PROJECTED
    assert p.projected_value >= 0.99
    assert "not validated" in p.note


def test_claims_the_model_cannot_speak_to_are_not_projected(topo) -> None:
    df = project(CLAIMS, [fitted(10.0)], topo, validated=True)
    states = dict(zip(df["claim_id"], df["projected_verdict"], strict=True))
    assert states["tuned_sshd_every_connection_succeeds"] == NOT_PROJECTED
    assert states["similar_on_both_hosts"] == NOT_PROJECTED
    assert states["p99_under_2s_at_90rps"] == HOLDS
    assert set(states.values()) <= {HOLDS, FAILS, INCONCLUSIVE, NOT_PROJECTED}


def test_no_fitted_configuration_is_not_projected(claim_90, topo) -> None:
    p = project_claim(claim_90, [], topo, validated=True)
    assert p.projected_verdict == NOT_PROJECTED
    assert "no fitted configuration" in p.note


def test_claims_csv_gets_the_columns_after_the_measured_ones(tmp_path: Path, topo) -> None:
    claims = pd.DataFrame({"claim_id": ["p99_under_2s_at_90rps", "x"], "verdict": ["a", "b"]})
    none = add_projection(claims, tmp_path / "missing.csv")
    assert list(none.columns) == [
        "claim_id",
        "verdict",
        "projected_verdict",
        "projected_value",
        "break_even_speed",
    ]
    assert (none["projected_verdict"] == NOT_PROJECTED).all()
    proj = tmp_path / "projection.csv"
    project(CLAIMS, [fitted(40.0)], topo, validated=True).to_csv(proj, index=False)
    got = add_projection(claims, proj)
    assert list(got["verdict"]) == ["a", "b"]  # measured verdicts unchanged
    assert got.loc[0, "projected_verdict"] == FAILS
    assert got.loc[0, "break_even_speed"] > 1
    assert got.loc[1, "projected_verdict"] == NOT_PROJECTED


def test_a_capacity_inside_its_measured_bracket_is_no_error() -> None:
    from analysis.model.validate import bracket_error

    # a search measures [capacity, first confirmed failing rate): 15 passes, 18 fails
    assert bracket_error(17.5, 15, 18) == 0.0
    assert bracket_error(12.0, 15, 18) == pytest.approx(-0.2)
    assert bracket_error(21.6, 15, 18) == pytest.approx(0.2)
    # a lower bound (nothing failed that counts): only a prediction below it is off
    assert bracket_error(40.0, 15, None) == 0.0
    assert bracket_error(12.0, 15, None) == pytest.approx(-0.2)
    assert math.isnan(bracket_error(float("nan"), 15, 18))
