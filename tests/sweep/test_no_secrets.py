"""No credential in what a sweep writes (issue 24): a real one-point sweep whose API keeps
its credentials in a real MariaDB reached by a URL with a password; afterwards every file
under results/ and .state/ is searched for that password and for the bench user's API
token. Only the token's own file (0600) may hold the token."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from mariadb import mariadb

from sweep.helpers import run_snakemake, teardown_in

PASSWORD = "Pw-q7XkZ3-never-in-results"

CONFIG = """\
sweep: nosecret
description: one point, credentials in MariaDB (tests/sweep/test_no_secrets.py)
inventory: local
api:
  db: "{db}"
points:
  hosts: [taco]
  profiles: [default]
  libraries: [ssh2]
  connections: [per-request]
  commands: [uptime]
  rates: [5]
  duration_s: 3
  warmup_s: 1
"""


@pytest.fixture
def mariadb_url(tmp_path):
    with mariadb(tmp_path, PASSWORD) as url:
        yield url


@pytest.mark.timeout(900)
def test_sweep_output_holds_no_password_and_no_token(sweep_env_factory, mariadb_url, tmp_path):
    env = sweep_env_factory("e")
    config = tmp_path / "nosecret.yaml"
    config.write_text(CONFIG.format(db=mariadb_url))
    results, state = Path(env["SSHBENCH_RESULTS"]), Path(env["SSHBENCH_STATE"])
    try:
        proc = run_snakemake(env, "--cores", "2", "--configfile", str(config), timeout=800)
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
        token_files = list(state.rglob("api/*/token"))
        assert len(token_files) == 1, token_files
        token = token_files[0].read_text().strip().encode()
        assert len(token) >= 20
        assert stat.S_IMODE(token_files[0].stat().st_mode) & 0o077 == 0
    finally:
        teardown_in(env)
    assert list(results.rglob("point.json")), "the sweep wrote no point"
    leaks = []
    for root in (results, state):
        for f in root.rglob("*"):
            if f.is_symlink() or not f.is_file() or f == token_files[0]:
                continue
            data = f.read_bytes()
            if PASSWORD.encode() in data or token in data:
                leaks.append(str(f.relative_to(root.parent)))
    assert not leaks, leaks
    runs = [d for d in state.rglob("runs/*") if d.is_dir()]
    assert runs
    for d in runs:  # ansible-runner's private data dirs: private, no secret left in them
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
        assert not (d / "env" / "extravars").exists(), d
