"""The model on a sweep this test runs (real testbed, Snakemake, up to the model's outputs):
two sustained rates and one capacity search on a host held to half a CPU (the host is the
bottleneck), ssh2 with a new connection per request.

Checks: demands recovered from the points (the regression's sshd demand agrees with the
points' own CPU per answer), validation rows with the held-out capacity (never fitted on),
validation.json's state, and a sweep without any sustained steady-state point gets
"not projected" everywhere, not an error."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from sweep.helpers import run_snakemake, teardown_in

from analysis.capacity import capacities
from analysis.collect import collect
from analysis.model.claims_hook import NOT_PROJECTED
from analysis.model.demands import fit_points, wide
from analysis.model.run import run_model
from sshbench import paths
from sshbench.paths import SweepLayout

pytestmark = pytest.mark.netns

CONFIG = {
    "sweep": "modl",
    "inventory": "local",
    "capacity": {"start_rps": 8, "growth": 1.5, "resolution": 0.3, "max_steps": 3},
    "points": {
        "hosts": ["taco"],
        "host_cpus": [0.5],
        "profiles": ["tuned"],
        "libraries": ["ssh2"],
        "connections": ["per-request"],
        "commands": ["uptime"],
        "rates": [3, 6],
        "duration_s": 3,
        "warmup_s": 1,
    },
    "groups": {"sustained": {}, "capacity": {"patterns": ["capacity"]}},
}


@pytest.fixture(scope="module")
def model_sweep(sweep_env_factory, tmp_path_factory) -> Path:
    env = sweep_env_factory("m")
    cfg = tmp_path_factory.mktemp("modl") / "modl.yaml"
    cfg.write_text(yaml.safe_dump(CONFIG))
    layout = SweepLayout(Path(env["SSHBENCH_RESULTS"]) / "modl")
    targets = [str(layout.model_file("validation.json")), str(layout.model_file("section.md"))]
    try:
        proc = run_snakemake(env, *targets, "--cores", "2", "--configfile", str(cfg), timeout=900)
    finally:
        teardown_in(env)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return layout.root


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
    assert len(cap) == 1
    assert not cap["used_for_fit"].iloc[0]
    measured = capacities(collect(model_sweep))["capacity_rps"].iloc[0]
    assert cap["measured"].iloc[0] == pytest.approx(measured)
    assert cap["predicted"].iloc[0] > 0
    # p50 at the calibration rate is the one latency row used for fitting
    p50 = rows[rows["quantity"] == "latency_p50_ms"]
    assert p50["used_for_fit"].sum() == 1
    state = json.loads(layout.model_file("validation.json").read_text())
    assert isinstance(state["validated"], bool) and state["why"]
    assert state["held_out_capacities"] == 1
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
