"""`--max-user-requests` holds across workers (issue 24): the real `sshapi serve` with two
workers and a cap of 2; one user's 8 requests to a server that never answers the exec
request (hostile_server "noexec") all at once: exactly 2 run (504 at the deadline), the rest
answer 429 at once, whichever worker they reach; another user is still served."""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from hostile_server import HostileServer
from waiting import wait_healthz

from sshapi.testing import free_port, stop_process

SSHAPI = [sys.executable, "-m", "sshapi.cli"]


def add_user(db: str, name: str) -> str:
    out = subprocess.run([*SSHAPI, "add-user", name, "--db", db], capture_output=True,
                         text=True, check=True)  # fmt: skip
    return out.stdout.strip().splitlines()[-1]


def test_user_cap_holds_across_workers(tmp_path, sshd, memory_cap):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "hk")],
                   check=True)  # fmt: skip
    noexec = HostileServer("noexec", tmp_path / "hk")
    cap = memory_cap(384 * 1024 * 1024)
    db = f"sqlite:///{tmp_path}/api.db"
    alice, bob = add_user(db, "alice"), add_user(db, "bob")
    port = free_port()
    argv = [*SSHAPI, "serve", "--db", db, "--bind", f"127.0.0.1:{port}", "--workers", "2",
            "--threads", "8", "--max-user-requests", "2", "--request-timeout", "4",
            "--log", str(tmp_path / "api.log"), "--key-file", str(tmp_path / "k.key")]  # fmt: skip
    proc = subprocess.Popen(cap.wrap(argv), start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthz(url, proc, timeout_s=30)
        time.sleep(1.0)  # both workers up
        h = {"Authorization": f"Bearer {alice}"}
        body = sshd.credential("slow", port=noexec.port, host_key=noexec.known_hosts_line())
        assert requests.post(f"{url}/credentials", json=body, headers=h, timeout=10).ok
        hb = {"Authorization": f"Bearer {bob}"}
        assert requests.post(f"{url}/credentials", json=sshd.credential(), headers=hb,
                             timeout=10).ok  # fmt: skip

        def get(_: int) -> int:
            s = requests.Session()  # a connection each: spread over both workers
            return s.get(f"{url}/credentials/slow/uptime", headers=h, timeout=30).status_code

        with ThreadPoolExecutor(8) as ex:
            futures = [ex.submit(get, i) for i in range(8)]
            time.sleep(1.0)
            r = requests.get(f"{url}/credentials/h1/uptime", headers=hb, timeout=30)
            codes = sorted(f.result() for f in futures)
        assert r.status_code == 200, r.text
        assert codes.count(504) == 2 and codes.count(429) == 6, codes
    finally:
        stop_process(proc, timeout=15)
        noexec.close()
        cap.remove()
