"""Which resource limited a point, and whether the environment ran out FIRST.

One list per point, ``limited_by`` (JSON in the tidy table), one wording (``describe``)
and one kind (``kind``) that everything downstream prints or filters on.

The system under test's resources are judged over the window (thresholds: ``THRESHOLDS``,
overridable per sweep by point.json ``settings.saturation``):

- ``host_cpu:<host>``: the host used >= ``host_util`` of its CPU quota in the window, or
  >= ``host_throttled_fraction`` of its CFS periods were throttled.
- ``api_cpu``: the API's processes used >= ``api_util`` of one core.
- ``sshd_refusals``: a request failed because sshd refused or dropped the connection
  (``sshd_refused``: ``ssh_connection_refused``, or ``ssh_error`` during the handshake).

The environment's resources are judged by ORDER IN TIME (``timeline``), never by
whole-window averages: did one run out before the requests already in flight broke the
bound? The bound is the capacity bound's latency (sweep ``capacity.p99_ms``, default the
study's 2000 ms). A kept slot breaks it at intended + bound when it was answered ok later
than that or missed, and at min(answer, intended + bound) when it failed. The environment:

- ``machine_cpu``: a 0.5 s interval of point.json ``resources.samples`` in which the whole
  machine was busy >= ``machine_util`` of its cores;
- ``generator_cpu``: an interval in which the busiest load-generator process used
  >= ``generator_util`` of one core;
- ``generator_users``: (not for bursts, whose users are the burst, nor transfers, whose
  users are the streams, each always busy by design: only their send lag) the first moment every
  user had a request in flight (from requests.csv's send and answer times), the first missed
  slot, or the first send lag (sent_ts - intended_ts) above ``send_lag_s``.

An interval counts from its start (a tie goes to the environment: it is the error that would
wrongly blame the system under test). An environment resource that ran out at or before the
first break is listed; one that ran out later is not (the system under test was already the
limit). When nothing broke the bound, the environment counts when it ran out over the
window as a whole (``window_environment``: window averages at the thresholds, a missed slot,
every user in flight), so a moment's peak does not take a point that met the bound away.
A resource whose counter is missing over the span that matters is listed as
``unknown:<resource>``: a missing counter is "unknown", never "nothing ran out". Auth
points (no load generator) are judged on the machine alone.

``describe``: "" | "saturated: <system items>" | "load generator limited: <generator_*>" |
"environment unknown: <resources>", joined by "; ". ``kind``: ``none`` (nothing),
``environment`` (machine_cpu or any generator_* listed: the environment ran out first, "not
testable here"), ``unknown`` (no environment item, but a needed counter missing),
``saturated`` (only the system under test ran out: a finding). ``generator`` is a value of
the contract's vocabulary left unused: every generator_* point is ``environment``.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from measure.point import pattern_of

# Threshold name -> default; point.json settings.saturation may override any of them.
THRESHOLDS: dict[str, float] = {
    "host_util": 0.9,
    "host_throttled_fraction": 0.2,
    "machine_util": 0.95,
    "api_util": 0.9,
    "generator_util": 0.9,
    "send_lag_s": 0.2,
}

KINDS = ("none", "saturated", "generator", "environment", "unknown")

ENVIRONMENT = ("machine_cpu", "generator_cpu", "generator_users")

# What the API says when sshd drops a connection before or during the key exchange
# (MaxStartups sends "Exceeded MaxStartups" or closes; the client sees no banner):
# ssh2-python "SSH handshake/authentication with u@h:p failed: SocketRecvError ...",
# Paramiko "... failed: SSHException Error reading SSH protocol banner", the ssh client
# "kex_exchange_identification: read: Connection reset by peer" / "Connection closed by
# remote host" (sshapi/backends/*.py). Authentication failures have their own code.
_DROPPED = re.compile(
    r"handshake|banner|kex_exchange_identification|exceeded maxstartups|"
    r"connection reset|connection closed by|socketrecv|socketdisconnect",
    re.IGNORECASE,
)


def sshd_refused(error_class: object, error: object) -> bool:
    """True when a failed request's class and text say sshd refused or dropped it."""
    cls = "" if not isinstance(error_class, str) else error_class
    if cls == "ssh_connection_refused":
        return True
    return cls == "ssh_error" and isinstance(error, str) and bool(_DROPPED.search(error))


