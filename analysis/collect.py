"""Every point directory of a sweep -> one tidy table (one row per point and metric).

Input contract: docs/ARCHITECTURE.md sections 3 and 4 (``point.json`` + ``requests.csv``).

Definitions, so every number downstream has one meaning:

- Window: a sustained point's measured requests started in [t0 + warmup_s,
  t0 + warmup_s + duration_s) (``duration_s`` is the measured time after the warm-up, as
  in the config schema); t0 is the schedule's start (``loadgen.t0`` if recorded, else
  ``schedule_start``). Requests outside are dropped. The same window as sshbench.loadgen's
  console summary. A burst point keeps every request.
- Achieved rate: requests in the window / duration_s (the planned window, so a generator
  that fell behind shows a lower rate); throughput: successful answers that arrived in the
  window / duration_s. Bursts have neither.
- Response-time statistics use every kept request, failed ones too, as Locust does.
  ``frac_ok_under_<X>ms`` is the exception: the share of all kept requests that succeeded
  in under X ms (so a fast failure does not count as a fast answer).
- Percentiles: nearest rank on the exact response times, numpy's ``inverted_cdf`` method
  (Hyndman and Fan's type 1): the smallest time t with at least q % of requests <= t. So
  "p99 < 2 s" is the same statement as "at least 99 % of requests took < 2 s". Locust's
  own CSV uses rank ``floor(n q) + 1`` on times rounded to ~2 significant digits
  (``locust_percentile`` reproduces it); a test checks the two agree within one rank.
- Failure classes: see ``classify_error``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

# The study's Locust percentile set (Locust's PERCENTILES_TO_REPORT minus 99.99 %).
PERCENTILES: tuple[float, ...] = (50, 66, 75, 80, 90, 95, 98, 99, 99.9, 100)

# "fraction of requests under X ms" metrics; the study's claims speak of 1 s and 2 s.
UNDER_MS: tuple[int, ...] = (500, 1000, 2000)

REQUEST_COLUMNS = ("t_start", "name", "response_time_ms", "response_length", "success", "error")

# API error codes (docs/ARCHITECTURE.md section 1) recognised inside a request's error text.
API_ERROR_CODES = (
    "ssh_auth_failed",
    "ssh_connection_refused",
    "ssh_host_key_mismatch",
    "ssh_timeout",
    "ssh_error",
)

# Columns that lead the tidy table; every other column is a parameter or provenance field.
LEAD_COLUMNS = ["sweep", "point_id", "status", "metric", "value", "unit", "quantile"]


def percentile_metric(q: float) -> str:
    """Metric name of a response-time percentile: 50 -> response_time_p50, 99.9 -> ..._p99.9."""
    return f"response_time_p{q:g}"


def percentile(sorted_ms: np.ndarray, q: float) -> float:
    """Nearest-rank percentile (numpy ``inverted_cdf``) of a sorted sample; q in 0..100."""
    if len(sorted_ms) == 0:
        return math.nan
    return float(np.percentile(sorted_ms, q, method="inverted_cdf"))


def locust_bucket(ms: float) -> int:
    """Locust's rounding of a response time before it counts it (~2 significant digits)."""
    if ms < 100:
        return round(ms)
    if ms < 1000:
        return int(round(ms, -1))
    if ms < 10000:
        return int(round(ms, -2))
    return int(round(ms, -3))


def locust_percentile(times_ms: Sequence[float], q: float) -> float:
    """The percentile Locust's stats CSV reports: rank floor(n*q/100)+1 of bucketed times.

    Same as ``locust.stats.calculate_response_time_percentile``; used to cross-check.
    """
    b = sorted(locust_bucket(t) for t in times_ms)
    if not b:
        return 0.0
    return float(b[min(int(len(b) * (q / 100.0)), len(b) - 1)])


def classify_error(error: object) -> str:
    """A failed request's class, from its error text (the locustfile's failure message).

    In order: an API error code (``ssh_timeout``, ``ssh_error``, ...); a command that ran
    but exited non-zero (``nonzero_exit``, "exit_status N"); an answer that is not JSON
    (``bad_response``); an HTTP status (``http_502``);
    a client-side timeout (``client_timeout``); a connection problem talking to the API
    (``api_connection``); anything else is ``other``.
    """
    text = "" if error is None or (isinstance(error, float) and math.isnan(error)) else str(error)
    low = text.lower()
    for code in API_ERROR_CODES:
        if code in low:
            return code
    if low.startswith("exit_status"):
        return "nonzero_exit"
    if "not json" in low:
        return "bad_response"
    m = re.search(r"\b([45]\d\d)\b", text)
    if m and ("http" in low or "status" in low or low.strip() == m.group(1)):
        return f"http_{m.group(1)}"
    if "timeout" in low or "timed out" in low:
        return "client_timeout"
    if "connection" in low or "remotedisconnected" in low or "refused" in low:
        return "api_connection"
    return "other"


