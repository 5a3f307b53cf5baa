"""Fixtures for the real-VM path: an emulated cloud (sshbench.testbed.vms_local: namespaces, one
admin sshd each) that Ansible reaches over SSH through inventory vms-local, under test-only
names (cloud ``e<pid>``, testbed ``j<pid>``), state and results in a temporary directory.
The cloud is removed at the end, and a crashed run's cloud by the next run."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from testbed_names import stale_test_testbeds, testbed_name_for

from sshbench.sweep import point
from sshbench.testbed import vms_local

CLOUD_LETTER = "e"


@pytest.fixture(scope="session")
def vms_env(tmp_path_factory: pytest.TempPathFactory, require) -> Iterator[dict[str, str]]:
    """The environment of this session's cloud and testbed; the cloud is up."""
    require(os.geteuid() == 0, "the emulated VMs need root (network namespaces, useradd, sudoers)")
    for stale in stale_test_testbeds(CLOUD_LETTER):
        vms_local.down(stale)
    base = tmp_path_factory.mktemp("vms")
    env = {
        "SSHBENCH_VMS": testbed_name_for(CLOUD_LETTER),
        "SSHBENCH_TESTBED": testbed_name_for("j"),
        "SSHBENCH_STATE": str(base / "state"),
        "SSHBENCH_RESULTS": str(base / "results"),
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        try:
            vms_local.up()
            yield {**os.environ, **env}
        finally:
            try:
                point.teardown(log=lambda msg: None)
            finally:
                vms_local.down()
