"""The model on the shared capacity sweep (tests/conftest.py's `capacity_sweep`: real
testbed, Snakemake, up to the model's outputs): two sustained rates on a host held to half a
CPU, and two capacity searches, on hosts held to a quarter of a CPU and to one CPU (the host
is the bottleneck), ssh2 with a new connection per request.

Checks: demands recovered from the points (the regression's sshd demand agrees with the
points' own CPU per answer), validation rows with the held-out capacities (never fitted on),
validation.json's state, and a sweep without any sustained steady-state point gets
"not projected" everywhere, not an error."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from analysis.capacity import capacities
from analysis.collect import collect
from analysis.model.claims_hook import NOT_PROJECTED
from analysis.model.demands import fit_points, wide
from analysis.model.run import run_model
from sshbench import paths
from sshbench.paths import SweepLayout

pytestmark = pytest.mark.netns


@pytest.fixture(scope="module")
def model_sweep(capacity_sweep: Path) -> Path:
    return capacity_sweep


def test_demands_recovered_from_the_points(model_sweep: Path) -> None:
    tidy = collect(model_sweep)
    demands = pd.read_csv(SweepLayout(model_sweep).model_file("demands.csv"))
    assert set(demands["resource"]) == {"host", "api", "generator", "rest", "delay"}
    pts = fit_points(wide(tidy))
    assert len(pts), "no sustained steady-state point: the sweep did not keep pace"
    host = demands[demands["resource"] == "host"].iloc[0]
    per_point = pts["demand_ms_host"]
    # the regression's slope and the points' own ratios measure the same CPU per connection
    assert 0.5 * per_point.min() <= host["demand_ms"] <= 1.5 * per_point.max()
    assert 5.0 < host["demand_ms"] < 200.0  # sshd per new connection: tens of ms
    delay = demands[demands["resource"] == "delay"].iloc[0]
    assert delay["demand_ms"] >= 0


def test_validation_holds_out_the_capacity_search(model_sweep: Path) -> None:
    layout = SweepLayout(model_sweep)
    rows = pd.read_csv(layout.model_file("validation.csv"))
    cap = rows[rows["quantity"] == "capacity_rps"]
    measured = capacities(collect(model_sweep))["capacity_rps"]
    assert len(cap) == len(measured) == 2  # one row per search
    assert not cap["used_for_fit"].any()
    assert sorted(cap["measured"]) == pytest.approx(sorted(measured))
    assert (cap["predicted"] > 0).all()
    # p50 at the calibration rate is the one latency row used for fitting
    p50 = rows[rows["quantity"] == "latency_p50_ms"]
    assert p50["used_for_fit"].sum() == 1
    state = json.loads(layout.model_file("validation.json").read_text())
    assert isinstance(state["validated"], bool) and state["why"]
    assert state["held_out_capacities"] == 2
    section = layout.model_file("section.md").read_text()
    assert "On the study's hardware (projected)" in section
    assert ("NOT validated" in section) != state["validated"]


def test_no_steady_state_point_is_not_projected(model_sweep: Path, tmp_path: Path) -> None:
    tidy = collect(model_sweep)
    steps_only = tidy[tidy["pattern"] == "capacity"]
    layout = SweepLayout(tmp_path / "modl")
    run_model(layout, steps_only, paths.PAPER_DIR / "claims.yaml")
    proj = pd.read_csv(layout.model_file("projection.csv"))
    assert (proj["projected_verdict"] == NOT_PROJECTED).all()
    state = json.loads(layout.model_file("validation.json").read_text())
    assert state["validated"] is False
    assert "no sustained" in state["why"]
    assert pd.read_csv(layout.model_file("demands.csv")).empty
