"""When a point reuses the deployed API instead of redeploying (sshbench.deploy.api_deploy), the
running server must serve what the point asks for: a real `sshapi serve` is asked, over
HTTP, what it serves, and anything else (library, mode, settings, token) means redeploy."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from sshapi.testing import free_port, stop_process
from sshbench.deploy import api_deploy
from sshbench.sweep import provenance

SSHAPI = [sys.executable, "-m", "sshapi.cli"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A running `sshapi serve --library ssh2 --connections per-request`, its token and the
    deployment record `api_deploy.ensure` would have written for it."""
    tmp: Path = tmp_path_factory.mktemp("reuse")
    db = f"sqlite:///{tmp}/u.db"
    token = (
        subprocess.run(
            [*SSHAPI, "add-user", "bench", "--db", db], capture_output=True, text=True, check=True
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    port = free_port()
    proc = subprocess.Popen(
        [
            *SSHAPI, "serve", "--library", "ssh2", "--connections", "per-request", "--db", db,
            "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4",
            "--max-connections", "50", "--pidfile", str(tmp / "api.pid"),
            "--log", str(tmp / "api.log"), "--key-file", str(tmp / "k.key"),
        ],
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while api_deploy.healthz(url, timeout=1) is None:
            assert proc.poll() is None, (tmp / "api.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "sshapi serve did not come up in 60 s"
            time.sleep(0.2)
        rec = {
            "wanted": api_deploy._wanted("ssh2", "per-request", {}),
            "testbed": "fp",
            "url": url,
            "pid": proc.pid,
            "target": api_deploy.LOCAL,
            "healthz": api_deploy.healthz(url, token=token),
        }
        yield rec, token
    finally:
        stop_process(proc, timeout=15)


def test_the_running_api_is_reused_only_when_it_serves_what_is_wanted(served):
    rec, token = served
    wanted = rec["wanted"]
    assert api_deploy._still_good(rec, wanted, "fp")
    live = api_deploy._serving(rec, wanted, token)
    assert live is not None and (live["library"], live["connections"]) == ("ssh2", "per-request")
    # another library or mode, another testbed: redeploy
    for other in (
        api_deploy._wanted("paramiko", "per-request", {}),
        api_deploy._wanted("ssh2", "pooled", {}),
    ):
        assert not api_deploy._still_good(rec, other, "fp")
        assert api_deploy._serving(rec, other, token) is None
    assert not api_deploy._still_good(rec, wanted, "another testbed")
    # the same library and mode, but the server runs other settings than it was deployed
    # with (or another sshapi): redeploy
    changed = {**rec["healthz"], "settings": {**rec["healthz"]["settings"], "max_connections": 9}}
    assert api_deploy._serving({**rec, "healthz": changed}, wanted, token) is None
    older = {**rec["healthz"], "sshapi": "0.0.0"}
    assert api_deploy._serving({**rec, "healthz": older}, wanted, token) is None
    # without a valid token the server does not say its settings: not proof enough
    assert api_deploy._serving(rec, wanted, "not-the-token") is None
    # a server that is gone is never reused
    assert (
        api_deploy._serving({**rec, "url": f"http://127.0.0.1:{free_port()}"}, wanted, token)
        is None
    )


def test_a_points_provenance_says_what_served_it(served):
    rec, token = served
    live = api_deploy._serving(rec, rec["wanted"], token)
    prov = provenance.collect({"hosts": {}}, {**rec, "healthz": live, "reused": True})["api"]
    assert prov["served"]["library"] == "ssh2" and prov["served"]["connections"] == "per-request"
    assert prov["served"]["sshapi"] == live["sshapi"] and prov["reused"] is True
    assert prov["settings"] == rec["wanted"]
