"""The request-row schema: requests.csv's columns, outcomes and error classes, once.

The locustfile and the auth runner write rows through sshbench.load.records, the metrics
(measure.metrics) read them; both take the names from here. The meaning of the two
latencies is sshbench.load.records' docstring. Imports nothing (loaded into the Locust process).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# Column name -> meaning. The order is the file's column order.
COLUMNS: dict[str, str] = {
    "slot": "slot index in the whole schedule (sustained) or user index (burst)",
    "process": "index of the Locust process that owned the slot",
    "intended_ts": "when the slot was due, unix seconds",
    "sent_ts": "when the request was sent, unix seconds (empty if missed)",
    "answered_ts": "when the answer or the failure came back, unix seconds (empty if missed)",
    "latency_ms": "answered_ts - intended_ts, ms (empty if missed)",
    "service_ms": "answered_ts - sent_ts, ms (empty if missed)",
    "name": "the command called (uptime, ls), or a transfer's direction (download, upload)",
    "outcome": "ok | failed | missed",
    "error_class": "why a request failed (see ERROR_CLASSES); empty if ok",
    "error": "the failure's text, one line, at most 300 characters",
    "response_length": "bytes of the answer's body; a transfer: the file bytes moved (a "
    "download's body read, an upload's bytes once the API stored them)",
}
FIELDS: tuple[str, ...] = tuple(COLUMNS)

OK, FAILED, MISSED = "ok", "failed", "missed"
OUTCOMES = (OK, FAILED, MISSED)

# API error codes (docs/ARCHITECTURE.md section 1) that a failed answer can carry.
API_CODES = (
    "ssh_auth_failed",
    "ssh_connection_refused",
    "ssh_host_key_mismatch",
    "ssh_timeout",
    "ssh_error",
    "output_too_large",
)
# Failures talking to the API itself (no HTTP answer at all).
CONNECTION_CLASSES = ("api_refused", "api_reset", "api_timeout", "api_connection")
# Every error_class a failed row can have, besides http_<status> for an HTTP error whose
# body carries no API code.
# short_body: a download that ended before all the file's bytes came.
ERROR_CLASSES = (
    *API_CODES,
    *CONNECTION_CLASSES,
    "nonzero_exit",
    "bad_response",
    "short_body",
)


def count(rows: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Rows per outcome: {"ok": n, "failed": n, "missed": n}."""
    out = {OK: 0, FAILED: 0, MISSED: 0}
    for r in rows:
        out[r["outcome"]] = out.get(r["outcome"], 0) + 1
    return out


def count_problems(counts: Mapping[str, Any]) -> list[str]:
    """What a point's counts contradict of themselves: slots = sent + missed and
    sent = ok + failed (each checked when its numbers are there)."""
    c = {k: int(v) for k, v in counts.items() if isinstance(v, int | float)}
    out = []
    if {"slots", "sent", MISSED} <= set(c) and c["slots"] != c["sent"] + c[MISSED]:
        out.append(f"slots {c['slots']} != sent {c['sent']} + missed {c[MISSED]}")
    if {"sent", OK, FAILED} <= set(c) and c["sent"] != c[OK] + c[FAILED]:
        out.append(f"sent {c['sent']} != ok {c[OK]} + failed {c[FAILED]}")
    return out
