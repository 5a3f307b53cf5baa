"""Every path the project uses, in one place. No other module builds a path by hand.

Two environment variables move the writable trees, so tests and parallel runs never share
files: ``SSHBENCH_RESULTS`` (default ``<repo>/results``) and ``SSHBENCH_STATE`` (default
``<repo>/.state``). ``SSHBENCH_TESTBED`` names the testbed (default ``main``); every kernel
object and file a testbed makes carries that name, so two testbeds can exist at once and a
stale one can be found and removed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ANSIBLE_DIR = ROOT / "ansible"
INVENTORIES_DIR = ANSIBLE_DIR / "inventories"
EXPERIMENTS_DIR = ROOT / "experiments"
WORKFLOW_DIR = ROOT / "workflow"
PAPER_DIR = ROOT / "paper"
LOCUSTFILE = EXPERIMENTS_DIR / "locustfile.py"

# Prefix of every kernel object (netns, veth, cgroup) and process tag the project makes.
OBJECT_PREFIX = "sb"

_NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,5}$")


def results_dir() -> Path:
    return Path(os.environ.get("SSHBENCH_RESULTS", ROOT / "results"))


def state_dir() -> Path:
    return Path(os.environ.get("SSHBENCH_STATE", ROOT / ".state"))


def testbed_name() -> str:
    """Short name of the current testbed; it goes into interface names (15 chars max)."""
    name = os.environ.get("SSHBENCH_TESTBED", "main")
    if not _NAME_RE.match(name):
        raise ValueError(
            f"SSHBENCH_TESTBED={name!r} is not 1-6 lowercase letters/digits starting with a letter"
        )
    return name


def testbed_dir(name: str | None = None) -> Path:
    """Runtime files of one testbed: keys, sshd configs, PID files, logs, provenance."""
    return state_dir() / "testbed" / (name or testbed_name())


def sweep_dir(sweep: str) -> Path:
    return results_dir() / sweep


def points_dir(sweep: str) -> Path:
    return sweep_dir(sweep) / "points"


def point_dir(sweep: str, point_id: str) -> Path:
    return points_dir(sweep) / point_id


def paper_out_dir(sweep: str) -> Path:
    return sweep_dir(sweep) / "paper"


def figures_dir(sweep: str) -> Path:
    return sweep_dir(sweep) / "figures"


def sweep_logs_dir(sweep: str) -> Path:
    """Logs of a sweep's workflow jobs (one per point, testbed bring-up, ...)."""
    return sweep_dir(sweep) / "logs"


def flags_dir(sweep: str) -> Path:
    """Snakemake flag files of a sweep's side effects (testbed provisioned once)."""
    return sweep_dir(sweep) / "flags"


def api_dir(name: str | None = None) -> Path:
    """Runtime files of the SSH API deployed for one testbed: PID file, log, database, token."""
    return state_dir() / "api" / (name or testbed_name())
