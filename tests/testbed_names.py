"""Names of test-only testbeds: ``<letter><pid of the pytest process in base 36>``.

The pid in the name lets a later run recognise a crashed run's testbed (its pytest process is
gone) and take it down; the letter tells which test folder made it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from sshbench import paths

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(n: int) -> str:
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = _DIGITS[r] + out
    return out or "0"


def testbed_name_for(letter: str) -> str:
    """The test testbed name of this pytest process for ``letter``."""
    return letter + _base36(os.getpid())


def stale_test_testbeds(letters: str) -> set[str]:
    """Test testbeds starting with one of ``letters`` whose pytest process is gone."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    stale = set()
    for line in out.splitlines():
        parts = line.split()[0].split("-") if line.strip() else []
        if len(parts) < 3 or parts[0] != paths.OBJECT_PREFIX or parts[1][:1] not in letters:
            continue
        try:
            pid = int(parts[1][1:], 36)
        except ValueError:
            continue
        if pid > 1 and not Path(f"/proc/{pid}").exists():
            stale.add(parts[1])
    return stale
