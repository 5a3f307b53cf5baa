"""The verdict rules of issue 20 on real rows: points recorded from a real ci sweep
(tests/analysis/data/ci-recorded, README there). Where a test changes a recorded point, it
says what and why; the request rows themselves are never made up."""

from __future__ import annotations

import copy
import csv
import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from analysis.collect import collect
from measure.metrics import PERCENTILES, percentile, percentile_metric, read_requests
from measure.saturation import sshd_refused

RECORDED = Path(__file__).parent / "data" / "ci-recorded" / "points"
BURST = "n40-taco-c2-uptime-default-ssh2-perreq-tcpd-burst-t0"
SUSTAINED = "r5-taco-c2-uptime-default-ssh2-perreq-tcpd-sustained-t0"


def copy_point(tmp: Path, pid: str, rows: pd.DataFrame | None = None, **change: Any) -> Path:
    """A recorded point under tmp/points/<pid>, its point.json updated by `change` (dotted
    keys), its requests.csv replaced by `rows` (a subset of the real rows) if given."""
    d = tmp / "points" / pid
    shutil.copytree(RECORDED / pid, d)
    point = json.loads((d / "point.json").read_text())
    for key, val in change.items():
        *parents, leaf = key.split(".")
        node = point
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = val
    (d / "point.json").write_text(json.dumps(point))
    if rows is not None:
        rows.to_csv(d / "requests.csv", index=False, quoting=csv.QUOTE_MINIMAL)
    return d


def metrics(d: Path) -> tuple[dict[str, float], pd.Series]:
    tidy = collect(d.parent.parent, [d])
    return dict(zip(tidy["metric"], tidy["value"], strict=True)), tidy.iloc[0]


def refused_mask(rows: pd.DataFrame) -> pd.Series:
    return pd.Series(
        [sshd_refused(c, e) for c, e in zip(rows["error_class"], rows["error"], strict=True)],
        index=rows.index,
    )


def test_the_recorded_burst_has_real_refusals() -> None:
    rows = read_requests(RECORDED / BURST / "requests.csv")
    assert int(refused_mask(rows).sum()) == 17 and len(rows) == 40


def test_refused_requests_cannot_lower_a_percentile(tmp_path: Path) -> None:
    """Every percentile with the 17 refused requests is >= the same without them, and >=
    the success-only one; counting them at their own times (the old rule) lowered p50."""
    rows = read_requests(RECORDED / BURST / "requests.csv")
    refused = refused_mask(rows)
    with_refused, _ = metrics(copy_point(tmp_path / "a", BURST))
    without, _ = metrics(copy_point(tmp_path / "b", BURST, rows=rows[~refused]))
    for q in PERCENTILES:
        name = percentile_metric(q)
        assert with_refused[name] >= without[name], q
        assert with_refused[name] >= with_refused[percentile_metric(q, "ok_latency")], q
        assert (
            with_refused[percentile_metric(q, "service")]
            >= without[percentile_metric(q, "service")]
        ), q
    assert with_refused["answered_share"] == pytest.approx(23 / 40)
    assert with_refused["latency_mean"] == math.inf
    old = percentile(np.sort(rows["latency_ms"].to_numpy(float)), 50)  # failed at their times
    assert old < with_refused["latency_p50"]


def test_how_fast_a_refusal_came_back_changes_nothing(tmp_path: Path) -> None:
    """The refused rows' own times are irrelevant: answered 10x faster, every latency and
    service statistic is the same."""
    rows = read_requests(RECORDED / BURST / "requests.csv")
    fast = rows.copy()
    refused = refused_mask(fast)
    for col in ("latency_ms", "service_ms"):
        fast.loc[refused, col] = fast.loc[refused, col] / 10
    fast.loc[refused, "answered_ts"] = (
        fast.loc[refused, "sent_ts"] + fast.loc[refused, "service_ms"] / 1000
    )
    a, _ = metrics(copy_point(tmp_path / "a", BURST))
    b, _ = metrics(copy_point(tmp_path / "b", BURST, rows=fast))
    keys = [k for k in a if k.startswith(("latency_", "service_", "ok_"))]
    assert keys and all(a[k] == b[k] for k in keys)


def idle_samples(point_dir: Path) -> list[dict[str, float]]:
    """Resource samples every 0.5 s over the recorded point's run with an idle machine and
    generator (10 % and 5 %): a hand-made fixture, not a measurement, since the recorded
    machine was busy with other test runs throughout."""
    point = json.loads((point_dir / "point.json").read_text())
    t0, t1 = point["resources"]["samples"][0]["t"], point["resources"]["samples"][-1]["t"]
    out = []
    for i, t in enumerate(np.arange(t0, t1 + 0.5, 0.5)):
        out.append(
            {
                "t": float(t),
                "machine_busy_s": 0.1 * i,
                "machine_total_s": 1.0 * i,
                "generator_cpu_s": 0.025 * i,
                "generator_busiest_cpu_s": 0.025 * i,
            }
        )
    return out


def test_a_slow_system_with_an_idle_environment_is_a_finding(tmp_path: Path) -> None:
    """The recorded 5 RPS rows (latencies 100-150 ms) against a bound of 120 ms: latency
    passes the bound while machine and generator have room and every user is free."""
    d = copy_point(tmp_path / "a", SUSTAINED)
    samples = idle_samples(d)
    d = copy_point(
        tmp_path / "b",
        SUSTAINED,
        **{"settings.capacity.p99_ms": 120, "resources.samples": samples},
    )
    _, row = metrics(d)
    assert row["limit_kind"] != "environment" and json.loads(row["limited_by"]) == []
    assert "latency passed 120 ms" in row["limit_order"]
    assert row["limit_order"].endswith("the system under test first (every environment "
                                       "resource had room)")  # fmt: skip


def test_the_busy_machine_of_the_recording_ran_out_first(tmp_path: Path) -> None:
    """The same point as recorded: the shared machine's CPU was at 100 % over the window
    (nothing broke the 2 s bound: the window as a whole decides) and from its first sample
    (against a 120 ms bound that the latencies do break: the machine came first)."""
    _, row = metrics(copy_point(tmp_path / "a", SUSTAINED))
    assert json.loads(row["limited_by"]) == ["machine_cpu"]
    assert row["limit_kind"] == "environment"
    assert "machine_cpu ran out over the window" in row["limit_order"]
    _, row = metrics(copy_point(tmp_path / "b", SUSTAINED, **{"settings.capacity.p99_ms": 120}))
    assert json.loads(row["limited_by"]) == ["machine_cpu"]
    assert "machine_cpu ran out at +0.0 s" in row["limit_order"]
    assert "latency passed 120 ms" in row["limit_order"]


def test_a_missing_counter_reads_unknown(tmp_path: Path) -> None:
    point = json.loads((RECORDED / SUSTAINED / "point.json").read_text())
    samples = copy.deepcopy(point["resources"]["samples"])
    for s in samples:
        s.pop("machine_busy_s")
    d = copy_point(tmp_path, SUSTAINED, **{"resources.samples": samples})
    _, row = metrics(d)
    assert row["limit_kind"] == "unknown"
    assert "machine_cpu unknown (no counter)" in row["limit_order"]
    assert "environment unknown: machine_cpu" in row["saturation"]
