"""A throwaway MariaDB server for tests that need the API's MySQL store: its own data
directory, socket and port under a temporary folder, stopped when the block ends."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from sshapi.testing import free_port, stop_process

MARIADBD = "/usr/sbin/mariadbd"


@contextlib.contextmanager
def mariadb(base: Path, password: str) -> Iterator[str]:
    """Start mariadbd under `base` with a database `sshapi` and a user `sshapi`@127.0.0.1
    with `password`; yield its SQLAlchemy URL. Fails the test when mariadb-server is not
    installed, and names the server's log when it does not start within 60 s."""
    if not shutil.which("mariadb-install-db") or not os.path.exists(MARIADBD):
        pytest.fail("mariadb-server is not installed: run scripts/setup-system.sh")
    datadir, sock, pidfile, log = base / "data", base / "m.sock", base / "m.pid", base / "err.log"
    subprocess.run(
        ["mariadb-install-db", "--no-defaults", "--user=root", f"--datadir={datadir}",
         "--auth-root-authentication-method=socket", "--skip-test-db"],
        check=True, capture_output=True,
    )  # fmt: skip
    port = free_port()
    proc = subprocess.Popen(
        [MARIADBD, "--no-defaults", "--user=root", f"--datadir={datadir}", f"--socket={sock}",
         f"--port={port}", "--bind-address=127.0.0.1", f"--pid-file={pidfile}",
         f"--log-error={log}", "--skip-name-resolve", "--innodb-buffer-pool-size=16M"],
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                admin = pymysql.connect(unix_socket=str(sock), user="root")
                break
            except pymysql.err.OperationalError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    msg = f"mariadbd did not start: {log.read_text()[-2000:]}"
                    raise RuntimeError(msg) from None
                time.sleep(0.2)
        with admin.cursor() as c:
            c.execute("CREATE DATABASE sshapi")
            c.execute(f"CREATE USER 'sshapi'@'127.0.0.1' IDENTIFIED BY '{password}'")
            c.execute("GRANT ALL ON sshapi.* TO 'sshapi'@'127.0.0.1'")
        admin.close()
        yield f"mysql+pymysql://sshapi:{password}@127.0.0.1:{port}/sshapi"
    finally:
        stop_process(proc, timeout=30)
