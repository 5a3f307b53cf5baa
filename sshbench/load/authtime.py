"""The `auth` pattern: public-key authentication alone, timed through the API's own backends.

parallel-ssh's published benchmark, which the study cites, says ssh2-python authenticates
~1.7x faster than Paramiko. That is a claim about authentication alone, not about a whole
request, so an HTTP load point cannot check it. An auth point logs in to its host
`logins` times in a row with one library, through the same backend code the API runs
(`sshapi.backends`: TCP connect, key exchange, host-key check against the pinned key,
public-key authentication, close), and records for each login the span of the
authentication alone, from the end of the key exchange to the server's USERAUTH_SUCCESS
(each backend's `auth_span`).

Its rows are ordinary requests.csv rows (one per login, `name` = "auth"), so the analysis
computes their percentiles like any other point's: latency_ms and service_ms are both the
authentication time. One login before the first row warms the library up (imports, key
parsing) and is not a row; if it fails, the point fails with the API's error code (say
ssh_auth_failed) before any row. A later failed login is a failed row with that code.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from measure.point import PointFiles
from sshapi import backends
from sshapi.errors import SSHFailure
from sshapi.settings import Settings
from sshapi.store import Target
from sshbench.load import records
from sshbench.sweep import sweep

NAME = "auth"  # requests.csv `name` of an auth row


def target_of(name: str, host: dict[str, Any]) -> Target:
    """A backend's Target for one testbed host (testbed.status()["hosts"][name])."""
    return Target(
        name,
        str(host["address"]),
        int(host["port"]),
        str(host["user"]),
        Path(host["private_key"]).read_bytes(),
        str(host["host_key"]),
    )


def login(library: str, target: Target, settings: Settings) -> tuple[float, float]:
    """One whole login (connect, auth, close); the wall-clock span of its authentication."""
    conn = backends.load(library).connect(target, settings)
    try:
        span = conn.auth_span
    finally:
        conn.close()
    if span is None:
        raise ValueError(f"library {library!r} does not time its authentication alone")
    return span


def run(library: str, target: Target, logins: int, out: Path, log) -> dict[str, Any]:
    """`logins` sequential logins into out/requests.csv; the point's facts (counts, wall)."""
    if library not in sweep.AUTH_LIBRARIES:
        raise ValueError(f"library {library!r}: the auth pattern times {sweep.AUTH_LIBRARIES}")
    settings = Settings(library=library, connections="per-request")
    started = time.monotonic()
    log(f"auth: {library}, 1 warm-up + {logins} sequential logins to {target.host}")
    login(library, target, settings)
    writer = records.Writer(PointFiles(out).requests)
    try:
        for slot in range(logins):
            t = time.time()
            try:
                t0, t1 = login(library, target, settings)
                writer.write(records.row(slot, 0, t0, t0, t1, NAME, records.OK))
            except SSHFailure as e:
                writer.write(
                    records.row(slot, 0, t, t, time.time(), NAME, records.FAILED, e.code, str(e))
                )
    finally:
        writer.close()
    c = writer.counts
    counts = {
        "slots": logins,
        "sent": c[records.OK] + c[records.FAILED],
        records.OK: c[records.OK],
        records.FAILED: c[records.FAILED],
        records.MISSED: 0,
    }
    return {
        "schedule": {"pattern": "auth", "slots": logins},
        "counts": counts,
        "integrity": "ok" if counts["sent"] == logins else "broken: a login left no row",
        "wall_s": round(time.monotonic() - started, 3),
    }
