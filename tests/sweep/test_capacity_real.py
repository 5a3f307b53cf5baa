"""Capacity searches on the real testbed: two host sizes of the study's configuration (ssh2,
a new connection per request), run through Snakemake like any sweep (the shared
`capacity_sweep` of tests/conftest.py, whose model tests/analysis/test_model_sweep.py reads).

A host given a quarter of a CPU must have a lower capacity than a host with one CPU, each
search must converge within its step budget and bracket its result between its last
passing and its lowest confirmed failing rate (a failing step is repeated once before it
counts), and the step that failed first on the small host must name that host's CPU as what
ran out, never the load generator: a capacity measured, not a lower bound.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analysis.collect import collect
from sweep.helpers import CAPACITY_SEARCH as SEARCH
from sweep.helpers import CAPACITY_SWEEP

# The shared capacity sweep (tests/conftest.py) may take up to 900 s, in the fixture's setup.
pytestmark = [pytest.mark.netns, pytest.mark.timeout(1500)]

CAPACITY = CAPACITY_SWEEP["capacity"]


@pytest.fixture(scope="module")
def searched(capacity_sweep: Path) -> tuple[Path, dict[str, dict]]:
    found = {
        c: json.loads((capacity_sweep / "capacity" / f"{SEARCH.format(cpus=c)}.json").read_text())
        for c in ("0.25", "1")
    }
    return capacity_sweep, found


def test_each_search_converges_and_brackets_its_capacity(searched):
    _, found = searched
    for cpus, res in found.items():
        steps = res["steps"]
        assert 3 <= len(steps) <= 12, (cpus, steps)
        assert res["converged"], (cpus, steps)
        low, high = res["bracket"]
        assert res["capacity_rps"] == low == max(s["rps"] for s in steps if s["passes"])
        assert high == min(s["rps"] for s in steps if not s["passes"] and s["rps"] > low)
        assert high - low <= max(1.0, CAPACITY["resolution"] * low)
        # the upper bracket is confirmed: its rate failed twice, on consecutive steps
        at_high = [s for s in steps if s["rps"] == high]
        assert [s["passes"] for s in at_high] == [False, False], (cpus, steps)
        assert at_high[1]["step"] == at_high[0]["step"] + 1
        assert high in res["confirmed_failures_rps"]
        # measured, or (this machine's CPU or the generator ran out at the bracket: a shared
        # machine can be that busy) only a lower bound, and then it says so
        env = "environment" in res["bracket_high_limit_kinds"]
        assert res["lower_bound"] == env, (cpus, steps)
        want = f"≥ {low:g} RPS, environment-limited" if env else f"{low:g} RPS (bracket"
        assert res["capacity_text"].startswith(want), res["capacity_text"]
        assert not res["non_monotone"] or res["unconfirmed_failures_rps"], (cpus, steps)


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
    assert first_fail["limit_kind"] in ("saturated", "environment"), first_fail
    for text in small["limited_by"].unique():
        assert not any(x.startswith("generator_") for x in json.loads(text)), text
    # every step's counts added up
    assert set(small["integrity"]) == {"ok"}


def test_utilisation_law_holds_against_the_raw_counters(searched):
    """U = X * D for the host's sshd and the API, checked against the raw counter samples.

    Each unsaturated step's throughput times its service demand times its window (tidy
    table) is the CPU time that step used. The counters are cumulative, so that CPU time
    lies between what they grew by over the samples inside the window and over the
    samples just around it; a wrong counter, unit or answer count in either metric lands
    outside. (A regression slope through the samples is not a fair judge: at 8 RPS over a
    3 s window the API's work is a few dozen 10 ms clock ticks, arriving in bursts.)
    """
    sweep_dir, _ = searched
    tidy = collect(sweep_dir)
    calm = tidy[(tidy["limited_by"] == "[]") & (tidy["status"] == "ok")]
    wide = calm.pivot_table(index="point_id", columns="metric", values="value", aggfunc="first")
    checked = 0
    for pid, row in wide.iterrows():
        rec = json.loads((sweep_dir / "points" / pid / "point.json").read_text())
        start, end = rec["schedule"]["window"]
        samples = sorted(rec["resources"]["samples"], key=lambda x: x["t"])
        before = [x for x in samples if x["t"] <= start]
        inside = [x for x in samples if start <= x["t"] <= end]
        after = [x for x in samples if x["t"] >= end]
        if not (before and after and len(inside) >= 2):
            continue
        for res in ("host", "api"):
            key = f"{res}_cpu_s"
            used = row["throughput_rps"] * row[f"demand_ms_{res}"] / 1000 * (end - start)
            at_least = inside[-1][key] - inside[0][key]
            at_most = after[0][key] - before[-1][key]
            assert at_least - 1e-9 <= used <= at_most + 1e-9, (pid, res, at_least, used, at_most)
            checked += 1
    assert checked >= 4
