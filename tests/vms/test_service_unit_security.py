"""The service unit's sandbox (issue 24), rendered by Ansible from the role's defaults with an
allow-list, then checked by `systemd-analyze verify` and line by line: syscall filter, /proc
hidden, IPC private, memory and task caps, the data key loaded read-only, packets only to the
allowed networks, link-local denied, and every deny of the API's own check on its command."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sshbench import paths
from sshbench.testbed.ansible_run import runner_env

ROLE = paths.ANSIBLE_DIR / "roles" / "ssh_api"


def render(tmp_path: Path, extra: dict) -> str:
    unit = tmp_path / "sshapi.service"
    venv = Path(sys.executable).parent.parent
    subprocess.run(
        [Path(sys.executable).with_name("ansible"), "localhost", "-c", "local",
         "-m", "ansible.builtin.template",
         "-a", f"src={ROLE / 'templates' / 'sshapi.service.j2'} dest={unit}",
         "-e", f"@{ROLE / 'defaults' / 'main.yml'}",
         "-e", json.dumps({"ssh_api_mode": "service", "ssh_api_venv": str(venv), **extra})],
        env=runner_env() | {"HOME": str(tmp_path)}, cwd=paths.ANSIBLE_DIR, check=True,
        capture_output=True, timeout=120,
    )  # fmt: skip
    return unit.read_text()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_service_unit_is_sandboxed_and_verifies(tmp_path):
    text = render(
        tmp_path,
        {"ssh_api_allowed_networks": ["198.18.0.0/15"], "ssh_api_peer_networks": ["10.0.0.0/8"],
         "ssh_api_request_timeout": 12},
    )  # fmt: skip
    lines = set(text.splitlines())
    for want in (
        "SystemCallFilter=@system-service",
        "SystemCallArchitectures=native",
        "ProtectProc=invisible",
        "ProcSubset=pid",
        "PrivateIPC=yes",
        "RemoveIPC=yes",
        "MemoryMax=2G",
        "TasksMax=208",  # 1 worker x (2 x 64 threads + 16) + 64
        "LoadCredential=secret.key:/etc/sshapi/secret.key",
        "IPAddressDeny=169.254.0.0/16 fe80::/10",
        "IPAddressDeny=any",
        "IPAddressAllow=localhost 198.18.0.0/15 10.0.0.0/8",
    ):
        assert want in lines, want
    exec_start = next(ln for ln in lines if ln.startswith("ExecStart="))
    assert "--key-file %d/secret.key" in exec_start and "/var/lib/sshapi/secret.key" not in text
    for net in ("127.0.0.0/8", "::1/128", "169.254.0.0/16", "fe80::/10", "self"):
        assert f"--deny-network {net}" in exec_start
    assert "--request-timeout 12.0" in exec_start
    assert "--uniform-connect-errors" in exec_start  # a service answers connect errors alike
    proc = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "sshapi.service")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0 and not (proc.stdout + proc.stderr).strip(), proc.stderr
