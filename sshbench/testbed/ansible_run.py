"""Run one Ansible playbook through ansible-runner, each run in its own directory.

Every run gets a fresh private data directory under ``runs_dir`` (so concurrent or repeated
runs never overwrite each other) and ansible-runner's artifacts stay there as the run's log:
``artifacts/<ident>/stdout``, ``job_events/``, ``rc``, ``status``, ``env/extravars.redacted`` (the
extra vars, credentials masked; the real file is 0600 and removed when the run ends).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sshbench import paths
from sshbench.redact import redact


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
    """Environment for ansible-playbook: the venv's bin first on PATH, our ansible.cfg, the
    emulated cloud's directory."""
    venv_bin = str(Path(sys.executable).parent)
    return {
        "PATH": os.pathsep.join([venv_bin, os.environ.get("PATH", "/usr/bin:/bin")]),
        "ANSIBLE_CONFIG": str(paths.ANSIBLE_DIR / "ansible.cfg"),
        "ANSIBLE_ROLES_PATH": str(paths.ANSIBLE_DIR / "roles"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        # Where the emulated cloud's vms.json is (read by inventories/vms-local).
        "SSHBENCH_VMS_DIR": str(paths.vms_dir().resolve()),
    }


def new_run_dir(runs_dir: Path, label: str) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    run_dir = runs_dir / f"{stamp}-{label}-{os.getpid()}-{secrets.token_hex(3)}"
    run_dir.mkdir(parents=True, mode=0o700)  # its env/ holds secrets while the run lasts
    run_dir.chmod(0o700)  # whatever the umask
    return run_dir


# A playbook that has not finished by then is stopped and reported as failed: nothing the
# testbed or the API deployment does takes more than a minute or two.
PLAYBOOK_TIMEOUT_S = 600


def run_playbook(
    playbook: str,
    inventory: Path,
    extravars: dict[str, Any],
    runs_dir: Path,
    label: str,
) -> RunResult:
    """Run ``ansible/playbooks/<playbook>``; raise PlaybookError naming the failed task/host.

    ansible-runner runs as a command of its own (``ansible-runner run``), not through its
    Python API in this process: the API spawns ansible-playbook on a pty from inside the
    caller, and that spawn blocked forever once in a threaded test process. A child process
    can also be bounded in time. The results are read back from the run's artifacts.
    """
    run_dir = new_run_dir(runs_dir, label)
    env_dir = run_dir / "env"
    env_dir.mkdir(mode=0o700)
    # JSON is YAML: ansible-runner reads both files as its env/ inputs. The extra vars may
    # hold a database password: 0600 while the run lasts, then only a redacted copy stays.
    secret = env_dir / "extravars"
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(extravars))
    (env_dir / "extravars.redacted").write_text(json.dumps(redact(extravars)))
    (env_dir / "envvars").write_text(json.dumps(runner_env()))
    command = [
        str(Path(sys.executable).parent / "ansible-runner"),
        "run",
        str(run_dir),
        "--project-dir",
        str(paths.ANSIBLE_DIR),
        "--playbook",
        str(paths.ANSIBLE_DIR / "playbooks" / playbook),
        "--inventory",
        str(inventory),
        "--ident",
        "run",
        "--quiet",
    ]
    started = time.monotonic()
    try:
        subprocess.run(command, env={**os.environ, **runner_env()}, timeout=PLAYBOOK_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        secret.unlink(missing_ok=True)
        raise PlaybookError(
            f"{playbook}: still running after {PLAYBOOK_TIMEOUT_S} s, stopped "
            f"(log: {run_dir / 'artifacts' / 'run' / 'stdout'})"
        ) from exc
    secret.unlink(missing_ok=True)
    elapsed = time.monotonic() - started
    artifacts = run_dir / "artifacts" / "run"
    events = read_events(artifacts)
    stats = next(
        (e.get("event_data", {}) for e in events if e.get("event") == "playbook_on_stats"), {}
    )
    result = RunResult(
        playbook=playbook,
        run_dir=run_dir,
        rc=int(_read(artifacts / "rc") or -1),
        status=_read(artifacts / "status") or "unknown",
        elapsed_s=elapsed,
        changed=sum((stats.get("changed") or {}).values()),
        stats=stats,
    )
    if result.rc != 0 or result.status != "successful":
        raise PlaybookError(f"{playbook}: {failure_summary(result, events)} (log: {result.log})")
    return result


def _read(path: Path) -> str:
    return path.read_text().strip() if path.exists() else ""


def read_events(artifacts: Path) -> list[dict[str, Any]]:
    """ansible-runner's job events of one run, in order."""
    files = sorted(
        (artifacts / "job_events").glob("*.json"), key=lambda f: int(f.name.split("-", 1)[0])
    )
    return [json.loads(f.read_text()) for f in files]


def facts_by_host(result: RunResult, name: str) -> dict[str, Any]:
    """The last value each host of a run set for the fact ``name`` (set_fact), from its
    events."""
    values: dict[str, Any] = {}
    for event in read_events(result.run_dir / "artifacts" / "run"):
        data = event.get("event_data") or {}
        facts = (data.get("res") or {}).get("ansible_facts") or {}
        if name in facts:
            values[str(data.get("host"))] = facts[name]
    return values


def fact(result: RunResult, name: str) -> Any:
    """The value a run set last for the fact ``name`` (None if no task set it)."""
    values = list(facts_by_host(result, name).values())
    return values[-1] if values else None


def failure_summary(result: RunResult, events: list[dict[str, Any]]) -> str:
    """One line: the first failed task, its host and the reason."""
    for event in events:
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
    tail = [line for line in _read(result.log).splitlines() if line.strip()][-3:]
    return f"ansible-playbook exited with rc={result.rc} ({result.status}): {' | '.join(tail)}"