def thresholds(point: Mapping[str, Any]) -> dict[str, float]:
    """THRESHOLDS with point.json ``settings.saturation`` applied; unknown names are errors."""
    given = ((point.get("settings") or {}).get("saturation")) or {}
    unknown = sorted(set(given) - set(THRESHOLDS))
    if unknown:
        raise ValueError(
            f"settings.saturation: unknown threshold(s) {', '.join(unknown)} "
            f"(known: {', '.join(THRESHOLDS)})"
        )
    return {**THRESHOLDS, **{k: float(v) for k, v in given.items()}}


def _at_least(metrics: Mapping[str, Any], name: str, limit: float) -> bool:
    val = metrics.get(name)
    return val is not None and val == val and float(val) >= limit  # val == val: not NaN


def system_limits(metrics: Mapping[str, Any], point: Mapping[str, Any]) -> list[str]:
    """The system under test's resources that ran out over the window (module docstring)."""
    th = thresholds(point)
    params = point.get("params") or {}
    resources = point.get("resources") or {}
    out: list[str] = []
    if _at_least(metrics, "util_host", th["host_util"]) or _at_least(
        metrics, "host_throttled_fraction", th["host_throttled_fraction"]
    ):
        out.append(f"host_cpu:{resources.get('host') or params.get('host') or 'host'}")
    if _at_least(metrics, "util_api", th["api_util"]):
        out.append("api_cpu")
    return out


@dataclass
class Timeline:
    """When the bound broke and when each environment resource ran out (unix seconds)."""

    start: float  # the window's start, for relative times
    bound_ms: float
    broke_at: float | None  # first moment a kept slot passed the bound (None: never)
    ran_out: dict[str, float | None]  # environment resource -> first time it ran out
    unknown: list[str]  # environment resources whose counter is missing
    # when nothing broke the bound: the environment resources that ran out over the window
    # as a whole (window_environment; a moment's peak does not make an unbroken point's)
    unbroken: list[str] = field(default_factory=list)

    @property
    def first(self) -> list[str]:
        """Environment resources that ran out at or before the break (unbroken: over the
        window as a whole)."""
        if self.broke_at is None:
            return [r for r in ENVIRONMENT if r in self.unbroken]
        return [
            r for r in ENVIRONMENT if (t := self.ran_out.get(r)) is not None and t <= self.broke_at
        ]

    def text(self) -> str:
        """One sentence: what broke when, what ran out when, and who was first."""

        def rel(t: float) -> str:
            return f"+{t - self.start:.1f} s"

        parts = []
        if self.broke_at is None:
            parts.append(f"latency stayed within {self.bound_ms:g} ms")
        else:
            parts.append(f"latency passed {self.bound_ms:g} ms at {rel(self.broke_at)}")
        for r in ENVIRONMENT:
            t = self.ran_out.get(r)
            if r in self.unknown:
                parts.append(f"{r} unknown (no counter)")
            elif self.broke_at is None and r in self.unbroken:
                parts.append(f"{r} ran out over the window")
            elif t is not None:
                parts.append(f"{r} ran out at {rel(t)}")
        first = self.first
        if first:
            who = "the environment first (" + ", ".join(first) + ")"
        elif self.unknown:
            who = "unknown which first"
        elif self.broke_at is not None:
            who = "the system under test first (every environment resource had room)"
        else:
            who = "nothing ran out"
        return "; ".join(parts) + ": " + who


def _intervals(
    samples: Sequence[Mapping[str, Any]], num: str, den: str | None
) -> list[tuple[float, float, float]] | None:
    """(start, end, rate) per sampling interval of counter `num` (over `den`'s growth, or
    over the seconds); None when the counter is absent."""
    pts = []
    for s in samples:
        t, v = s.get("t"), s.get(num)
        d = s.get(den) if den else t
        if t is None or v is None or d is None:
            continue
        pts.append((float(t), float(v), float(d)))
    if len(pts) < 2:
        return None
    pts.sort()
    out = []
    for (t0, v0, d0), (t1, v1, d1) in itertools.pairwise(pts):
        if d1 > d0 and t1 > t0:
            out.append((t0, t1, (v1 - v0) / (d1 - d0)))
    return out or None


