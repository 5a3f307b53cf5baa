"""Fixtures for the testbed tests: a real local testbed (namespaces, sshd, Ansible), brought up
once per session under a test-only name and state directory, and always torn down.
test_testbed.py, which runs last, takes it down on purpose at its end (and checks that)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from testbed_names import stale_test_testbeds, testbed_name_for

from sshbench.testbed import testbed


def _free_name(taken: str = "") -> str:
    """A test-only testbed name, unique to this pytest process, whose subnet is free."""
    for letter in "tuvwxyz":
        try:
            name = testbed_name_for(letter, wait_s=0)
        except testbed.TestbedError:
            continue
        if name != taken:
            return name
    raise RuntimeError("no free 198.18.x.0/24 for a test testbed")


@pytest.fixture(scope="session")
def testbed_env(tmp_path_factory: pytest.TempPathFactory, require) -> Iterator[str]:
    """SSHBENCH_TESTBED and SSHBENCH_STATE for this module; removes crashed test runs first."""
    require(os.geteuid() == 0, "the testbed needs root (network namespaces, cgroups, useradd)")
    with pytest.MonkeyPatch.context() as mp:
        for stale in stale_test_testbeds("tuvwxyz"):
            mp.setenv("SSHBENCH_TESTBED", stale)
            testbed.down()
        name = _free_name()
        mp.setenv("SSHBENCH_TESTBED", name)
        mp.setenv("SSHBENCH_STATE", str(tmp_path_factory.mktemp("state")))
        yield name


@pytest.fixture(scope="session")
def testbed_up(testbed_env: str) -> Iterator[dict[str, Any]]:
    """The local testbed, up with the default profile; torn down after the session."""
    try:
        yield testbed.up("local", "default")
    finally:
        testbed.down()


@pytest.fixture
def other_testbed_name(testbed_env: str) -> str:
    """A second test-only testbed name, for two testbeds at once."""
    return _free_name(taken=testbed_env)
