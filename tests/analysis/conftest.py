"""Fixtures of the analysis tests. The sweep itself is the session fixture `ci_sweep`
(tests/conftest.py): a real run of experiments/ci.yaml through Snakemake."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from analysis.collect import collect


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
