"""Fixtures of the analysis tests. The sweep itself is the session fixture `ci_sweep`
(tests/conftest.py): a real run of experiments/ci.yaml through Snakemake."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from analysis.collect import collect, read_tidy, write_tidy
from analysis.figures import draw
from analysis.report import render_report
from analysis.tables import write_tables
from sshbench import paths
from sshbench.paths import FIGURES, SweepLayout
from tests.analysis.crafted import v2_tidy


@pytest.fixture(scope="session")
def ci_tidy(ci_sweep: Path) -> pd.DataFrame:
    """The tidy table of the real CI sweep, collected afresh (not read from its tidy.csv)."""
    return collect(ci_sweep)


@pytest.fixture(scope="session")
def ci_env(ci_sweep: Path) -> dict[str, str]:
    """The environment the CI sweep ran in: its own testbed name, state and results, so a
    rerun never touches another testbed (the workflow tears its testbed down at the end)."""
    first = sorted((ci_sweep / "points").glob("*/point.json"))[0]
    name = json.loads(first.read_text())["provenance"]["testbed"]["name"]
    return {
        **os.environ,
        "SSHBENCH_TESTBED": name,
        "SSHBENCH_RESULTS": str(ci_sweep.parent),
        "SSHBENCH_STATE": str(ci_sweep.parent.parent / "state"),
    }


@pytest.fixture(scope="session")
def crafted_report(tmp_path_factory: pytest.TempPathFactory) -> SweepLayout:
    """The report of the hand-built contract-v2 sweep (tests/analysis/crafted.py): its tidy
    table, every figure, the tables and report.html/.md. Built once per test run, however
    many pytest-xdist workers read it (their shared temporary folder, under a lock): tests
    only read it."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's folder, above each worker's own
    layout = SweepLayout(root / "crafted-report" / "crafted")
    with open(root / "crafted-report.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / "crafted-report.done").exists():
            write_tidy(v2_tidy(), layout.tidy)
            tidy = read_tidy(layout.tidy)
            for stem in FIGURES:
                draw(stem, tidy, layout.figure(stem, "png"))
            write_tables(tidy, paths.PAPER_DIR / "claims.yaml", layout)
            render_report(layout)
            (root / "crafted-report.done").touch()
    return layout
