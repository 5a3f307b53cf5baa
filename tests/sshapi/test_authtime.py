"""The auth pattern's timing (sshbench.load.authtime) against a real sshd: every login is a
requests.csv row, the span is authentication alone, a refused key is a failed row."""

from __future__ import annotations

import dataclasses
import time

import pytest

from measure.metrics import point_metrics, read_requests
from sshapi.errors import SSHAuthFailed
from sshapi.settings import Settings
from sshapi.store import Target
from sshbench.load import authtime, records
from sshbench.sweep import sweep


def _target(sshd) -> Target:
    return Target("t", sshd.host, sshd.port, sshd.user, sshd.private_key.encode(), sshd.host_key)


@pytest.mark.parametrize("library", sweep.AUTH_LIBRARIES)
def test_each_login_is_a_row_timing_authentication_alone(sshd, tmp_path, library) -> None:
    facts = authtime.run(library, _target(sshd), 5, tmp_path, lambda m: None)
    assert facts["counts"] == {"slots": 5, "sent": 5, "ok": 5, "failed": 0, "missed": 0}
    assert facts["integrity"] == "ok"
    rows = read_requests(tmp_path / "requests.csv")
    assert len(rows) == 5 and set(rows["outcome"]) == {records.OK}
    assert set(rows["name"]) == {authtime.NAME}
    # authentication alone: more than nothing, less than the whole login around it
    began = time.time()
    t0, t1 = authtime.login(library, _target(sshd), Settings(library=library))
    whole = time.time() - began
    assert began < t0 < t1 and 0 < t1 - t0 < whole
    assert (rows["latency_ms"] > 0).all()
    assert (rows["latency_ms"] == rows["service_ms"]).all()
    point = {"id": "a", "params": {"pattern": "auth"}, "status": "ok", "counts": facts["counts"]}
    values = point_metrics(point, rows).values
    assert values["latency_p50"] == pytest.approx(float(rows["latency_ms"].median()), rel=0.2)
    assert values["sent"] == 5 and "target_rps" not in values


def test_a_refused_key_fails_the_run_with_the_api_code(sshd, tmp_path) -> None:
    wrong = dataclasses.replace(_target(sshd), private_key=sshd.other_private_key.encode())
    with pytest.raises(SSHAuthFailed):  # the warm-up login: before any row
        authtime.run("paramiko", wrong, 3, tmp_path, lambda m: None)


def test_the_ssh_client_cannot_time_authentication_alone(sshd, tmp_path) -> None:
    with pytest.raises(ValueError, match="auth pattern times"):
        authtime.run("openssh", _target(sshd), 3, tmp_path, lambda m: None)
