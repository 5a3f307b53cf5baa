"""The real-VM default for the API is a systemd service (ssh_api_mode: service). This machine
has no systemd to run it, but `systemd-analyze verify` checks the rendered unit offline: every
key known, the executable present, the sandboxing directives accepted."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from sshbench import paths
from sshbench.testbed.ansible_run import runner_env

ROLE = paths.ANSIBLE_DIR / "roles" / "ssh_api"


def test_rendered_unit_passes_systemd_analyze_verify(tmp_path: Path, require):
    require(shutil.which("systemd-analyze"), "no systemd-analyze here (Debian package systemd)")
    unit = tmp_path / "sshapi.service"
    venv = Path(sys.executable).parent.parent  # holds bin/sshapi, as the VM's venv would
    subprocess.run(
        [
            Path(sys.executable).with_name("ansible"),
            "localhost",
            "-c",
            "local",
            "-m",
            "ansible.builtin.template",
            "-a",
            f"src={ROLE / 'templates' / 'sshapi.service.j2'} dest={unit}",
            "-e",
            f"@{ROLE / 'defaults' / 'main.yml'}",
            "-e",
            f"ssh_api_mode=service ssh_api_venv={venv} ssh_api_memory_max=1G",
        ],
        env=runner_env() | {"HOME": str(tmp_path)},
        cwd=paths.ANSIBLE_DIR,
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert f"ExecStart={venv}/bin/sshapi serve" in unit.read_text()
    proc = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    # verify exits 0 on unknown keys but names them: both must be clean
    assert proc.returncode == 0 and not (proc.stdout + proc.stderr).strip(), proc.stderr
