"""Which resource limited a point, from its window's metrics and point.json's facts.

One list per point, ``limited_by`` (JSON in the tidy table), one wording (``describe``)
and one kind (``kind``) that everything downstream prints or filters on. The rules, in the
order their names appear in the list (thresholds: ``THRESHOLDS``, overridable per sweep by
point.json ``settings.saturation``):

- ``host_cpu:<host>``: the host used >= ``host_util`` of its CPU quota in the window, or
  >= ``host_throttled_fraction`` of its CFS periods were throttled.
- ``api_cpu``: the API's processes used >= ``api_util`` of one core.
- ``machine_cpu``: the whole machine was busy >= ``machine_util`` of all its cores.
- ``generator_cpu``: the busiest load-generator process used >= ``generator_util`` of one core.
- ``generator_users``: (sustained-like points only) every user was waiting at once
  (``loadgen.max_in_flight >= loadgen.users``) or a slot was never sent (missed > 0),
  while no host, API or machine CPU ran out: the generator, not the system, held the load.
- ``sshd_refusals``: a request failed because sshd refused or dropped the connection
  (``sshd_refused``: ``ssh_connection_refused``, or ``ssh_error`` during the handshake).

``describe``: "" | "saturated: <system items>" | "load generator limited: <generator_*>",
both parts joined by "; ". ``kind``: ``none`` (nothing), ``environment`` (machine_cpu or
any generator_* present: a point outside the study's setup, "not testable here"),
``saturated`` (only the system under test ran out: a finding). ``generator`` is a value of
the contract's vocabulary that the contract's own environment rule leaves unused: every
generator_* point is ``environment``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

# Threshold name -> default; point.json settings.saturation may override any of them.
THRESHOLDS: dict[str, float] = {
    "host_util": 0.9,
    "host_throttled_fraction": 0.2,
    "machine_util": 0.95,
    "api_util": 0.9,
    "generator_util": 0.9,
}

KINDS = ("none", "saturated", "generator", "environment")

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


def limited_by(metrics: Mapping[str, Any], point: Mapping[str, Any]) -> list[str]:
    """The resources that ran out in a point's window (rules: module docstring).

    ``metrics``: the point's metric values by name (``util_host``, ``missed``, ...) plus
    ``sshd_refusals``, the count of failures ``sshd_refused`` accepts.
    """
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
    if _at_least(metrics, "util_machine", th["machine_util"]):
        out.append("machine_cpu")
    if _at_least(metrics, "util_generator", th["generator_util"]):
        out.append("generator_cpu")
    pattern = params.get("pattern") or (point.get("schedule") or {}).get("pattern")
    system_ran_out = any(x.startswith("host_cpu:") or x in ("api_cpu", "machine_cpu") for x in out)
    if pattern != "burst" and not system_ran_out:
        loadgen = point.get("loadgen") or {}
        users, in_flight = loadgen.get("users"), loadgen.get("max_in_flight")
        exhausted = users is not None and in_flight is not None and in_flight >= users
        if exhausted or _at_least(metrics, "missed", 1):
            out.append("generator_users")
    if _at_least(metrics, "sshd_refusals", 1):
        out.append("sshd_refusals")
    return out


def _items(limits: Sequence[str] | str | None) -> list[str]:
    """A limited_by list, or its JSON text as stored in the tidy table."""
    if limits is None or (isinstance(limits, float) and limits != limits):
        return []
    if isinstance(limits, str):
        return list(json.loads(limits)) if limits.strip() else []
    return list(limits)


def describe(limits: Sequence[str] | str | None) -> str:
    """The one wording of a point's limits (see the module docstring)."""
    items = _items(limits)
    system = [x for x in items if not x.startswith("generator_")]
    generator = [x for x in items if x.startswith("generator_")]
    parts = []
    if system:
        parts.append("saturated: " + ", ".join(system))
    if generator:
        parts.append("load generator limited: " + ", ".join(generator))
    return "; ".join(parts)


def kind(limits: Sequence[str] | str | None) -> str:
    """``none`` | ``saturated`` | ``environment`` (machine_cpu or generator_*: not testable)."""
    items = _items(limits)
    if not items:
        return "none"
    if any(x == "machine_cpu" or x.startswith("generator_") for x in items):
        return "environment"
    return "saturated"
