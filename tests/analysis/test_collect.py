"""analysis.collect and measure.saturation on small hand-made point directories.

Every point here is a test fixture written by ``make_point`` (not a measurement): a
sustained schedule of 20 slots at 10 req/s from t0 = 1000, measured window [1001, 1002)
(slots 10..19), with known intended / sent / answered times, two missed slots, one failed
request, and resource samples every 0.5 s whose slopes are known, so every metric has an
exact expected value worked out by hand below.
"""

from __future__ import annotations

import copy
import csv
import json
import math
from pathlib import Path
from typing import Any

import pytest

from analysis.collect import collect, point_dirs, read_tidy, write_tidy
from measure import saturation
from measure.metrics import PERCENTILES, percentile_metric, summarise_point
from sshbench.load import records

T0 = 1000.0
WINDOW = (1001.0, 1002.0)
REFUSED = "SSH handshake/authentication with bench@198.18.0.2:22 failed: SocketRecvError"

# slot -> (outcome, send delay after intended s, latency ms, error_class, error) for the
# window's slots; slots 0..8 (warm-up) are ok in 100 ms, slot 9 in 150 ms, so its answer
# (1001.05) is the only warm-up answer arriving in the window.
WINDOW_SLOTS: dict[int, tuple[str, float, float, str, str]] = {
    10: ("ok", 0.010, 100, "", ""),
    11: ("ok", 0.050, 200, "", ""),
    12: ("ok", 0.000, 300, "", ""),
    13: ("ok", 0.100, 600, "", ""),
    14: ("ok", 0.150, 1200, "", ""),
    15: ("ok", 0.100, 1500, "", ""),
    16: ("failed", 0.010, 50, "ssh_error", REFUSED),
    17: ("ok", 0.100, 2500, "", ""),
    18: ("missed", 0, 0, "", ""),
    19: ("missed", 0, 0, "", ""),
}
# Sorted by hand: latencies of the 10 window slots (missed = inf) and service times of the 8 sent.
LATENCIES = [50, 100, 200, 300, 600, 1200, 1500, 2500, math.inf, math.inf]
SERVICES = [40, 90, 150, 300, 500, 1050, 1400, 2400]

# Resource counters: slope per second, piecewise for the host (1.0 before 1001.25, 2.0 after).
SLOPES = {
    "api_cpu_s": 0.3,
    "generator_cpu_s": 0.4,
    "generator_busiest_cpu_s": 0.25,
    "machine_busy_s": 1.2,
    "machine_total_s": 2.0,
    "host_nr_periods": 10.0,
    "host_nr_throttled": 1.0,
    "host_throttled_s": 0.05,
}


def host_cpu_s(t: float) -> float:
    return (t - 999.75) if t <= 1001.25 else 1.5 + 2.0 * (t - 1001.25)


def samples(n: int = 6) -> list[dict[str, float]]:
    out = []
    for t in [999.75 + 0.5 * i for i in range(n)]:
        s = {"t": t, "host_cpu_s": host_cpu_s(t)}
        s.update({k: slope * (t - 999.75) for k, slope in SLOPES.items()})
        out.append(s)
    return out


def request_rows() -> list[list[str]]:
    rows = []
    for k in range(20):
        intended = T0 + k / 10
        if k < 10:
            lat = 0.100 if k < 9 else 0.150
            rows.append(records.row(k, 0, intended, intended, intended + lat, "uptime", "ok"))
            continue
        outcome, delay, lat_ms, cls, err = WINDOW_SLOTS[k]
        if outcome == records.MISSED:
            rows.append(records.row(k, 0, intended, None, None, "uptime", outcome))
        else:
            answered = intended + lat_ms / 1000
            rows.append(
                records.row(k, 0, intended, intended + delay, answered, "uptime", outcome, cls, err)
            )
    return rows


