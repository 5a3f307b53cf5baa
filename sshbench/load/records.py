"""requests.csv: writing its rows (the schema, columns and outcomes, is measure.rows').

The locustfile writes the rows (one file per Locust process), the runner merges them, the
analysis reads them; all three import this module, so a column is named and explained once.

A sustained point has one row per slot of its schedule: slot k was due at
``t0 + k / rps`` (its *intended* time). A slot the schedule never sent (the run ended
while every user was still waiting) is a ``missed`` row with only its intended time. A
burst point has one row per user, all intended at the release instant.

Two latencies per answered row:

- ``latency_ms`` = answered - intended: what a client that wanted to send on time saw.
  It includes the time the request waited for a free user, so a generator that falls
  behind cannot hide the queueing (coordinated omission). The primary measure.
- ``service_ms`` = answered - sent: the time the API took once the request was out.

This module imports nothing heavy (it is loaded into the gevent-patched Locust process).
"""

from __future__ import annotations

import csv
import errno
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from measure.point import PointFiles
from measure.rows import (  # the schema: measure.rows owns it
    API_CODES,
    FAILED,
    FIELDS,
    MISSED,
    OK,
    count,
)

_RESET_ERRNOS = {errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED}


def connection_class(exc: BaseException) -> str:
    """The class of a failure that left no HTTP answer: refused, reset, timeout or other."""
    if isinstance(exc, ConnectionRefusedError):
        return "api_refused"
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return "api_reset"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "api_timeout"
    if type(exc).__name__ == "Timeout" or "timed out" in str(exc).lower():
        return "api_timeout"  # gevent.Timeout and geventhttpclient's own timeout errors
    if isinstance(exc, OSError) and exc.errno in _RESET_ERRNOS:
        return "api_reset"
    if isinstance(exc, OSError) and exc.errno == errno.ECONNREFUSED:
        return "api_refused"
    return "api_connection"


def http_class(status: int, api_code: str | None) -> str:
    """The class of an HTTP error answer: its API code if it has a known one, else http_N."""
    if api_code in API_CODES:
        return api_code
    return f"http_{status}"


def one_line(text: object, limit: int = 300) -> str:
    return " ".join(str(text).split())[:limit]


def _ts(x: float | None) -> str:
    return "" if x is None else f"{x:.6f}"


def _ms(a: float | None, b: float | None) -> str:
    return "" if a is None or b is None else f"{(a - b) * 1000:.3f}"


def row(
    slot: int,
    process: int,
    intended: float,
    sent: float | None,
    answered: float | None,
    name: str,
    outcome: str,
    error_class: str = "",
    error: str = "",
    response_length: int = 0,
) -> list[str]:
    """One row in FIELDS order; latency and service time computed here, once."""
    return [
        str(slot),
        str(process),
        _ts(intended),
        _ts(sent),
        _ts(answered),
        _ms(answered, intended),
        _ms(answered, sent),
        name,
        outcome,
        error_class,
        one_line(error) if error else "",
        str(response_length or 0),
    ]


class Writer:
    """Rows of one Locust process, line-buffered so a killed process loses at most a line."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[str] = open(path, "w", newline="", buffering=1)  # noqa: SIM115
        self._csv = csv.writer(self._fh)
        self._csv.writerow(FIELDS)
        self.counts = {OK: 0, FAILED: 0, MISSED: 0}

    def write(self, values: Sequence[str]) -> None:
        self._csv.writerow(values)
        self.counts[values[FIELDS.index("outcome")]] += 1

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


def part_name(process: int) -> str:
    """File name of one process's rows before the merge."""
    return f"requests-{process}.csv"


def merge(out: Path) -> dict[str, int]:
    """Every process's requests-<i>.csv -> one requests.csv sorted by (intended_ts, slot).

    Returns the counts of each outcome in the merged file. A truncated last line (a killed
    process) is dropped. Rerunning is safe: with no parts left, requests.csv is kept as is.
    """
    parts = sorted(out.glob("requests-*.csv"))
    merged = PointFiles(out).requests
    if not parts and merged.exists():
        return count(read_rows(merged))
    rows: list[list[str]] = []
    for part in parts:
        with open(part, newline="") as fh:
            reader = csv.reader(fh)
            next(reader, None)
            rows.extend(r for r in reader if len(r) == len(FIELDS))
    rows.sort(key=lambda r: (float(r[2]), int(r[0])))
    tmp = merged.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(FIELDS)
        w.writerows(rows)
    tmp.replace(merged)
    for part in parts:
        part.unlink()
    return count(dict(zip(FIELDS, r, strict=True)) for r in rows)


def write_empty(path: Path) -> None:
    """A requests.csv with the header only (a point that failed before sending)."""
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerow(FIELDS)


def read_rows(path: Path) -> list[dict[str, str]]:
    """requests.csv as dicts of strings (the analysis reads it with pandas instead)."""
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in FIELDS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
        return list(reader)
