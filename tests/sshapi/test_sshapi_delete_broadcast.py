"""DELETE of a credential closes its pooled connections in every worker (issue 24), not
only in the worker that served the DELETE: the real `sshapi serve` with 4 workers, pooled;
requests on fresh connections until several workers hold an SSH connection to the real sshd
(counted as sshd's session processes), then one DELETE, and within a few seconds none is
left."""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
import requests
from waiting import wait_healthz

from sshapi.testing import free_port, stop_process

SSHAPI = [sys.executable, "-m", "sshapi.cli"]


def _sessions(sshd_pid: int) -> int:
    return len(psutil.Process(sshd_pid).children())


def test_delete_closes_pooled_connections_in_every_worker(tmp_path, sshd):
    db = f"sqlite:///{tmp_path}/api.db"
    out = subprocess.run([*SSHAPI, "add-user", "alice", "--db", db], capture_output=True,
                         text=True, check=True)  # fmt: skip
    h = {"Authorization": f"Bearer {out.stdout.strip().splitlines()[-1]}"}
    port = free_port()
    proc = subprocess.Popen(
        [*SSHAPI, "serve", "--library", "paramiko", "--connections", "pooled", "--db", db,
         "--bind", f"127.0.0.1:{port}", "--workers", "4", "--threads", "4",
         "--max-user-requests", "64", "--log", str(tmp_path / "api.log"),
         "--key-file", str(tmp_path / "k.key")],
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthz(url, proc, timeout_s=40)
        time.sleep(2.0)  # every worker up
        base = _sessions(sshd.pid)
        assert requests.post(f"{url}/credentials", json=sshd.credential("gone"), headers=h,
                             timeout=10).status_code == 201  # fmt: skip

        def get(_: int) -> int:
            with requests.Session() as s:  # a new connection: any worker may take it
                return s.get(f"{url}/credentials/gone/uptime", headers=h, timeout=30).status_code

        for _ in range(5):
            with ThreadPoolExecutor(8) as ex:
                assert set(ex.map(get, range(16))) == {200}
            if _sessions(sshd.pid) - base >= 2:
                break
        held = _sessions(sshd.pid) - base
        assert held >= 2, "the requests reached one worker only"
        assert requests.delete(f"{url}/credentials/gone", headers=h, timeout=10).status_code == 204
        t0 = time.monotonic()
        while _sessions(sshd.pid) > base and time.monotonic() - t0 < 5:
            time.sleep(0.1)
        assert _sessions(sshd.pid) <= base, (held, _sessions(sshd.pid) - base)
    finally:
        stop_process(proc, timeout=20)