def base_point(pattern: str = "sustained") -> dict[str, Any]:
    return {
        "id": f"r10-taco-c2-uptime-default-ssh2-perreq-tcpd-{pattern}-t0",
        "sweep": "fixture",
        "params": {
            "rps": 10,
            "host": "taco",
            "host_cpus": 2,
            "client_tcp": "default",
            "pattern": pattern,
            "command": "uptime",
            "warmup_s": 1,
            "duration_s": 1,
        },
        "status": "ok",
        "error_class": None,
        "error": None,
        "schedule": {
            "pattern": pattern,
            "t0": T0,
            "rps": 10,
            "slots": 20,
            "window": list(WINDOW),
            "users": 20,
            "processes": 1,
            "request_timeout_s": 60,
        },
        "counts": {"slots": 20, "sent": 18, "missed": 2, "ok": 17, "failed": 1},
        "integrity": "ok",
        "loadgen": {"max_in_flight": 5, "users": 20, "returncodes": [0], "wall_s": 5.1},
        "resources": {
            "interval_s": 0.5,
            "host": "taco",
            "host_cpus": 2.0,
            "machine_cores": 2,
            "generator_processes": 1,
            "samples": samples(),
        },
        "settings": {"api": {"workers": 8}},
        "provenance": {"git": {"commit": "abc"}, "sshd_config": "x" * 400},
    }


