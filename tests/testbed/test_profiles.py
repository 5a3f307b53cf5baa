"""Profiles, names and addresses: no root needed, except the collision check's interface."""

from __future__ import annotations

import ipaddress
import os
import subprocess

import pytest

from sshbench import cli, paths
from sshbench.testbed import testbed


def test_builtin_profiles_are_the_studys() -> None:
    assert testbed.resolve_profile("default") == {
        "sshd_profile": "default",
        "sshd_profile_settings": {"max_startups": "10:30:100", "max_sessions": 10},
    }
    tuned = testbed.resolve_profile("tuned")["sshd_profile_settings"]
    assert (tuned["max_startups"], tuned["max_sessions"]) == ("1000:30:3000", 3000)


@pytest.mark.parametrize("key", ["max_startups", "sshd_max_startups", "MaxStartups"])
def test_profile_keys_in_any_spelling(key: str) -> None:
    resolved = testbed.resolve_profile("x", {"x": {key: "20:30:200", "MaxSessions": 50}})
    assert resolved["sshd_profile_settings"] == {"max_startups": "20:30:200", "max_sessions": 50}


def test_profile_keys_are_the_roles_defaults() -> None:
    """One list of profile settings: the sshd role's sshd_profile_defaults."""
    assert testbed.profile_keys() == [
        "max_startups", "max_sessions", "login_grace_time", "max_auth_tries"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("profiles", "message"),
    [
        ({}, "unknown sshd profile 'x'"),
        ({"x": {"max_startup": "10"}}, "unknown setting 'max_startup'"),
        ({"x": {"config_path": "/tmp/x"}}, "unknown setting 'config_path'"),
        ({"x": {"sshd_port": 2222}}, "unknown setting 'sshd_port'"),
        ({"x": {"max_startups": "ten"}}, "is not N or start:rate:full"),
        ({"x": ["max_startups"]}, "must be a mapping"),
    ],
)
def test_bad_profiles_are_refused(profiles: dict, message: str) -> None:
    with pytest.raises(testbed.TestbedError, match=message):
        testbed.resolve_profile("x", profiles)


def test_subnets_are_stable_distinct_and_in_the_benchmark_range() -> None:
    names = ["main", "swp", "ci", "t1", "demo"]
    nets = [testbed.subnet(n) for n in names]
    assert nets == [testbed.subnet(n) for n in names]
    assert len(set(nets)) == len(nets)
    assert all(n.subnet_of(testbed.BENCH_NETWORK) for n in nets)


def test_interface_names_fit_the_kernel_limit() -> None:
    longest = "abcdef"
    assert len(testbed.bridge_name(longest)) <= 15
    assert len(f"{paths.OBJECT_PREFIX}-{longest}-99r") <= 15


def test_a_used_subnet_is_refused(require) -> None:
    require(os.geteuid() == 0, "adding an interface needs root")
    name = "zcoll"
    net = testbed.subnet(name)
    link = f"{paths.OBJECT_PREFIX}-{name}-x"
    address = f"{ipaddress.ip_address(int(net.network_address) + 9)}/24"
    subprocess.run(["ip", "link", "add", link, "type", "bridge"], check=True)
    try:
        subprocess.run(["ip", "addr", "add", address, "dev", link], check=True)
        with pytest.raises(testbed.TestbedError, match=f"{net}.*already on {link}"):
            testbed.check_subnet_free(name)
    finally:
        subprocess.run(["ip", "link", "del", link], check=True)
    testbed.check_subnet_free(name)


def test_cli_has_the_testbed_steps(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["testbed", "--help"])
    out = capsys.readouterr().out
    assert all(step in out for step in ("up", "switch", "status", "down"))


def test_cli_names_a_bad_inventory(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["testbed", "up", "--inventory", "nowhere"]) == 1
    assert "unknown inventory 'nowhere'" in capsys.readouterr().err