def read_requests(path: Path) -> pd.DataFrame:
    """requests.csv with the contract's columns and types; a clear error if one is missing."""
    df = pd.read_csv(path, dtype={"name": "string", "error": "string"})
    missing = [c for c in REQUEST_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)} (see ARCHITECTURE.md 3)")
    df["t_start"] = pd.to_numeric(df["t_start"], errors="raise").astype(float)
    df["response_time_ms"] = pd.to_numeric(df["response_time_ms"], errors="coerce").astype(float)
    df["success"] = pd.to_numeric(df["success"], errors="raise").astype(int)
    return df


def schedule_start(t_start: np.ndarray, rps: float | None) -> float:
    """When the point's schedule began (its slot 0 was due), from the requests alone.

    Slot k is due at t0 + k / rps and goes out a little late, so t_start(k) - k / rps is t0
    plus that slot's lateness; the smallest such value is t0 to within the smallest
    lateness (about a millisecond). Without a rate: the first request's start.
    """
    t = np.sort(np.asarray(t_start, dtype=float))
    if not rps or len(t) == 0:
        return float(t[0]) if len(t) else math.nan
    return float(np.min(t - np.arange(len(t)) / float(rps)))


def window(
    requests: pd.DataFrame,
    warmup_s: float,
    duration_s: float | None,
    rps: float | None = None,
    t0: float | None = None,
) -> pd.DataFrame:
    """The measured requests: started in [start, start + duration_s), start = t0 + warmup_s.

    t0 is the schedule's start: ``loadgen.t0`` when the point recorded it, else estimated
    by ``schedule_start``. No duration (a burst): every request.
    """
    if requests.empty or not duration_s:
        return requests
    if t0 is None:
        t0 = schedule_start(requests["t_start"].to_numpy(), rps)
    start = t0 + float(warmup_s or 0)
    keep = (requests["t_start"] >= start) & (requests["t_start"] < start + float(duration_s))
    return requests[keep]


def request_metrics(
    requests: pd.DataFrame,
    warmup_s: float,
    duration_s: float | None,
    rps: float | None = None,
    t0: float | None = None,
) -> list[tuple[str, float, str, float | None]]:
    """(metric, value, unit, quantile) rows of one point's measured requests.

    Sustained points (with a duration) get the achieved rate over the planned window
    (``duration_s``), so a generator that fell behind shows a lower rate; bursts have none.
    """
    kept = window(requests, warmup_s, duration_s, rps, t0)
    n = len(kept)
    failed = kept[kept["success"] == 0]
    rows: list[tuple[str, float, str, float | None]] = [
        ("requests", float(n), "count", None),
        ("successes", float(n - len(failed)), "count", None),
        ("failures", float(len(failed)), "count", None),
        ("outside_window", float(len(requests) - n), "count", None),
    ]
    classes = failed["error"].map(classify_error).value_counts()
    for cls, count in sorted(classes.items()):
        rows.append((f"failures_{cls}", float(count), "count", None))
    if n:
        rows.append(("failure_rate", len(failed) / n, "fraction", None))
    if duration_s:
        rows.append(("window_s", float(duration_s), "s", None))
        rows.append(("achieved_rps", n / float(duration_s), "req/s", None))
        if len(requests):
            # Successful answers that *arrived* in the window, per second (the API's output).
            start = (t0 if t0 is not None else schedule_start(requests["t_start"], rps)) + float(
                warmup_s or 0
            )
            ok = requests[requests["success"] == 1]
            ends = ok["t_start"] + ok["response_time_ms"] / 1000.0
            done = int(((ends >= start) & (ends < start + float(duration_s))).sum())
            rows.append(("throughput_rps", done / float(duration_s), "req/s", None))
    times = np.sort(kept["response_time_ms"].dropna().to_numpy(dtype=float))
    if len(times):
        rows.append(("response_time_mean", float(times.mean()), "ms", None))
        rows.append(("response_time_min", float(times[0]), "ms", None))
        for q in PERCENTILES:
            rows.append((percentile_metric(q), percentile(times, q), "ms", q / 100.0))
        ok_ms = kept.loc[kept["success"] == 1, "response_time_ms"].to_numpy(dtype=float)
        for ms in UNDER_MS:
            # Every request (Locust's convention: a fast failure counts as fast) ...
            rows.append((f"frac_under_{ms}ms", float((times < ms).mean()), "fraction", None))
            # ... and only those answered successfully within the time, over all requests.
            rows.append((f"frac_ok_under_{ms}ms", float((ok_ms < ms).sum() / n), "fraction", None))
    return rows


# Provenance text longer than this (a whole sshd_config, `sshd -T` output) is replaced in
# the tidy table by its hash and length; point.json keeps the text.
LONG_TEXT = 300


