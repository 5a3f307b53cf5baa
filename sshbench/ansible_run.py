"""Run one Ansible playbook through ansible-runner, each run in its own directory.

Every run gets a fresh private data directory under ``runs_dir`` (so concurrent or repeated
runs never overwrite each other) and ansible-runner's artifacts stay there as the run's log:
``artifacts/<ident>/stdout``, ``job_events/``, ``rc``, ``status``, and ``env/extravars``.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sshbench import paths


class PlaybookError(RuntimeError):
    """A playbook failed; the message names the failed task and host, and the run's log."""


@dataclass
class RunResult:
    playbook: str
    run_dir: Path
    rc: int
    status: str
    elapsed_s: float
    changed: int
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def log(self) -> Path:
        return self.run_dir / "artifacts" / "run" / "stdout"


def runner_env() -> dict[str, str]:
    """Environment for ansible-playbook: the venv's bin first on PATH, our ansible.cfg."""
    venv_bin = str(Path(sys.executable).parent)
    return {
        "PATH": os.pathsep.join([venv_bin, os.environ.get("PATH", "/usr/bin:/bin")]),
        "ANSIBLE_CONFIG": str(paths.ANSIBLE_DIR / "ansible.cfg"),
        "ANSIBLE_ROLES_PATH": str(paths.ANSIBLE_DIR / "roles"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
    }


def new_run_dir(runs_dir: Path, label: str) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    run_dir = runs_dir / f"{stamp}-{label}-{os.getpid()}-{secrets.token_hex(3)}"
    run_dir.mkdir(parents=True)
    return run_dir


def run_playbook(
    playbook: str,
    inventory: Path,
    extravars: dict[str, Any],
    runs_dir: Path,
    label: str,
) -> RunResult:
    """Run ``ansible/playbooks/<playbook>``; raise PlaybookError naming the failed task/host."""
    import ansible_runner  # slow import: only when a playbook actually runs

    run_dir = new_run_dir(runs_dir, label)
    started = time.monotonic()
    runner = ansible_runner.run(
        private_data_dir=str(run_dir),
        project_dir=str(paths.ANSIBLE_DIR),
        playbook=str(paths.ANSIBLE_DIR / "playbooks" / playbook),
        inventory=str(inventory),
        extravars=extravars,
        envvars=runner_env(),
        ident="run",
        quiet=True,
    )
    elapsed = time.monotonic() - started
    stats = runner.stats or {}
    result = RunResult(
        playbook=playbook,
        run_dir=run_dir,
        rc=runner.rc,
        status=runner.status,
        elapsed_s=elapsed,
        changed=sum((stats.get("changed") or {}).values()),
        stats=stats,
    )
    if runner.rc != 0 or runner.status != "successful":
        raise PlaybookError(f"{playbook}: {failure_summary(runner)} (log: {result.log})")
    return result


def failure_summary(runner: Any) -> str:
    """One line: the first failed task, its host and the reason."""
    for event in runner.events:
        kind = event.get("event")
        data = event.get("event_data", {})
        if kind not in ("runner_on_failed", "runner_on_unreachable") or data.get("ignore_errors"):
            continue
        res = data.get("res", {}) or {}
        reason = str(res.get("msg") or "").strip()
        detail = str(res.get("stderr") or res.get("module_stderr") or "").strip()
        if detail and detail not in reason:
            reason = f"{reason}: {detail}" if reason else detail
        reason = " | ".join(line.strip() for line in reason.splitlines() if line.strip())
        what = "unreachable" if kind == "runner_on_unreachable" else "failed"
        return f"task {data.get('task')!r} {what} on host {data.get('host')!r}: {reason[:400]}"
    tail = [line for line in runner.stdout.read().splitlines() if line.strip()][-3:]
    return f"ansible-playbook exited with rc={runner.rc} ({runner.status}): {' | '.join(tail)}"
