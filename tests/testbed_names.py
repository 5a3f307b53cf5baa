"""Names of test-only testbeds: ``<letter><pid of the pytest process in base 36>``.

The pid in the name lets a later run recognise a crashed run's testbed (its pytest process is
gone) and take it down; the letter tells which test folder made it.

`make pytest` runs two pytest processes side by side (its lanes), so two test testbeds can
be up at once. A testbed's /24 comes from a hash of its name (sshbench.testbed.testbed.subnet),
and two names share one about once in 512 pairs: a new name whose /24 another testbed holds
waits until that testbed is down (that test ends) instead of failing.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from sshbench import paths
from sshbench.testbed import testbed

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(n: int) -> str:
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = _DIGITS[r] + out
    return out or "0"


def testbed_name_for(letter: str, wait_s: float = 900) -> str:
    """The test testbed name of this pytest process for ``letter``, once its /24 is free."""
    name = letter + _base36(os.getpid())
    deadline = time.monotonic() + wait_s
    while True:
        try:
            testbed.check_subnet_free(name)
            return name
        except testbed.TestbedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(2)


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