def _cell(val: Any) -> Any:
    if isinstance(val, str) and len(val) > LONG_TEXT:
        digest = hashlib.sha256(val.encode()).hexdigest()[:16]
        return f"sha256:{digest} ({len(val)} chars, text in point.json)"
    return val


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> {"a.b.c": scalar}; lists become JSON text so every cell is a scalar."""
    out: dict[str, Any] = {}
    if isinstance(obj, dict):
        for key, val in obj.items():
            out.update(flatten(val, f"{prefix}{key}."))
        if not obj and prefix:
            out[prefix[:-1]] = None
    elif isinstance(obj, list | tuple):
        out[prefix[:-1]] = _cell(json.dumps(obj, sort_keys=True, default=str))
    else:
        out[prefix[:-1]] = _cell(obj)
    return out


def point_columns(point: dict[str, Any]) -> dict[str, Any]:
    """One point.json as flat columns: parameters unprefixed, the rest by their json path.

    The runner's own counts (which include the warm-up) keep a ``point.`` prefix so they
    do not clash with the metrics computed here.
    """
    cols: dict[str, Any] = {
        "sweep": point.get("sweep"),
        "point_id": point.get("id"),
        "status": point.get("status"),
    }
    params = point.get("params") or {}
    for key, val in params.items():
        cols[key] = json.dumps(val) if isinstance(val, list | dict) else val
    # Which columns are the design's parameters (the rest is provenance and outcome).
    cols["param_names"] = json.dumps(sorted(params))
    for key, val in point.items():
        if key in ("id", "sweep", "status", "params"):
            continue
        if key in ("achieved_rps", "requests", "failures"):
            cols[f"point.{key}"] = val
        elif isinstance(val, dict):
            cols.update(flatten(val, f"{key}."))
        else:
            cols[key] = val
    return cols


def collect_point(point_dir: Path) -> list[dict[str, Any]]:
    """Tidy rows of one point directory (a failed point gives at least its status rows)."""
    pj = point_dir / "point.json"
    try:
        point = json.loads(pj.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{pj}: not valid JSON ({exc})") from exc
    if "params" not in point or "id" not in point:
        raise ValueError(f"{pj}: needs 'id' and 'params' (see ARCHITECTURE.md 3)")
    params = point["params"]
    cols = point_columns(point)
    req_path = point_dir / "requests.csv"
    if req_path.exists() and req_path.stat().st_size > 0:
        requests = read_requests(req_path)
    else:
        requests = pd.DataFrame({c: pd.Series(dtype=float) for c in REQUEST_COLUMNS})
        if point.get("status") == "ok":
            log.warning("%s: status ok but no requests.csv", point_dir.name)
    sustained = params.get("pattern", "sustained") != "burst"
    metrics = request_metrics(
        requests,
        float(params.get("warmup_s") or 0),
        _num(params.get("duration_s")) if sustained else None,
        _num(params.get("rps")) if sustained else None,
        _num((point.get("loadgen") or {}).get("t0")),
    )
    target = _num(point.get("target_rps", params.get("rps")))
    if target is not None:
        metrics.append(("target_rps", target, "req/s", None))
    metrics.append(("point_ok", 1.0 if point.get("status") == "ok" else 0.0, "bool", None))
    return [{**cols, "metric": m, "value": v, "unit": u, "quantile": q} for m, v, u, q in metrics]


def point_dirs(sweep_dir: Path) -> list[Path]:
    """Every finished point directory (one holding a point.json), sorted by name."""
    return sorted(p.parent for p in (Path(sweep_dir) / "points").glob("*/point.json"))


def collect(sweep_dir: Path | str, dirs: Iterable[Path] | None = None) -> pd.DataFrame:
    """The tidy table of a sweep: one row per point and metric, all parameters as columns."""
    sweep_dir = Path(sweep_dir)
    dirs = list(dirs) if dirs is not None else point_dirs(sweep_dir)
    rows: list[dict[str, Any]] = []
    for d in dirs:
        rows.extend(collect_point(d))
    log.info("collected %d point(s) from %s", len(dirs), sweep_dir)
    if not rows:
        return pd.DataFrame(columns=LEAD_COLUMNS)
    df = pd.DataFrame(rows)
    rest = [c for c in df.columns if c not in LEAD_COLUMNS]
    return df[LEAD_COLUMNS + rest]


def _num(val: Any) -> float | None:
    if val is None or isinstance(val, bool):
        return None
    try:
        out = float(val)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(out) else out


def _parquet_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Object columns holding mixed types become text, so Parquet can store them."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object:
            types = {type(v) for v in out[col] if v is not None and not _isnan(v)}
            if len(types) > 1 or (types and not types <= {str}):
                out[col] = out[col].map(lambda v: None if v is None or _isnan(v) else str(v))
    return out


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def write_tidy(df: pd.DataFrame, csv_path: Path, parquet_path: Path | None = None) -> None:
    """Write the tidy table as CSV (and Parquet when a path is given)."""
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(csv_path, index=False)
    if parquet_path is not None:
        _parquet_safe(df).to_parquet(parquet_path, index=False)


def read_tidy(csv_path: Path) -> pd.DataFrame:
    """The tidy table back from CSV (what figures, tables and claims read)."""
    if not Path(csv_path).exists():
        raise FileNotFoundError(f"{csv_path}: no tidy table; run the collect step first")
    return pd.read_csv(csv_path, low_memory=False)
