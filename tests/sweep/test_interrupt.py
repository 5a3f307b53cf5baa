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
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from testbed_names import stale_test_testbeds

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


@pytest.fixture
def env(sweep_env_factory) -> dict[str, str]:
    for name in stale_test_testbeds(LETTER):  # a crashed earlier run of this test
        env = {**os.environ, "SSHBENCH_TESTBED": name}
        subprocess.run(
            [sys.executable, "-c", "from sshbench.testbed import testbed; testbed.down()"],
            env=env,
            cwd=paths.ROOT,
            capture_output=True,
            timeout=180,
        )
    return sweep_env_factory(LETTER)


def _finished(points: Path) -> list[Path]:
    return [d for d in points.iterdir() if (d / "point.json").exists()] if points.exists() else []


def test_ctrl_c_then_the_same_command_continues(env: dict[str, str], tmp_path: Path) -> None:
    profile = paths.WORKFLOW_DIR / "profiles" / "default" / "config.yaml"
    assert yaml.safe_load(profile.read_text())["rerun-incomplete"] is True
    points = Path(env["SSHBENCH_RESULTS"]) / "ci" / "points"
    console = tmp_path / "first-run.out"
    with console.open("w") as out:
        # A session of its own: SIGINT goes to its process group, as a terminal's Ctrl-C does.
        proc = subprocess.Popen(
            [SNAKEMAKE, *README_COMMAND],
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
        again = run_snakemake(env, *README_COMMAND, timeout=600)
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