def _first_interval(
    iv: list[tuple[float, float, float]], limit: float, lo: float, hi: float
) -> float | None:
    for t0, t1, rate in iv:
        if t1 > lo and t0 <= hi and rate >= limit:
            return max(t0, lo)
    return None


def _covers(
    iv: list[tuple[float, float, float]] | None, lo: float, hi: float, slack: float
) -> bool:
    return iv is not None and iv[0][0] <= lo + slack and iv[-1][1] >= hi - slack


def timeline(
    point: Mapping[str, Any],
    requests: pd.DataFrame,
    kept: pd.DataFrame,
    start: float,
    end: float,
    bound_ms: float,
) -> Timeline:
    """Order in time of the bound's break and the environment running out (module docstring).

    ``requests``: every row of requests.csv (users in flight count every request);
    ``kept``: the kept slots (the window's); [start, end): the window.
    """
    th = thresholds(point)
    bound_s = bound_ms / 1000.0
    res = point.get("resources") or {}
    samples = res.get("samples") or []
    interval = float(res.get("interval_s") or 0.5)
    pattern = pattern_of(point)

    intended = kept["intended_ts"].to_numpy(dtype=float)
    outcome = kept["outcome"].astype(str).to_numpy()
    latency = kept["latency_ms"].to_numpy(dtype=float)
    answered = kept["answered_ts"].to_numpy(dtype=float)
    deadline = intended + bound_s
    breaks = np.where(
        outcome == "failed",
        np.fmin(answered, deadline),
        np.where((outcome == "missed") | (latency >= bound_ms), deadline, np.inf),
    )
    first_break = float(breaks.min()) if len(breaks) else math.inf
    broke_at = None if not math.isfinite(first_break) else first_break
    horizon = end if broke_at is None else min(end, broke_at)

    ran_out: dict[str, float | None] = {}
    unknown: list[str] = []
    machine = _intervals(samples, "machine_busy_s", "machine_total_s")
    if _covers(machine, start, horizon, interval):
        ran_out["machine_cpu"] = _first_interval(machine, th["machine_util"], start, end)
    else:
        unknown.append("machine_cpu")
    if pattern != "auth":
        gen = _intervals(samples, "generator_busiest_cpu_s", None)
        if _covers(gen, start, horizon, interval):
            ran_out["generator_cpu"] = _first_interval(gen, th["generator_util"], start, end)
        else:
            unknown.append("generator_cpu")
        ran_out["generator_users"] = _users_ran_out(point, requests, kept, pattern, th)
        if (
            ran_out["generator_users"] is None
            and _users(point) is None
            and pattern not in ("burst", "transfer")
        ):
            unknown.append("generator_users")
    return Timeline(start, bound_ms, broke_at, ran_out, unknown)


def _users(point: Mapping[str, Any]) -> int | None:
    users = (point.get("loadgen") or {}).get("users") or (point.get("schedule") or {}).get("users")
    return int(users) if users else None


def _users_ran_out(
    point: Mapping[str, Any],
    requests: pd.DataFrame,
    kept: pd.DataFrame,
    pattern: Any,
    th: Mapping[str, float],
) -> float | None:
    """First missed slot, first send lag above send_lag_s, or first moment every user had a
    request in flight (not for bursts: all their users are in flight by design)."""
    times = []
    missed = kept.loc[kept["outcome"] == "missed", "intended_ts"]
    if len(missed):
        times.append(float(missed.min()))
    lag = kept["sent_ts"] - kept["intended_ts"]
    late = kept.loc[lag > th["send_lag_s"], "intended_ts"]
    if len(late):
        times.append(float(late.min()))
    users = _users(point)
    if pattern not in ("burst", "transfer") and users:
        sent = requests.dropna(subset=["sent_ts"])
        ev = np.concatenate(
            [sent["sent_ts"].to_numpy(float), sent["answered_ts"].dropna().to_numpy(float)]
        )
        step = np.concatenate(
            [np.ones(len(sent)), -np.ones(int(sent["answered_ts"].notna().sum()))]
        )
        order = np.lexsort((step, ev))  # at equal times, answers (-1) before sends
        in_flight = np.cumsum(step[order])
        full = np.nonzero(in_flight >= users)[0]
        if len(full):
            times.append(float(ev[order][full[0]]))
    return min(times) if times else None


