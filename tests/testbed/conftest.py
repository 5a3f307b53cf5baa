"""Fixtures for the testbed tests: a real local testbed (namespaces, sshd, Ansible), brought up
once per module under a test-only name and state directory, and always torn down."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sshbench import paths, testbed

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(n: int) -> str:
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = _DIGITS[r] + out
    return out or "0"


def _stale_test_testbeds() -> set[str]:
    """Names of test testbeds ("<letter><base36 pid>") whose pytest process is gone."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    stale = set()
    for line in out.splitlines():
        parts = line.split()[0].split("-") if line.strip() else []
        if len(parts) < 3 or parts[0] != paths.OBJECT_PREFIX or parts[1][:1] not in "tuvwxyz":
            continue
        try:
            pid = int(parts[1][1:], 36)
        except ValueError:
            continue
        if pid > 1 and not Path(f"/proc/{pid}").exists():
            stale.add(parts[1])
    return stale


def _free_name(taken: str = "") -> str:
    """A test-only testbed name, unique to this pytest process, whose subnet is free."""
    for letter in "tuvwxyz":
        name = letter + _base36(os.getpid())
        if name == taken:
            continue
        try:
            testbed.check_subnet_free(name)
            return name
        except testbed.TestbedError:
            continue
    raise RuntimeError("no free 198.18.x.0/24 for a test testbed")


@pytest.fixture(scope="module")
def testbed_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """SSHBENCH_TESTBED and SSHBENCH_STATE for this module; removes crashed test runs first."""
    if os.geteuid() != 0:
        pytest.skip("the testbed needs root (network namespaces, cgroups, useradd)")
    with pytest.MonkeyPatch.context() as mp:
        for stale in _stale_test_testbeds():
            mp.setenv("SSHBENCH_TESTBED", stale)
            testbed.down()
        name = _free_name()
        mp.setenv("SSHBENCH_TESTBED", name)
        mp.setenv("SSHBENCH_STATE", str(tmp_path_factory.mktemp("state")))
        yield name


@pytest.fixture(scope="module")
def testbed_up(testbed_env: str) -> Iterator[dict[str, Any]]:
    """The local testbed, up with the default profile; torn down after the module."""
    try:
        yield testbed.up("local", "default")
    finally:
        testbed.down()


@pytest.fixture
def other_testbed_name(testbed_env: str) -> str:
    """A second test-only testbed name, for two testbeds at once."""
    return _free_name(taken=testbed_env)