def make_point(
    root: Path,
    point: dict[str, Any] | None = None,
    rows: list[list[str]] | None = None,
) -> Path:
    """A point directory under root/points/<id>/ with point.json and requests.csv."""
    point = point if point is not None else base_point()
    d = root / "points" / point["id"]
    d.mkdir(parents=True)
    (d / "point.json").write_text(json.dumps(point))
    with open(d / "requests.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(records.FIELDS)
        w.writerows(request_rows() if rows is None else rows)
    return d


def metrics_of(point_dir: Path) -> dict[str, float]:
    tidy = collect(point_dir.parent.parent, [point_dir])
    return dict(zip(tidy["metric"], tidy["value"], strict=True))


def test_counts_and_rates_over_the_window(tmp_path: Path) -> None:
    m = metrics_of(make_point(tmp_path))
    assert (m["slots"], m["sent"], m["requests"], m["missed"]) == (10, 8, 8, 2)
    assert (m["successes"], m["failures"], m["failures_ssh_error"]) == (7, 1, 1)
    assert m["failure_rate"] == 1 / 8
    assert m["achieved_rps"] == 8.0  # 8 sent in a 1 s window
    # ok answers arriving in [1001, 1002): slots 9 (1001.05), 10, 11, 12 (1001.5), 13 (1001.9)
    assert m["throughput_rps"] == 5.0
    assert m["target_rps"] == 10.0
    assert m["point_ok"] == 1.0


def test_latency_counts_failed_and_missed_slots_as_not_answered(tmp_path: Path) -> None:
    """The failed slot (50 ms, refused) and the two missed ones are +inf: 3 of 10 slots."""
    m = metrics_of(make_point(tmp_path))
    want = {50: 1200, 66: 2500, 75: math.inf, 80: math.inf, 90: math.inf, 99: math.inf}
    for q, v in want.items():
        assert m[percentile_metric(q)] == pytest.approx(v), q
    assert m["latency_p100"] == math.inf
    assert m["latency_mean"] == math.inf  # a mean that meets a not-answered slot
    assert m["latency_min"] == pytest.approx(100)  # the refused 50 ms is not an answer
    assert m["answered_share"] == pytest.approx(0.7)
    ok = sorted(v for v in LATENCIES if v not in (50, math.inf))  # the 7 ok latencies
    assert m["ok_latency_mean"] == pytest.approx(sum(ok) / 7)
    assert m["ok_latency_min"] == pytest.approx(100)
    assert m["ok_latency_p50"] == pytest.approx(600) and m["ok_latency_p100"] == 2500


def test_service_counts_failed_requests_as_not_served(tmp_path: Path) -> None:
    m = metrics_of(make_point(tmp_path))
    # sent: 8; the failed one (40 ms) is +inf, the missed slots have no service time
    want = {50: 500, 66: 1400, 75: 1400, 80: 2400, 90: math.inf, 100: math.inf}
    for q, v in want.items():
        assert m[percentile_metric(q, "service")] == pytest.approx(v), q
    assert m["service_mean"] == math.inf
    ok = [v for v in SERVICES if v != 40]
    assert m["ok_service_mean"] == pytest.approx(sum(ok) / 7)
    assert m["ok_service_min"] == pytest.approx(90)
    assert m["ok_service_p100"] == 2400
    assert set(m) >= {percentile_metric(q, "service") for q in PERCENTILES}
    assert set(m) >= {percentile_metric(q, "ok_service") for q in PERCENTILES}


def test_frac_ok_under_counts_missed_and_failed_as_not_under(tmp_path: Path) -> None:
    m = metrics_of(make_point(tmp_path))
    # ok under 500: 100, 200, 300 (the failed 50 ms does not count) over 10 slots
    assert m["frac_ok_under_500ms"] == pytest.approx(0.3)
    assert m["frac_ok_under_1000ms"] == pytest.approx(0.4)
    assert m["frac_ok_under_2000ms"] == pytest.approx(0.6)


def test_resources_interpolated_at_the_window_edges(tmp_path: Path) -> None:
    m = metrics_of(make_point(tmp_path))
    # host: 1.25 at 1001.0 (between samples 1000.75 and 1001.25), 3.0 at 1002.0
    assert m["cpu_s_host"] == pytest.approx(1.75)
    assert m["util_host"] == pytest.approx(1.75 / (1.0 * 2.0))
    assert m["cpu_s_api"] == pytest.approx(0.3)
    assert m["util_api"] == pytest.approx(0.3)
    assert m["cpu_s_generator"] == pytest.approx(0.4)
    assert m["util_generator"] == pytest.approx(0.25)  # the busiest process, of one core
    assert m["cpu_s_machine"] == pytest.approx(1.2)
    assert m["util_machine"] == pytest.approx(0.6)
    assert m["host_throttled_fraction"] == pytest.approx(0.1)
    assert m["demand_ms_host"] == pytest.approx(1750 / 5)  # 5 ok answers in the window


def test_utilisation_law(tmp_path: Path) -> None:
    """demand (s) * throughput == CPU seconds / window, for every resource."""
    m = metrics_of(make_point(tmp_path))
    for name in ("host", "api", "generator", "machine"):
        lhs = m[f"demand_ms_{name}"] / 1000 * m["throughput_rps"]
        assert lhs == pytest.approx(m[f"cpu_s_{name}"] / (WINDOW[1] - WINDOW[0])), name


def test_missing_or_short_samples_give_no_metric(tmp_path: Path) -> None:
    point = base_point()
    for s in point["resources"]["samples"]:
        del s["host_cpu_s"]
        s["api_cpu_s"] = None
    m = metrics_of(make_point(tmp_path / "a", point))
    for gone in ("cpu_s_host", "util_host", "demand_ms_host", "cpu_s_api", "util_api"):
        assert gone not in m
    assert m["util_machine"] == pytest.approx(0.6)
    # samples that stop more than one interval before the window ends cover nothing
    point = base_point()
    point["resources"]["samples"] = [s for s in samples() if s["t"] < 1001.3]
    m = metrics_of(make_point(tmp_path / "b", point))
    assert not {k for k in m if k.startswith(("cpu_s_", "util_", "demand_ms_", "host_thr"))}


def test_one_interval_of_extrapolation(tmp_path: Path) -> None:
    """The last sample at 1001.75, window end 1002.0: extrapolated from the last slope."""
    point = base_point()
    point["resources"]["samples"] = [s for s in samples() if s["t"] < 1002]
    m = metrics_of(make_point(tmp_path, point))
    assert m["cpu_s_host"] == pytest.approx(1.75)
    assert m["cpu_s_api"] == pytest.approx(0.3)


def test_burst_keeps_every_row_and_has_no_rates(tmp_path: Path) -> None:
    point = base_point("burst")
    point["schedule"].pop("window")
    m = metrics_of(make_point(tmp_path / "short", point))
    assert "cpu_s_machine" not in m  # samples end at 1002.25, the last answer is at 1004.2
    point["resources"]["samples"] = samples(11)  # 999.75 .. 1004.75
    m = metrics_of(make_point(tmp_path, point))
    assert (m["slots"], m["sent"], m["missed"], m["successes"]) == (20, 18, 2, 17)
    assert not {"achieved_rps", "throughput_rps", "target_rps"} & set(m)
    # resources over the burst's span: first intended (1000.0) to last answer (1004.2)
    span = 1004.2 - 1000.0
    assert m["util_api"] == pytest.approx(0.3)  # a constant slope, whatever the span
    assert m["cpu_s_machine"] == pytest.approx(1.2 * span)
    assert m["demand_ms_machine"] == pytest.approx(1.2 * span * 1000 / 17)


def test_capacity_steps_use_the_window(tmp_path: Path) -> None:
    point = base_point("capacity")
    point["params"].update(step=2, search="cap-taco-c2-uptime-default-ssh2-perreq-tcpd-t0")
    point["capacity_step"] = {"passes": False, "why": "p99 inf ms > 2000 ms"}
    d = make_point(tmp_path, point)
    m = metrics_of(d)
    assert (m["slots"], m["achieved_rps"], m["throughput_rps"]) == (10, 8.0, 5.0)
    tidy = collect(tmp_path, [d])
    assert set(tidy["capacity_step.passes"]) == {False}
    assert set(tidy["step"]) == {2}


def test_tidy_columns(tmp_path: Path) -> None:
    tidy = collect(tmp_path, [make_point(tmp_path)])
    cols = list(tidy.columns)
    assert cols[:7] == ["sweep", "point_id", "status", "metric", "value", "unit", "quantile"]
    for c in ("integrity", "limited_by", "saturation", "limit_kind", "host_cpus", "client_tcp"):
        assert c in cols, c
    assert "resources.host_cpus" in cols and "schedule.t0" in cols
    assert not [c for c in cols if c.startswith(("resources.samples", "counts", "point."))]
    assert not [m for m in tidy["metric"] if m.startswith(("response_time", "frac_under"))]
    assert tidy["provenance.sshd_config"].iloc[0].startswith("sha256:")
    q = tidy.set_index("metric")["quantile"]
    assert q["latency_p99.9"] == pytest.approx(0.999) and math.isnan(q["slots"])
    assert set(tidy["unit"]) == {"count", "fraction", "req/s", "ms", "s", "bool"}


def test_tidy_round_trip_keeps_inf(tmp_path: Path) -> None:
    tidy = collect(tmp_path, [make_point(tmp_path)])
    write_tidy(tidy, tmp_path / "tidy.csv", tmp_path / "tidy.parquet")
    back = read_tidy(tmp_path / "tidy.csv").set_index("metric")
    assert back.loc["latency_p99", "value"] == math.inf
    assert json.loads(back.loc["slots", "limited_by"]) == ["sshd_refusals"]


def test_per_point_columns_of_the_fixture(tmp_path: Path) -> None:
    """The refused handshake (slot 16, answered at +0.65 s) broke the bound before the first
    missed slot (+0.8 s), with machine and generator CPU idle: the system under test first,
    so the missed slots do not make the point the environment's."""
    row = collect(tmp_path, [make_point(tmp_path)]).iloc[0]
    assert json.loads(row["limited_by"]) == ["sshd_refusals"]
    assert row["saturation"] == "saturated: sshd_refusals"
    assert row["limit_kind"] == "saturated"
    assert "generator_users ran out at +0.8 s" in row["limit_order"]
    assert row["limit_order"].endswith("the system under test first (every environment "
                                       "resource had room)")  # fmt: skip
    assert row["integrity"] == "ok"


def test_missed_slots_before_any_break_are_the_environment(tmp_path: Path) -> None:
    rows = request_rows()
    rows[16] = records.row(16, 0, T0 + 1.6, T0 + 1.61, T0 + 1.7, "uptime", "ok")  # no refusal
    row = collect(tmp_path, [make_point(tmp_path, rows=rows)]).iloc[0]
    # the missed slot 18 (+0.8 s) comes before slot 17's 2500 ms passes 2000 ms (+2.7 s)
    assert json.loads(row["limited_by"]) == ["generator_users"]
    assert row["limit_kind"] == "environment"


def test_integrity_broken_when_rows_disagree_with_counts(tmp_path: Path) -> None:
    point = base_point()
    point["counts"] = {"slots": 21, "sent": 19, "missed": 2, "ok": 18, "failed": 1}
    row = collect(tmp_path, [make_point(tmp_path / "a", point)]).iloc[0]
    assert row["integrity"].startswith("broken: ")
    assert "21 slots" in row["integrity"] and "requests.csv has 20" in row["integrity"]
    point = base_point()
    point["counts"]["sent"] = 17  # slots 20 != sent 17 + missed 2, and != the rows
    row = collect(tmp_path, [make_point(tmp_path / "b", point)]).iloc[0]
    assert "slots 20 != sent 17 + missed 2" in row["integrity"]
    point = base_point()
    point["integrity"] = "broken: 3 sent requests have no row"
    row = collect(tmp_path, [make_point(tmp_path / "c", point)]).iloc[0]
    assert row["integrity"] == "broken: 3 sent requests have no row"
    rows = request_rows()
    rows[12][records.FIELDS.index("answered_ts")] = ""
    row = collect(tmp_path, [make_point(tmp_path / "d", rows=rows)]).iloc[0]
    assert row["integrity"] == "broken: 1 sent row(s) without an answer time"


def test_failed_point_without_requests(tmp_path: Path) -> None:
    point = base_point()
    point.update(status="failed", error_class="api_down", error="API did not start")
    point.pop("counts")
    d = make_point(tmp_path, point, rows=[])
    (d / "requests.csv").unlink()
    m = metrics_of(d)
    assert m["point_ok"] == 0.0 and m["slots"] == 0 and "latency_p50" not in m


def test_summarise_point_agrees_with_the_tidy_rows(tmp_path: Path) -> None:
    d = make_point(tmp_path)
    s = summarise_point(d)
    m = metrics_of(d)
    row = collect(tmp_path, [d]).iloc[0]
    keys = ("target_rps", "achieved_rps", "latency_p50", "latency_p99", "service_p50")
    for k in (*keys, "service_p99", "slots", "sent", "missed", "failures"):
        assert s[k] == m[k], k
    assert s["pattern"] == "sustained"
    assert s["limited_by"] == json.loads(row["limited_by"])
    assert s["saturation"] == row["saturation"] and s["integrity"] == row["integrity"]
    assert point_dirs(tmp_path) == [d]


# --- saturation rules: the system under test over the window, the environment in time order

CALM = {
    "util_host": 0.5,
    "host_throttled_fraction": 0.0,
    "util_api": 0.3,
    "util_machine": 0.99,  # whole-window averages of the environment no longer decide
    "util_generator": 0.99,
    "missed": 3,
    "sshd_refusals": 0,
}


def calm_point() -> dict[str, Any]:
    point = base_point()
    point["loadgen"]["max_in_flight"] = 5
    return point


@pytest.mark.parametrize(
    ("change", "want"),
    [
        ({}, []),
        ({"util_host": 0.9}, ["host_cpu:taco"]),
        ({"host_throttled_fraction": 0.2}, ["host_cpu:taco"]),
        ({"util_host": 0.89, "host_throttled_fraction": 0.19}, []),
        ({"util_api": 0.95}, ["api_cpu"]),
        ({"util_host": None, "util_api": math.nan}, []),  # absent metrics limit nothing
    ],
)
def test_system_limits(change: dict[str, Any], want: list[str]) -> None:
    assert saturation.system_limits({**CALM, **change}, calm_point()) == want


def line(
    broke: float | None, unknown: tuple[str, ...] = (), **ran_out: float
) -> saturation.Timeline:
    return saturation.Timeline(1000.0, 2000.0, broke, dict(ran_out), list(unknown))


@pytest.mark.parametrize(
    ("timeline", "want", "kind"),
    [
        (line(None), [], "none"),
        (line(1002.0), [], "none"),  # broke with room everywhere: a finding (no env item)
        (line(1002.0, machine_cpu=1001.0), ["machine_cpu"], "environment"),
        (line(1002.0, machine_cpu=1002.0), ["machine_cpu"], "environment"),  # a tie
        (line(1002.0, machine_cpu=1003.0), [], "none"),  # ran out after the break
        (line(None, generator_cpu=1003.0), [], "none"),  # a moment's peak, bound met
        (line(None, ("machine_cpu",)), ["unknown:machine_cpu"], "unknown"),
        (
            line(1005.0, generator_users=1001.0, generator_cpu=1004.0),
            ["generator_cpu", "generator_users"],
            "environment",
        ),
        (line(1002.0, ("machine_cpu",)), ["unknown:machine_cpu"], "unknown"),
        (line(1002.0, ("generator_cpu",), machine_cpu=1001.0), ["machine_cpu"], "environment"),
    ],
)
def test_environment_counts_only_when_it_ran_out_first(
    timeline: saturation.Timeline, want: list[str], kind: str
) -> None:
    got = saturation.limited_by(CALM, calm_point(), timeline)
    assert got == want and saturation.kind(got) == kind
    got = saturation.limited_by({**CALM, "util_host": 0.95}, calm_point(), timeline)
    assert got == ["host_cpu:taco", *want]


@pytest.mark.parametrize(
    ("change", "want"),
    [
        ({"util_machine": 0.5, "util_generator": 0.2, "missed": 0}, []),
        ({"util_machine": 0.95, "util_generator": 0.2, "missed": 0}, ["machine_cpu"]),
        ({"util_machine": 0.5, "util_generator": 0.9, "missed": 0}, ["generator_cpu"]),
        ({"util_machine": 0.5, "util_generator": 0.2, "missed": 1}, ["generator_users"]),
    ],
)
def test_when_nothing_broke_the_window_as_a_whole_decides(
    change: dict[str, Any], want: list[str]
) -> None:
    metrics = {**CALM, **change}
    unbroken = line(None)
    unbroken.unbroken = saturation.window_environment(metrics, calm_point())
    assert saturation.limited_by(metrics, calm_point(), unbroken) == want


def test_without_a_timeline_the_environment_is_unknown() -> None:
    got = saturation.limited_by(CALM, calm_point(), None)
    assert saturation.kind(got) == "unknown"
    assert saturation.describe(got).startswith("environment unknown: machine_cpu")


def test_thresholds_from_settings() -> None:
    point = calm_point()
    point["settings"]["saturation"] = {"host_util": 0.5, "api_util": 0.95}
    assert saturation.system_limits({**CALM, "util_api": 0.92}, point) == ["host_cpu:taco"]
    point["settings"]["saturation"] = {"host_cpu": 0.5}
    with pytest.raises(ValueError, match=r"unknown threshold.*host_cpu"):
        saturation.system_limits(CALM, point)


def test_host_name_comes_from_the_point() -> None:
    point = copy.deepcopy(calm_point())
    point["resources"]["host"] = "jetstream"
    assert saturation.system_limits({**CALM, "util_host": 1.0}, point) == ["host_cpu:jetstream"]


@pytest.mark.parametrize(
    ("limits", "text", "kind"),
    [
        ([], "", "none"),
        (["host_cpu:taco"], "saturated: host_cpu:taco", "saturated"),
        (["host_cpu:taco", "api_cpu"], "saturated: host_cpu:taco, api_cpu", "saturated"),
        (["sshd_refusals"], "saturated: sshd_refusals", "saturated"),
        (["generator_users"], "load generator limited: generator_users", "environment"),
        (
            ["generator_cpu", "generator_users"],
            "load generator limited: generator_cpu, generator_users",
            "environment",
        ),
        (["machine_cpu"], "saturated: machine_cpu", "environment"),
        (
            ["host_cpu:taco", "generator_cpu"],
            "saturated: host_cpu:taco; load generator limited: generator_cpu",
            "environment",
        ),
    ],
)
def test_describe_and_kind(limits: list[str], text: str, kind: str) -> None:
    assert saturation.describe(limits) == text
    assert saturation.kind(limits) == kind
    assert saturation.describe(json.dumps(limits)) == text  # the tidy table's JSON text
    assert saturation.kind(json.dumps(limits)) == kind
    assert kind in saturation.KINDS


@pytest.mark.parametrize(
    ("cls", "error", "refused"),
    [
        ("ssh_connection_refused", "connection to 198.18.0.2:22 refused", True),
        ("ssh_error", REFUSED, True),
        (
            "ssh_error",
            "SSH handshake/authentication with u@h:22 failed: SSHException "
            "Error reading SSH protocol banner",
            True,
        ),
        (
            "ssh_error",
            "ssh to u@h:22 failed: kex_exchange_identification: read: Connection reset by peer",
            True,
        ),
        ("ssh_error", "ssh to u@h:22 failed: Connection closed by remote host", True),
        ("ssh_error", "running 'uptime' with u@h:22 failed: ChannelFailure", False),
        ("ssh_timeout", "SSH handshake with h:22 timed out after 10 s", False),
        ("ssh_auth_failed", "u@h:22 refused the key (AuthenticationError)", False),
        ("api_reset", "Connection reset by peer", False),
        ("", "", False),
    ],
)
def test_sshd_refused(cls: str, error: str, refused: bool) -> None:
    assert saturation.sshd_refused(cls, error) is refused


def test_old_requests_csv_is_a_clear_error(tmp_path: Path) -> None:
    d = make_point(tmp_path)
    (d / "requests.csv").write_text("t_start,name,response_time_ms,response_length,success,error\n")
    with pytest.raises(ValueError, match=r"requests\.csv: missing column\(s\) slot, process"):
        summarise_point(d)


def test_host_memory_peak_and_limit(tmp_path: Path) -> None:
    point = base_point()
    for i, smp in enumerate(point["resources"]["samples"]):
        smp["host_mem_bytes"] = (100 + 10 * i) * 2**20  # 999.75 .. 1002.25: 100 .. 150 MiB
    point["resources"]["samples"][-1]["host_mem_bytes"] = 900 * 2**20  # t = 1002.25: inside
    point["resources"]["samples"].append({"t": 1003.5, "host_mem_bytes": 950 * 2**20})  # out
    point["resources"]["host_mem_limit_bytes"] = 2**31
    m = metrics_of(make_point(tmp_path / "a", point))
    # samples within one interval (0.5 s) of the window [1001, 1002): up to t = 1002.25
    assert m["host_mem_peak_mib"] == pytest.approx(900) and m["host_mem_limit_mib"] == 2048
    del point["resources"]["host_mem_limit_bytes"]
    point["provenance"]["testbed"] = {
        "hosts": {"taco": {"host_facts": {"memory_bytes_applied": 2**32}}}
    }
    m = metrics_of(make_point(tmp_path / "b", point))
    assert m["host_mem_limit_mib"] == 4096
    m = metrics_of(make_point(tmp_path / "c"))
    assert "host_mem_peak_mib" not in m and "host_mem_limit_mib" not in m


def test_reruns_counts_the_earlier_attempts(tmp_path: Path) -> None:
    point = base_point()
    point["attempts"] = [
        {"error_class": "testbed_error", "error": "x" * 400, "started_at": "a", "ended_at": "b"}
    ]
    row = collect(tmp_path / "a", [make_point(tmp_path / "a", point)]).iloc[0]
    assert row["reruns"] == 1
    assert collect(tmp_path / "b", [make_point(tmp_path / "b")]).iloc[0]["reruns"] == 0