def window_environment(metrics: Mapping[str, Any], point: Mapping[str, Any]) -> list[str]:
    """Environment resources that ran out over the window as a whole (for a point whose
    latency never broke the bound): the machine's or the busiest generator process's CPU at
    its threshold on average, or a slot never sent / every user in flight at once."""
    th = thresholds(point)
    out = []
    if _at_least(metrics, "util_machine", th["machine_util"]):
        out.append("machine_cpu")
    if _at_least(metrics, "util_generator", th["generator_util"]):
        out.append("generator_cpu")
    pattern = pattern_of(point)
    if pattern not in ("burst", "auth", "transfer"):
        loadgen = point.get("loadgen") or {}
        users, in_flight = loadgen.get("users"), loadgen.get("max_in_flight")
        if (users is not None and in_flight is not None and in_flight >= users) or _at_least(
            metrics, "missed", 1
        ):
            out.append("generator_users")
    return out


def limited_by(
    metrics: Mapping[str, Any], point: Mapping[str, Any], line: Timeline | None = None
) -> list[str]:
    """The resources that limited a point (rules: module docstring).

    ``metrics``: the point's metric values by name (``util_host``, ...) plus
    ``sshd_refusals``, the count of failures ``sshd_refused`` accepts. ``line``: the point's
    ``timeline``; without one (no window) the environment is ``unknown``.
    """
    out = system_limits(metrics, point)
    if line is None:
        out += [f"unknown:{r}" for r in ENVIRONMENT]
    else:
        out += line.first
        if not line.first:
            out += [f"unknown:{r}" for r in line.unknown]
    if _at_least(metrics, "sshd_refusals", 1):
        out.append("sshd_refusals")
    return out


def items(limits: Any) -> list[str]:
    """A limited_by value as a list: a list, or its JSON text as stored in the tidy table
    (None, NaN or "" -> []; text that is not a JSON list -> itself, one item). The one parser
    of limited_by."""
    if isinstance(limits, list | tuple):
        return [str(v) for v in limits]
    if limits is None or (isinstance(limits, float) and limits != limits) or limits == "":
        return []
    try:
        got = json.loads(limits)
    except (TypeError, ValueError):
        return [str(limits)]
    return [str(v) for v in got] if isinstance(got, list) else [str(got)]


def describe(limits: Sequence[str] | str | None) -> str:
    """The one wording of a point's limits (see the module docstring)."""
    got = items(limits)
    unknown = [x.removeprefix("unknown:") for x in got if x.startswith("unknown:")]
    got = [x for x in got if not x.startswith("unknown:")]
    system = [x for x in got if not x.startswith("generator_")]
    generator = [x for x in got if x.startswith("generator_")]
    parts = []
    if system:
        parts.append("saturated: " + ", ".join(system))
    if generator:
        parts.append("load generator limited: " + ", ".join(generator))
    if unknown:
        parts.append("environment unknown: " + ", ".join(unknown))
    return "; ".join(parts)


def kind(limits: Sequence[str] | str | None) -> str:
    """``none`` | ``saturated`` | ``environment`` (machine_cpu or generator_*: ran out first,
    not testable) | ``unknown`` (a needed environment counter missing)."""
    got = items(limits)
    if not got:
        return "none"
    if any(x == "machine_cpu" or x.startswith("generator_") for x in got):
        return "environment"
    if any(x.startswith("unknown:") for x in got):
        return "unknown"
    return "saturated"
