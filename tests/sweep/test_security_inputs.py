"""Inputs that reach templates and shell command lines are checked first (issue 24): the
API's address (a newline would reach the unit's ExecStart), sshd profile names from
`--profiles FILE`, and the directory teardown.sh may delete."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

import jsonschema
import pytest

from sshbench import paths
from sshbench.cli import testbed as testbed_cli
from sshbench.sweep import sweep
from sshbench.testbed import testbed

TEARDOWN = paths.ANSIBLE_DIR / "roles" / "testbed_host" / "files" / "teardown.sh"


@pytest.mark.parametrize(
    "address, ok",
    [("127.0.0.1", True), ("10.0.0.5", True), ("api.example.org", True), ("::1", True),
     ("127.0.0.1\nExecStartPre=/bin/sh", False), ("a b", False), ("$(id)", False), ("", False)],
)  # fmt: skip
def test_api_address_has_a_pattern(address, ok):
    schema = sweep.load_schema()
    config = {"sweep": "x", "points": {}, "api": {"address": address}}
    errors = [
        e for e in jsonschema.Draft202012Validator(schema).iter_errors(config)
        if list(e.absolute_path)[:2] == ["api", "address"]
    ]  # fmt: skip
    assert (not errors) == ok, errors


def test_profiles_file_gets_the_schemas_rules(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("sshd_profiles:\n  fast_one: {max_startups: '10:30:100'}\n")
    assert testbed_cli._profiles(str(f)) == {"fast_one": {"max_startups": "10:30:100"}}
    for bad in ("'x; rm -rf /': {}", 'ok: {max_startups: "1\\n2"}', "ok: {other: 1}"):
        f.write_text(f"sshd_profiles:\n  {bad}\n")
        with pytest.raises(testbed.TestbedError, match="sshd_profiles"):
            testbed_cli._profiles(str(f))


def test_teardown_refuses_anything_but_a_testbed_dir(tmp_path):
    victim = tmp_path / "precious"
    victim.mkdir()
    (victim / "file").write_text("keep")
    own = tmp_path / "testbed" / "zq1"
    own.mkdir(parents=True)
    (own / "junk").write_text("x")
    env = {"SSHD_ALIVE": "/bin/false", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    for d in (victim, tmp_path / "testbed" / "zq1" / ".." / ".." / "precious",
              tmp_path / "testbed" / "other"):  # fmt: skip
        r = subprocess.run(["bash", TEARDOWN, "sbxzz", "zq1", str(d), "nouser-zq1", "/nonexistent"],
                           env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
        assert r.returncode == 2 and "refusing" in r.stderr, (d, r.stderr)
    assert (victim / "file").read_text() == "keep"
    r = subprocess.run(["bash", TEARDOWN, "sbxzz", "zq1", str(own), "nouser-zq1", "/nonexistent"],
                       env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert not (own / "junk").exists()
    cloud = tmp_path / "vms" / "zq1"  # the emulated cloud's directory (vms down)
    cloud.mkdir(parents=True)
    r = subprocess.run(["bash", TEARDOWN, "sbxzz", "zq1", str(cloud), "nouser-zq1", "/nonexistent"],
                       env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stderr


sys.path.insert(0, str(paths.ROOT / "tests" / "sshapi"))
CGROUP_SH = paths.ANSIBLE_DIR / "roles" / "testbed_host" / "files" / "cgroup.sh"


@pytest.mark.skipif(os.geteuid() != 0, reason="cgroups need root")
def test_cgroup_sh_never_adopts_a_group_it_did_not_make(tmp_path):
    """A group of the host's name that someone else made elsewhere keeps its limits; the
    script makes its own, and on a rerun reuses that one (its marker)."""
    import json

    from memcap import own_memory_cgroup  # tests/sshapi's cgroup helper

    version, own = own_memory_cgroup()
    name = f"sbxsec-cg{os.getpid()}"
    foreign_parent = own / f"sbxsec-other{os.getpid()}"
    foreign = foreign_parent / name
    env = {**os.environ, "CGROUP_MARKERS": str(tmp_path / "markers")}
    made: list[str] = []
    try:
        foreign.mkdir(parents=True)
        limit = "memory.limit_in_bytes" if version == 1 else "memory.max"
        before = (foreign / limit).read_text()
        out = subprocess.run(["bash", CGROUP_SH, "apply", name, "1", "64"], env=env,
                             capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
        show = subprocess.run(["bash", CGROUP_SH, "show", name], env=env,
                              capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
        shown = json.loads(show.stdout)
        made = [p for p in {shown["cpu_path"], shown["memory_path"], shown["cpuacct_path"]} if p]
        assert str(foreign) not in made, (made, out.stdout)
        assert (foreign / limit).read_text() == before
        assert shown["memory_limit_bytes"] == 64 * 1024 * 1024
        again = subprocess.run(["bash", CGROUP_SH, "apply", name, "1", "64"], env=env,
                               capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
        assert "changed" not in again.stdout, again.stdout
    finally:
        for p in sorted(made, reverse=True):
            with contextlib.suppress(OSError):
                os.rmdir(p)
        for p in (foreign, foreign_parent):
            with contextlib.suppress(OSError):
                p.rmdir()
