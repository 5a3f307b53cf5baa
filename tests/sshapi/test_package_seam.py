"""This folder is named like the package it tests: `sshapi` must still be the package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import sshapi

ROOT = Path(__file__).resolve().parents[2]


def test_the_package_is_the_real_one():
    assert Path(sshapi.__file__).resolve() == ROOT / "sshapi" / "__init__.py"


def test_a_regular_package_wins_over_this_folder_anywhere_on_the_path():
    """The seam the conftest relies on: with tests/ first on sys.path (pytest's prepend mode)
    and the root after it (pyproject's pythonpath), `import sshapi` is the package."""
    code = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]; import sshapi; "
        "print(sshapi.__file__)"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", code, str(ROOT / "tests"), str(ROOT)],
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
    ).stdout.strip()
    assert Path(out).resolve() == ROOT / "sshapi" / "__init__.py"
