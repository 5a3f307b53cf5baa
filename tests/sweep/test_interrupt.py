"""Ctrl-C during a sweep, then the same command again: the sweep continues where it
stopped, finished points are not run again, and the console said how to continue. The
console's "N of M points finished and kept" is what is on disk, and a kept point (even one
whose job Ctrl-C cut after it wrote point.json, which Snakemake marks incomplete) is never
measured again.

The interrupt comes the way a terminal sends it (SIGINT to the whole foreground process group:
Snakemake, the point's job, Locust) right when a point has written its point.json but its job
has not ended yet. That is the moment the issue hit: Snakemake marks the point's output
incomplete, and without `rerun-incomplete` (workflow/profiles/default) the next run stops with
IncompleteFilesException.

The API of this sweep keeps its credentials in a real MariaDB reached by a URL with a
password (issue 24), and afterwards every file of both runs under results/ and .state/ is
searched for that password and for the bench user's API token: a Ctrl-C'd run and its rerun
(kept records, partial points, logs, Ansible's private data) write no credential. Only the
token's own file (0600) may hold the token. (One sweep for both checks: a sweep of its own
for the secrets took a minute of the suite.)
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from mariadb import mariadb

from sshbench import paths
from sshbench.sweep import sweep
from sweep.helpers import SNAKEMAKE, run_snakemake, teardown_in

# Two Snakemake runs of up to 600 s each in one test.
pytestmark = [pytest.mark.netns, pytest.mark.timeout(1500)]

# The README's command for the ci sweep, cut to its three default-profile points (a filter
# on the command line: the same command is given twice, as a user would).
ONLY = {"profile": "default"}
README_COMMAND = ["--cores", "2", "--configfile", "experiments/ci.yaml"]
README_COMMAND += ["--config", f"include=[{json.dumps(ONLY)}]"]
LETTER = "i"  # testbed names i<pid>: this module's own
CI_POINTS = sweep.expand({**sweep.load(paths.EXPERIMENTS_DIR / "ci.yaml"), "include": [ONLY]})
PASSWORD = "Pw-q7XkZ3-never-in-results"


@pytest.fixture
def api_db_config(tmp_path: Path) -> Iterator[Path]:
    """A second --configfile (outside results/ and .state/): the API's store in MariaDB."""
    with mariadb(tmp_path / "mariadb", PASSWORD) as url:
        config = tmp_path / "api-db.yaml"
        config.write_text(yaml.safe_dump({"api": {"db": url}}))
        yield config


@pytest.fixture
def env(sweep_env_factory) -> dict[str, str]:
    # sweep_env_factory takes a crashed earlier run's testbeds down first (LETTER is one of
    # sweep.helpers.SWEEP_TEST_LETTERS)
    return sweep_env_factory(LETTER)


def _finished(points: Path) -> list[Path]:
    return [d for d in points.iterdir() if (d / "point.json").exists()] if points.exists() else []


def _assert_no_secret_in(results: Path, state: Path) -> None:
    token_files = list(state.rglob("api/*/token"))
    assert len(token_files) == 1, token_files
    token = token_files[0].read_text().strip().encode()
    assert len(token) >= 20
    assert stat.S_IMODE(token_files[0].stat().st_mode) & 0o077 == 0
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


def test_ctrl_c_then_the_same_command_continues_and_no_secret_is_written(
    env: dict[str, str], api_db_config: Path, tmp_path: Path
) -> None:
    command = [*README_COMMAND[:4], str(api_db_config), *README_COMMAND[4:]]
    profile = paths.WORKFLOW_DIR / "profiles" / "default" / "config.yaml"
    assert yaml.safe_load(profile.read_text())["rerun-incomplete"] is True
    points = Path(env["SSHBENCH_RESULTS"]) / "ci" / "points"
    console = tmp_path / "first-run.out"
    with console.open("w") as out:
        # A session of its own: SIGINT goes to its process group, as a terminal's Ctrl-C does.
        proc = subprocess.Popen(
            [SNAKEMAKE, *command],
            env=env,
            cwd=paths.ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 300
        first = None
        while True:
            assert proc.poll() is None, console.read_text()[-3000:]
            assert time.monotonic() < deadline, "no second point finished in 300 s"
            done = _finished(points)
            started = list(points.iterdir()) if points.exists() else []
            # Once a second point has started, Snakemake has recorded the first as complete.
            if first is None and len(done) == 1 and len(started) >= 2:
                first = done[0]
            if first is not None and len(done) >= 2:
                break
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGINT)  # our own session: Snakemake and its jobs
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    try:
        said = console.read_text()
        assert proc.returncode != 0, said[-3000:]
        assert "run the same command again" in said, said[-3000:]
        assert f"teardown: testbed {env['SSHBENCH_TESTBED']}: down" in said, said[-3000:]
        # What the console counted as kept is what is on disk: a point cut by Ctrl-C
        # either left its whole record (kept) or nothing (discarded, it runs again).
        kept = {d.name: (d / "point.json").read_bytes() for d in _finished(points)}
        counted = re.search(r"(\d+) of (\d+) points finished and kept", said)
        assert counted, said[-3000:]
        assert int(counted[1]) == len(kept) >= 2 and int(counted[2]) == len(CI_POINTS)
        left = {d.name for d in points.iterdir()} - set(kept)
        assert not left, f"half a point left behind: {left}"
        again = run_snakemake(env, *command, timeout=600)
        out = again.stdout + again.stderr
        assert again.returncode == 0, out[-3000:]
        assert "IncompleteFilesException" not in out
        assert f"point {first.name}:" not in again.stdout
        for name, record in kept.items():
            assert (points / name / "point.json").read_bytes() == record, f"{name} ran again"
            assert f"point {name}: ok  " not in again.stdout, f"{name} was measured again"
        for pid in CI_POINTS:
            rec = json.loads((points / pid / "point.json").read_text())
            assert rec["status"] == "ok", f"{pid}: {rec['error_class']}: {rec['error']}"
        assert "report: " in again.stdout, again.stdout[-3000:]
    finally:
        teardown_in(env)
    _assert_no_secret_in(Path(env["SSHBENCH_RESULTS"]), Path(env["SSHBENCH_STATE"]))
