"""Per-point metrics: every number of one point, from its point.json and requests.csv, once.

Input: point.json (measure.point) + requests.csv as docs/ARCHITECTURE.md section 3 defines
them; requests.csv's columns come from ``measure.rows``. Every metric is computed once,
here, by ``point_metrics``; the tidy rows and the runner's console line
(``summarise_point``) both read its result.

Definitions, so every number downstream has one meaning:

- Window: a sustained-like point (``sustained``, ``capacity``) keeps the slots whose
  intended time lies in point.json ``schedule.window`` [start, end); its length W is
  end - start. A burst keeps every row; its W is the span from the first intended time to
  the last answer (only the resource metrics use it).
- Counts: ``slots`` = rows kept, ``sent`` (= ``requests``) = ok + failed, ``missed`` =
  slots never sent (a missed slot is a slot, never an answer), ``successes``,
  ``failures``, ``failures_<error_class>`` (the class the locustfile wrote; ``other`` if
  empty); ``failure_rate`` = failures / sent.
- Rates (sustained-like only): ``achieved_rps`` = sent / W; ``throughput_rps`` = ok answers
  whose answer time lies in the window (whatever their slot) / W; ``target_rps``.
- Latency (from the intended time): ``latency_p{q}``, ``latency_mean`` and ``latency_min``
  are over EVERY kept slot, a failed or missed slot counting as not answered (+inf): a
  percentile that lands on one is inf, and a mean that meets one is inf. So a request that
  sshd refused in 10 ms can never lower a latency statistic; it raises it. Beside them,
  ``answered_share`` = ok / slots says how much of the schedule was answered at all.
  Success-only statistics keep their own names: ``ok_latency_p{q}``, ``ok_latency_mean``,
  ``ok_latency_min`` (over ok rows only; absent when none was ok).
- Service time (from the actual send; decided here): ``service_*`` over every SENT request,
  a failed one counting as not served (+inf), for the same reason as latency; a missed slot
  was never sent, so it has no service time (its cost is in ``latency_*``).
  ``ok_service_p{q}``, ``ok_service_mean``, ``ok_service_min``: over ok rows only.
- Percentiles: nearest rank, numpy's ``inverted_cdf`` (Hyndman and Fan's type 1): the
  smallest value v with at least q % of the sample <= v, so "p99 < 2 s" is the same
  statement as "at least 99 % took < 2 s". (Locust's own CSV uses rank ``floor(n q) + 1``
  on times rounded to ~2 significant digits; we do not use it.)
- ``frac_ok_under_<X>ms``: ok rows with latency < X ms over all kept slots.
- Resources: each cumulative counter of point.json ``resources.samples`` is interpolated
  linearly at the window's edges (extrapolated at most one sampling interval beyond the
  first or last sample) and differenced: ``cpu_s_*``; ``util_host`` = cpu_s_host / (W *
  host_cpus), ``util_api`` of one core, ``util_generator`` = the busiest generator
  process of one core, ``util_machine`` = busy / total; ``host_throttled_fraction`` =
  d(nr_throttled) / d(nr_periods); ``demand_ms_*`` = CPU ms per ok answer in the window
  (utilisation law D = U / X). A counter without samples covering the window gives no
  metric (absent, not 0).
- ``sshd_refusals``: failed requests whose class and text say sshd refused or dropped the
  connection (measure.saturation.sshd_refused); ``refused_share`` = that / sent.
- Memory: ``host_mem_peak_mib`` = the largest point.json ``resources.samples[*].host_mem_bytes``
  (the host cgroup's memory in use) within one sampling interval of the window, in MiB;
  ``host_mem_limit_mib`` = ``resources.host_mem_limit_bytes`` in MiB (else the limit the
  testbed applied, provenance ``testbed.hosts.<host>.host_facts.memory_bytes_applied``).
  Absent when not recorded.
- Transfers (pattern ``transfer``; one row per transfer, ``response_length`` its bytes):
  ``transfer_bytes`` = bytes of the ok transfers answered in the window (as
  ``throughput_rps`` counts answers); ``transfer_mb_per_s`` = that / 1e6 / W (MB = 10^6
  bytes), the point's throughput over all its streams; ``stream_mb_per_s_mean`` = the mean
  over kept ok transfers of bytes / service time (one stream's rate);
  ``demand_ms_per_mb_<host|api|generator>`` = CPU ms of that resource in the window per MB
  moved in it (the transfer analogue of ``demand_ms_*``). Absent without a window or bytes.
- Per point columns: ``integrity`` (point.json's, plus "broken: ..." when requests.csv
  disagrees with point.json ``counts``), ``limited_by`` (JSON list), ``saturation``,
  ``limit_kind`` and ``limit_order`` (measure.saturation: what broke the bound and what ran
  out, in order of time; the environment only counts when it ran out first).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from measure import rows as schema
from measure import saturation
from measure.capacity import bound_of
from measure.point import PointFiles, PointRecord, pattern_of

log = logging.getLogger(__name__)

# The study's Locust percentile set (Locust's PERCENTILES_TO_REPORT minus 99.99 %).
PERCENTILES: tuple[float, ...] = (50, 66, 75, 80, 90, 95, 98, 99, 99.9, 100)

# "fraction answered ok under X ms" metrics; the study's claims speak of 1 s and 2 s.
UNDER_MS: tuple[int, ...] = (500, 1000, 2000)

# Resource name in metric names -> (point.json sample counter of its CPU seconds).
CPU_COUNTERS: dict[str, str] = {
    "host": "host_cpu_s",
    "api": "api_cpu_s",
    "generator": "generator_cpu_s",
    "machine": "machine_busy_s",
}

# Per-point columns computed here (not copied from point.json).
POINT_COLUMNS = ("integrity", "limited_by", "saturation", "limit_kind", "limit_order")

_OK, _FAILED, _MISSED = schema.OK, schema.FAILED, schema.MISSED

Row = tuple[str, float, str, float | None]  # (metric, value, unit, quantile)


def percentile_metric(q: float, measure: str = "latency") -> str:
    """Metric name of a percentile: (50) -> latency_p50, (99.9, "service") -> service_p99.9."""
    return f"{measure}_p{q:g}"


def percentile(sorted_ms: np.ndarray, q: float) -> float:
    """Nearest-rank percentile (numpy ``inverted_cdf``) of a sorted sample; q in 0..100.

    The sample may hold +inf (missed slots); the result is then inf when its rank lands on one.
    """
    if len(sorted_ms) == 0:
        return math.nan
    return float(np.percentile(sorted_ms, q, method="inverted_cdf"))


_TS = ("intended_ts", "sent_ts", "answered_ts", "latency_ms", "service_ms")


def read_requests(path: Path) -> pd.DataFrame:
    """requests.csv with schema.FIELDS and numeric times; a clear error if a column is missing.

    No file (a point that failed before sending): an empty table with the same columns.
    """
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame(
            {c: pd.Series(dtype=float if c in _TS else object) for c in schema.FIELDS}
        )
    text = {c: "string" for c in ("name", "outcome", "error_class", "error")}
    df = pd.read_csv(
        path,
        dtype={**text, **{c: float for c in _TS}},
        keep_default_na=False,
        na_values={c: [""] for c in _TS},
    )
    missing = [c for c in schema.FIELDS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)} (see measure/rows.py)")
    return df


@dataclass(frozen=True)
class Window:
    """The measured interval [start, end) in unix seconds; sustained: slots are kept by it."""

    start: float
    end: float
    sustained: bool  # slots selected by intended time; False: a burst, every row kept

    @property
    def length(self) -> float:
        return self.end - self.start


def window_of(point: dict[str, Any], requests: pd.DataFrame) -> Window | None:
    """The point's window: schedule.window (sustained-like), or a burst's active span.

    None when there is none to be had (a sustained point without schedule.window, a burst
    without answers): then every row is kept and no per-second or resource metric exists.
    """
    if pattern_of(point) != "burst":
        win = (point.get("schedule") or {}).get("window")
        if not win or len(win) != 2 or win[1] is None or win[0] is None or win[1] <= win[0]:
            return None
        return Window(float(win[0]), float(win[1]), True)
    start = requests["intended_ts"].min()
    end = requests["answered_ts"].max()
    if not (np.isfinite(start) and np.isfinite(end)) or end <= start:
        return None
    return Window(float(start), float(end), False)


def in_window(requests: pd.DataFrame, win: Window | None) -> pd.DataFrame:
    """The kept slots: intended time in the window (sustained-like), else every row."""
    if win is None or not win.sustained:
        return requests
    t = requests["intended_ts"]
    return requests[(t >= win.start) & (t < win.end)]


def _stats(rows: list[Row], measure: str, values: np.ndarray) -> None:
    """Mean, min and percentiles over ``values`` (+inf = not answered; a mean meeting one is
    inf). Nothing when there are no values."""
    if not len(values):
        return
    rows.append((f"{measure}_mean", float(values.mean()), "ms", None))
    rows.append((f"{measure}_min", float(values.min()), "ms", None))
    s = np.sort(values)
    for q in PERCENTILES:
        rows.append((percentile_metric(q, measure), percentile(s, q), "ms", q / 100.0))


def _times(kept: pd.DataFrame, mask: pd.Series, column: str) -> np.ndarray:
    t = kept.loc[mask, column].to_numpy(dtype=float)
    return t[~np.isnan(t)]


def request_metrics(
    requests: pd.DataFrame, point: dict[str, Any], win: Window | None
) -> tuple[list[Row], int, int]:
    """Rows of the request metrics; also ok answers in the window and sshd refusals.

    ``requests`` is the whole requests.csv (throughput counts answers arriving in the
    window whatever their slot); the other metrics use the kept slots.
    """
    kept = in_window(requests, win)
    outcome = kept["outcome"]
    ok, failed, missed = outcome == _OK, outcome == _FAILED, outcome == _MISSED
    n_ok, n_failed, n_missed = int(ok.sum()), int(failed.sum()), int(missed.sum())
    sent = n_ok + n_failed
    rows: list[Row] = [
        ("slots", float(len(kept)), "count", None),
        ("sent", float(sent), "count", None),
        ("requests", float(sent), "count", None),
        ("missed", float(n_missed), "count", None),
        ("successes", float(n_ok), "count", None),
        ("failures", float(n_failed), "count", None),
    ]
    classes = kept.loc[failed, "error_class"].fillna("").replace("", "other").value_counts()
    for cls, count in sorted(classes.items()):
        rows.append((f"failures_{cls}", float(count), "count", None))
    if sent:
        rows.append(("failure_rate", n_failed / sent, "fraction", None))
    refusals = sum(
        saturation.sshd_refused(c, e)
        for c, e in zip(
            kept.loc[failed, "error_class"].fillna(""),
            kept.loc[failed, "error"].fillna(""),
            strict=True,
        )
    )
    rows.append(("sshd_refusals", float(refusals), "count", None))
    if sent:
        rows.append(("refused_share", refusals / sent, "fraction", None))
    if win is not None and win.sustained:
        ans = requests.loc[requests["outcome"] == _OK, "answered_ts"]
        ok_in_window = int(((ans >= win.start) & (ans < win.end)).sum())
    else:
        ok_in_window = n_ok  # a burst's span ends with its last answer: every ok row
    if win is not None and win.sustained:
        rows.append(("achieved_rps", sent / win.length, "req/s", None))
        rows.append(("throughput_rps", ok_in_window / win.length, "req/s", None))
    if pattern_of(point) != "burst":
        target = _num((point.get("params") or {}).get("rps"))  # rps: once, in params
        if target is not None:
            rows.append(("target_rps", target, "req/s", None))
    ok_latency, ok_service = _times(kept, ok, "latency_ms"), _times(kept, ok, "service_ms")
    not_answered = np.full(n_failed + n_missed, np.inf)
    _stats(rows, "latency", np.concatenate([ok_latency, not_answered]))
    _stats(rows, "ok_latency", ok_latency)
    _stats(rows, "service", np.concatenate([ok_service, np.full(n_failed, np.inf)]))
    _stats(rows, "ok_service", ok_service)
    if len(kept):
        rows.append(("answered_share", n_ok / len(kept), "fraction", None))
        ok_ms = kept.loc[ok, "latency_ms"].to_numpy(dtype=float)
        for ms in UNDER_MS:
            rows.append(
                (f"frac_ok_under_{ms}ms", float((ok_ms < ms).sum() / len(kept)), "fraction", None)
            )
    return rows, ok_in_window, refusals


def counter_delta(
    samples: Sequence[dict[str, Any]], key: str, win: Window, interval_s: float
) -> float | None:
    """How much a cumulative counter grew over the window, interpolated at its edges.

    Linear between samples; beyond the first or last sample, extrapolated from the two
    outermost ones, but by at most ``interval_s`` (else None: the samples do not cover it).
    """
    pts = [
        (float(s["t"]), float(s[key]))
        for s in samples
        if s.get(key) is not None and s.get("t") is not None
    ]
    if len(pts) < 2:
        return None
    pts.sort()
    t = np.array([p[0] for p in pts])
    v = np.array([p[1] for p in pts])
    slack = max(float(interval_s), 0.0) + 1e-6
    if win.start < t[0] - slack or win.end > t[-1] + slack:
        return None

    def at(x: float) -> float:
        if x < t[0]:
            return float(v[0] + (x - t[0]) * (v[1] - v[0]) / (t[1] - t[0]))
        if x > t[-1]:
            return float(v[-1] + (x - t[-1]) * (v[-1] - v[-2]) / (t[-1] - t[-2]))
        return float(np.interp(x, t, v))

    return at(win.end) - at(win.start)


def resource_metrics(point: dict[str, Any], win: Window | None, ok_answers: int) -> list[Row]:
    """CPU seconds, utilisation, throttling and demand per resource over the window."""
    res = point.get("resources") or {}
    samples = res.get("samples") or []
    if win is None or not samples:
        return []
    interval = _num(res.get("interval_s")) or 0.5
    d = {
        k: counter_delta(samples, k, win, interval)
        for k in (
            *CPU_COUNTERS.values(),
            "machine_total_s",
            "generator_busiest_cpu_s",
            "host_nr_periods",
            "host_nr_throttled",
        )
    }
    rows: list[Row] = []
    for name, counter in CPU_COUNTERS.items():
        cpu = d[counter]
        if cpu is None:
            continue
        rows.append((f"cpu_s_{name}", cpu, "s", None))
        if ok_answers:
            rows.append((f"demand_ms_{name}", cpu * 1000.0 / ok_answers, "ms", None))
    host_cpus = _num(res.get("host_cpus"))
    host_cpus = (
        host_cpus if host_cpus is not None else _num((point.get("params") or {}).get("host_cpus"))
    )
    if d["host_cpu_s"] is not None and host_cpus:
        rows.append(("util_host", d["host_cpu_s"] / (win.length * host_cpus), "fraction", None))
    if d["api_cpu_s"] is not None:
        rows.append(("util_api", d["api_cpu_s"] / win.length, "fraction", None))
    if d["generator_busiest_cpu_s"] is not None:
        rows.append(("util_generator", d["generator_busiest_cpu_s"] / win.length, "fraction", None))
    if d["machine_busy_s"] is not None and d["machine_total_s"]:
        rows.append(("util_machine", d["machine_busy_s"] / d["machine_total_s"], "fraction", None))
    if d["host_nr_throttled"] is not None and d["host_nr_periods"]:
        rows.append(
            (
                "host_throttled_fraction",
                d["host_nr_throttled"] / d["host_nr_periods"],
                "fraction",
                None,
            )
        )
    rows += memory_metrics(
        {**res, "_provenance": point.get("provenance") or {}}, samples, win, interval
    )
    return rows


MIB = 2.0**20


def memory_metrics(
    res: dict[str, Any], samples: Sequence[dict[str, Any]], win: Window, interval_s: float
) -> list[Row]:
    """The host's peak memory in use over the window (samples within one interval of it) and
    its limit, in MiB; absent when not recorded."""
    slack = max(float(interval_s), 0.0) + 1e-6
    used = [
        float(s["host_mem_bytes"])
        for s in samples
        if s.get("host_mem_bytes") is not None
        and s.get("t") is not None
        and win.start - slack <= float(s["t"]) <= win.end + slack
    ]
    rows: list[Row] = []
    if used:
        rows.append(("host_mem_peak_mib", max(used) / MIB, "MiB", None))
    limit = _num(res.get("host_mem_limit_bytes"))
    if limit is None:  # the testbed's own record of the limit it applied to this host
        host = res.get("host")
        hosts = ((res.get("_provenance") or {}).get("testbed") or {}).get("hosts") or {}
        facts = (hosts.get(host) or {}).get("host_facts") or {} if host else {}
        limit = _num(facts.get("memory_bytes_applied"))
    if limit is not None and limit > 0:
        rows.append(("host_mem_limit_mib", limit / MIB, "MiB", None))
    return rows


def integrity(point: dict[str, Any], requests: pd.DataFrame) -> str:
    """point.json's integrity, plus what requests.csv's rows contradict in point.json counts."""
    problems: list[str] = []
    own = point.get("integrity")
    if isinstance(own, str) and own and own != "ok":
        problems.append(own.removeprefix("broken:").strip() or own)
    outcome = requests["outcome"]
    unknown = int((~outcome.isin(schema.OUTCOMES)).sum())
    if unknown:
        problems.append(f"{unknown} row(s) with an outcome not in {'/'.join(schema.OUTCOMES)}")
    sent_rows = outcome.isin((_OK, _FAILED))
    unanswered = int((sent_rows & requests["answered_ts"].isna()).sum())
    if unanswered:
        problems.append(f"{unanswered} sent row(s) without an answer time")
    counts = point.get("counts")
    if isinstance(counts, dict) and counts:
        have = {
            _OK: int((outcome == _OK).sum()),
            _FAILED: int((outcome == _FAILED).sum()),
            _MISSED: int((outcome == _MISSED).sum()),
        }
        have["sent"] = have[_OK] + have[_FAILED]
        have["slots"] = len(requests)
        for key in ("slots", "sent", _MISSED, _OK, _FAILED):
            if key in counts and int(counts[key]) != have[key]:
                problems.append(
                    f"point.json counts {counts[key]} {key}, requests.csv has {have[key]}"
                )
        problems += [f"counts: {p}" for p in schema.count_problems(counts)]
    return "broken: " + "; ".join(problems) if problems else "ok"


@dataclass
class PointResult:
    """Everything computed for one point: metric rows and the per-point columns."""

    rows: list[Row]
    integrity: str
    limited_by: list[str]
    limit_order: str = ""

    @property
    def values(self) -> dict[str, float]:
        return {m: v for m, v, _, _ in self.rows}

    @property
    def columns(self) -> dict[str, str]:
        return {
            "integrity": self.integrity,
            "limited_by": json.dumps(self.limited_by),
            "saturation": saturation.describe(self.limited_by),
            "limit_kind": saturation.kind(self.limited_by),
            "limit_order": self.limit_order,
        }


def point_metrics(point: dict[str, Any], requests: pd.DataFrame) -> PointResult:
    """Every metric of one point, computed once (the tidy rows and summarise_point read it)."""
    win = window_of(point, requests)
    rows, ok_answers, refusals = request_metrics(requests, point, win)
    rows += resource_metrics(point, win, ok_answers)
    if pattern_of(point) == "transfer":
        rows += transfer_metrics(requests, win, {m: v for m, v, _, _ in rows})
    rows.append(("point_ok", 1.0 if point.get("status") == "ok" else 0.0, "bool", None))
    values = {m: v for m, v, _, _ in rows}
    line = point_timeline(point, requests, win)
    if line is not None:
        line.unbroken = saturation.window_environment(values, point)
    limits = saturation.limited_by({**values, "sshd_refusals": refusals}, point, line)
    order = line.text() if line is not None else "no window: the environment is unknown"
    return PointResult(rows, integrity(point, requests), limits, order)


MB = 1e6


def transfer_metrics(
    requests: pd.DataFrame, win: Window | None, values: dict[str, float]
) -> list[Row]:
    """Throughput in MB/s and CPU per MB of a transfer point (see the module's definitions)."""
    if win is None or not win.sustained:
        return []
    ok = requests[requests["outcome"] == _OK]
    nbytes = ok["response_length"].to_numpy(dtype=float)
    ans = ok["answered_ts"].to_numpy(dtype=float)
    moved = float(nbytes[(ans >= win.start) & (ans < win.end)].sum())
    rows: list[Row] = [
        ("transfer_bytes", moved, "bytes", None),
        ("transfer_mb_per_s", moved / MB / win.length, "MB/s", None),
    ]
    kept = in_window(ok, win)
    service_s = kept["service_ms"].to_numpy(dtype=float) / 1000.0
    good = service_s > 0
    if good.any():
        rate = kept["response_length"].to_numpy(dtype=float)[good] / MB / service_s[good]
        rows.append(("stream_mb_per_s_mean", float(rate.mean()), "MB/s", None))
    if moved > 0:
        for name in ("host", "api", "generator"):
            cpu = values.get(f"cpu_s_{name}")
            if cpu is not None:
                rows.append((f"demand_ms_per_mb_{name}", cpu * 1000.0 / (moved / MB), "ms", None))
    return rows


def point_timeline(
    point: dict[str, Any], requests: pd.DataFrame, win: Window | None
) -> saturation.Timeline | None:
    """measure.saturation.timeline over the window (a point without one, e.g. auth logins:
    over its rows' span), against the capacity bound's latency; None without rows."""
    if win is None:
        start, end = requests["intended_ts"].min(), requests["answered_ts"].max()
        if not (np.isfinite(start) and np.isfinite(end)) or end <= start:
            return None
        win = Window(float(start), float(end), False)
    kept = in_window(requests, win)
    bound = bound_of(point.get("settings"))["p99_ms"]
    return saturation.timeline(point, requests, kept, win.start, win.end, bound)


def load_point(point_dir: Path) -> tuple[dict[str, Any], PointResult]:
    """point.json and its computed metrics, from a point directory."""
    point = PointRecord.read(point_dir).to_dict()
    requests = read_requests(PointFiles(Path(point_dir)).requests)
    if requests.empty and point.get("status") == "ok" and (point.get("counts") or {}).get("slots"):
        log.warning("%s: status ok but requests.csv has no rows", Path(point_dir).name)
    return point, point_metrics(point, requests)


SUMMARY_METRICS = (
    "transfer_mb_per_s",
    "target_rps",
    "achieved_rps",
    "latency_p50",
    "latency_p99",
    "service_p50",
    "service_p99",
    "slots",
    "sent",
    "missed",
    "failures",
)


def summarise_point(point_dir: Path) -> dict[str, Any]:
    """The runner's console line for one point, from the same computation as the tidy rows.

    Keys: pattern, target_rps, achieved_rps, latency_p50, latency_p99, service_p50,
    service_p99 (floats; inf when a percentile lands on a failed or missed slot), slots, sent,
    missed, failures (ints); None when the metric does not exist (a burst's rates);
    limited_by (list), saturation, integrity.
    """
    point, result = load_point(point_dir)
    values = result.values
    out: dict[str, Any] = {"pattern": pattern_of(point)}
    out.update({m: values.get(m) for m in SUMMARY_METRICS})
    for m in ("slots", "sent", "missed", "failures"):
        out[m] = None if out[m] is None else int(out[m])
    out["limited_by"] = result.limited_by
    out["saturation"] = result.columns["saturation"]
    out["integrity"] = result.integrity
    return out


def _num(val: Any) -> float | None:
    if val is None or isinstance(val, bool):
        return None
    try:
        out = float(val)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(out) else out
