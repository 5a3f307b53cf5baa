"""`sshapi add-user` and `sshapi serve` for real: gunicorn in its own process, over HTTP,
for every library x connection mode."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests
from waiting import wait_healthz

from sshapi.settings import CONNECTION_MODES, LIBRARIES
from sshapi.testing import free_port, stop_process

SSHAPI = [sys.executable, "-m", "sshapi.cli"]


def add_user(db: str, name: str) -> str:
    out = subprocess.run(
        [*SSHAPI, "add-user", name, "--db", db], capture_output=True, text=True, check=True
    )
    return out.stdout.strip().splitlines()[-1]


def start_server(tmp: Path, db: str, library: str, connections: str, *extra: str):
    port = free_port()
    pidfile, log = tmp / f"{library}-{connections}.pid", tmp / f"{library}-{connections}.log"
    proc = subprocess.Popen(
        [
            *SSHAPI, "serve", "--library", library, "--connections", connections,
            "--db", db, "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "8",
            "--pidfile", str(pidfile), "--log", str(log), "--key-file", str(tmp / "k.key"),
            "--access-log", str(tmp / "access.log"), *extra,
        ],
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthz(url, proc, timeout_s=20, get_timeout_s=1)
    except AssertionError:
        stop_server(proc)
        raise RuntimeError(f"sshapi serve did not come up: {log.read_text()[-2000:]}") from None
    return proc, url, log


def stop_server(proc: subprocess.Popen) -> None:
    stop_process(proc, timeout=15)


def test_add_user_prints_token_alone_on_last_line(tmp_path):
    db = f"sqlite:///{tmp_path}/u.db"
    out = subprocess.run([*SSHAPI, "add-user", "carol", "--db", db], capture_output=True,
                         text=True, check=True)  # fmt: skip
    last = out.stdout.splitlines()[-1]
    assert len(last) >= 40 and " " not in last
    again = subprocess.run([*SSHAPI, "add-user", "carol", "--db", db], capture_output=True,
                           text=True)  # fmt: skip
    assert again.returncode == 1
    assert "already exists" in again.stderr


def test_serve_rejects_bad_arguments(tmp_path):
    out = subprocess.run([*SSHAPI, "serve", "--library", "libssh"], capture_output=True,
                         text=True)  # fmt: skip
    assert out.returncode == 2
    assert "--library" in out.stderr
    bad_db = "mysql+pymysql://u:hunter2@127.0.0.1:1/x"  # nothing listens on port 1
    out = subprocess.run(
        [*SSHAPI, "serve", "--db", bad_db, "--key-file", str(tmp_path / "k"),
         "--bind", "127.0.0.1:1"], capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 2
    assert "cannot be used" in out.stderr and "hunter2" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("connections", CONNECTION_MODES)
@pytest.mark.parametrize("library", LIBRARIES)
def test_serve_over_http(tmp_path, sshd, library, connections):
    db = f"sqlite:///{tmp_path}/api.db"
    token = add_user(db, "alice")
    proc, url, log = start_server(tmp_path, db, library, connections, "--command-timeout", "7")
    try:
        h = {"Authorization": f"Bearer {token}"}
        health = requests.get(f"{url}/healthz", headers=h, timeout=5).json()
        assert (health["library"], health["connections"]) == (library, connections)
        assert health["settings"]["command_timeout"] == 7
        assert "OpenSSH" in health["versions"]["openssh-client"]
        assert "TCP_NODELAY" in health["socket_options"]
        r = requests.post(f"{url}/credentials", json=sshd.credential(), headers=h, timeout=10)
        assert r.status_code == 201, r.text
        for _ in range(2):
            r = requests.get(f"{url}/credentials/h1/uptime", headers=h, timeout=30)
            assert r.status_code == 200, r.text
            assert "load average" in r.json()["stdout"]
        r = requests.get(f"{url}/credentials/h1/ls", params={"path": "."}, headers=h, timeout=30)
        assert r.status_code == 200 and r.json()["exit_status"] == 0, r.text
    finally:
        stop_server(proc)
    assert proc.returncode == 0
    assert "BEGIN OPENSSH PRIVATE KEY" not in log.read_text()
    access = (tmp_path / "access.log").read_text()
    assert '"GET /credentials/h1/uptime" 200' in access
    assert "path=" not in access  # query strings (paths) stay out of the access log
