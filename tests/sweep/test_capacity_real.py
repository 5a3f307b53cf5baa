"""Capacity searches on the real testbed: two host sizes of the study's configuration (ssh2,
a new connection per request), run through Snakemake like any sweep.

A host given a quarter of a CPU must have a lower capacity than a host with one CPU, each
search must converge within its step budget and bracket its result between its last
passing and first failing steps, and the step that failed first on the small host must name
that host's CPU as what ran out, never the load generator.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from analysis.collect import collect
from sweep.helpers import run_snakemake, teardown_in

pytestmark = pytest.mark.netns

SEARCH = "cap-taco-c{cpus}-uptime-tuned-ssh2-perreq-tcpd-t0"


@pytest.fixture(scope="module")
def searched(sweep_env_factory, tmp_path_factory) -> tuple[Path, dict[str, dict]]:
    env = sweep_env_factory("c")
    config = {
        "sweep": "capt",
        "inventory": "local",
        "capacity": {"p99_ms": 1000, "start_rps": 8, "growth": 2, "resolution": 0.25,
                     "max_steps": 7},
        "points": {
            "hosts": ["taco"], "host_cpus": [0.25, 1], "profiles": ["tuned"],
            "libraries": ["ssh2"], "connections": ["per-request"], "commands": ["uptime"],
            "patterns": ["capacity"], "duration_s": 3, "warmup_s": 1,
        },
    }  # fmt: skip
    cfg = tmp_path_factory.mktemp("capt") / "capt.yaml"
    cfg.write_text(yaml.safe_dump(config))
    sweep_dir = Path(env["SSHBENCH_RESULTS"]) / "capt"
    targets = [str(sweep_dir / "capacity" / f"{SEARCH.format(cpus=c)}.json") for c in ("0.25", "1")]
    try:
        proc = run_snakemake(env, *targets, "--cores", "2", "--configfile", str(cfg), timeout=900)
    finally:
        teardown_in(env)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    found = {
        c: json.loads(Path(t).read_text()) for c, t in zip(("0.25", "1"), targets, strict=True)
    }
    return sweep_dir, found


def test_each_search_converges_and_brackets_its_capacity(searched):
    _, found = searched
    for cpus, res in found.items():
        steps = res["steps"]
        assert 2 <= len(steps) <= 7, (cpus, steps)
        assert res["converged"], (cpus, steps)
        low, high = res["bracket"]
        assert res["capacity_rps"] == low == max(s["rps"] for s in steps if s["passes"])
        assert high == min(s["rps"] for s in steps if not s["passes"] and s["rps"] > low)
        assert high - low <= max(1.0, 0.25 * low)


def test_a_smaller_host_has_a_lower_capacity(searched):
    _, found = searched
    assert found["0.25"]["capacity_rps"] < found["1"]["capacity_rps"]


def test_the_small_host_ran_out_of_cpu_and_the_generator_is_not_blamed(searched):
    sweep_dir, found = searched
    tidy = collect(sweep_dir)
    small = tidy[tidy["search"] == SEARCH.format(cpus="0.25")]
    first_fail = min(
        (s for s in found["0.25"]["steps"] if not s["passes"]), key=lambda s: s["step"]
    )
    limited = json.loads(small[small["point_id"] == first_fail["id"]]["limited_by"].iloc[0])
    assert "host_cpu:taco" in limited, limited
    for text in small["limited_by"].unique():
        assert not any(x.startswith("generator_") for x in json.loads(text)), text
    # every step's counts added up
    assert set(small["integrity"]) == {"ok"}


def test_utilisation_law_holds_against_the_raw_counters(searched):
    """U = X * D for the host's sshd and the API: each unsaturated step's throughput times
    its service demand (tidy table) equals the CPU rate that a least-squares fit through
    the step's own raw counter samples inside its window gives (an estimator independent
    of the collector's interpolation), within 10 %, or within two ticks of the kernel's CPU
    clock over the window where the rate is too low for 10 % to be above the counters'
    resolution (process CPU times count in 1/CLK_TCK s, 10 ms: an API using 0.03 cores
    moves its counter by a tick or two per 0.5 s sample)."""
    sweep_dir, _ = searched
    tidy = collect(sweep_dir)
    calm = tidy[(tidy["limited_by"] == "[]") & (tidy["status"] == "ok")]
    wide = calm.pivot_table(index="point_id", columns="metric", values="value", aggfunc="first")
    checked = 0
    for pid, row in wide.iterrows():
        rec = json.loads((sweep_dir / "points" / pid / "point.json").read_text())
        start, end = rec["schedule"]["window"]
        inside = [x for x in rec["resources"]["samples"] if start <= x["t"] <= end]
        if len(inside) < 4:
            continue
        t = np.array([x["t"] for x in inside])
        for res in ("host", "api"):
            slope = np.polyfit(t, np.array([x[f"{res}_cpu_s"] for x in inside]), 1)[0]
            predicted = row["throughput_rps"] * row[f"demand_ms_{res}"] / 1000
            ticks = 2 / os.sysconf("SC_CLK_TCK") / (end - start)  # cores
            assert predicted == pytest.approx(slope, rel=0.10, abs=ticks), (
                pid,
                res,
                predicted,
                slope,
            )
            checked += 1
    assert checked >= 4
