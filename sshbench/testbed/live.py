"""What is in force on a testbed host right now, read and set without an Ansible run: its CPU
quota and CPU counters (cgroups v1 or v2), the client's route to the hosts, and whether an
sshd is ours. Cheap enough to call before every sweep point, or every 0.5 s during one.

The cgroup paths come from what the testbed_host role recorded (``cgroup.sh show``, kept in
each host's provenance.json); this module only reads and writes files in groups the role made.
"""

from __future__ import annotations

import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The kernel refuses a CFS quota below 1 ms per period.
MIN_QUOTA_US = 1000


class LiveError(RuntimeError):
    """A group or route is not there or not usable; the message says which."""


@dataclass(frozen=True)
class Cgroup:
    """One host's groups: ``cpu`` holds the quota and cpu.stat; ``acct`` counts CPU time
    (cgroup v1: the cpuacct group, the same directory when co-mounted; v2: the cpu group)."""

    version: str
    cpu: Path
    acct: Path | None

    @classmethod
    def from_facts(cls, host: str, facts: dict[str, Any]) -> Cgroup:
        """From the ``cgroup`` block of a host's provenance (cgroup.sh show)."""
        version = str(facts.get("version"))
        if version not in ("1", "2") or not facts.get("exists") or not facts.get("cpu_path"):
            raise LiveError(
                f"host {host!r} has no CPU cgroup (cgroup version {version}): its CPU quota "
                "and counters are not available on this machine"
            )
        acct = facts.get("cpuacct_path") or (facts["cpu_path"] if version == "2" else None)
        return cls(version, Path(facts["cpu_path"]), Path(acct) if acct else None)


def _read(path: Path) -> str:
    # os.read on a small file: a third of the time of Path.read_text (no text wrapper).
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 4096).decode()
    finally:
        os.close(fd)


def read_quota(cg: Cgroup) -> tuple[int, int]:
    """(quota_us, period_us) in force; quota -1 means no limit."""
    if cg.version == "1":
        return int(_read(cg.cpu / "cpu.cfs_quota_us")), int(_read(cg.cpu / "cpu.cfs_period_us"))
    quota, period = _read(cg.cpu / "cpu.max").split()
    return (-1 if quota == "max" else int(quota)), int(period)


def cores(quota_us: int, period_us: int) -> float | None:
    """CPU cores a quota gives, or None for no limit."""
    return None if quota_us <= 0 else round(quota_us / period_us, 3)


def set_quota(cg: Cgroup, cpus: float) -> tuple[int, int, bool]:
    """Give the group ``cpus`` cores (quota = cpus x period); (quota, period, changed)."""
    current, period = read_quota(cg)
    quota = round(cpus * period)
    if quota < MIN_QUOTA_US:
        raise LiveError(
            f"{cpus} CPUs is a quota of {quota} us per {period} us period, below the kernel's "
            f"minimum of {MIN_QUOTA_US} us"
        )
    if quota == current:
        return quota, period, False
    if cg.version == "1":
        (cg.cpu / "cpu.cfs_quota_us").write_text(f"{quota}\n")
    else:
        (cg.cpu / "cpu.max").write_text(f"{quota} {period}\n")
    return quota, period, True


def counters(cg: Cgroup) -> dict[str, Any]:
    """The group's cumulative CPU time and CFS throttling counters, read now."""
    stat = dict(line.split() for line in _read(cg.cpu / "cpu.stat").splitlines())
    if cg.version == "2":
        cpu_s: float | None = int(stat["usage_usec"]) / 1e6
        throttled_s = int(stat["throttled_usec"]) / 1e6
    else:
        cpu_s = int(_read(cg.acct / "cpuacct.usage")) / 1e9 if cg.acct else None
        throttled_s = int(stat["throttled_time"]) / 1e9
    return {
        "cpu_s": cpu_s,
        "nr_periods": int(stat["nr_periods"]),
        "nr_throttled": int(stat["nr_throttled"]),
        "throttled_s": throttled_s,
    }


def procs(cg: Cgroup) -> set[int]:
    """PIDs in the host's CPU group and in its accounting group (they must be the same)."""
    out = set()
    for group in {cg.cpu, cg.acct or cg.cpu}:
        out |= {int(p) for p in _read(group / "cgroup.procs").split()}
    return out


# ---- the client's route to the hosts ------------------------------------------------------


def route_show(dest: str) -> str:
    """The client's route to ``dest`` as ``ip route show exact`` prints it ("" if none)."""
    out = subprocess.run(
        ["ip", "route", "show", "exact", dest], capture_output=True, text=True, check=True
    ).stdout
    return out.splitlines()[0].strip() if out.strip() else ""


def route_mode(route: str) -> str | None:
    """The client TCP mode a route line is in: quickack, default, or None (no route)."""
    if not route:
        return None
    return "quickack" if " quickack 1" in f" {route} " else "default"


def route_apply(script: Path, dest: str, mode: str) -> tuple[str, bool]:
    """Set the mode with the role's client_tcp.sh (the one implementation); (route, changed)."""
    done = subprocess.run(
        ["bash", str(script), "apply", dest, mode], capture_output=True, text=True, timeout=30
    )
    if done.returncode != 0:
        raise LiveError(f"client TCP mode {mode} on {dest}: {done.stderr.strip()}")
    lines = done.stdout.splitlines()
    return lines[-1].strip(), any(line.startswith("changed") for line in lines)


# ---- is this our sshd ---------------------------------------------------------------------


def pid_runs_sshd(pid: int | None, config: str) -> bool:
    """Whether process ``pid`` runs with ``-f config`` (the rule of the sshd role's
    files/sshd_alive.sh): a PID alone could be reused by any process after a crash. sshd
    rewrites its process title into one string ("sshd: /usr/sbin/sshd -f CONFIG ...
    [listener] ..."), so arguments are matched as words, not as argv entries."""
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{int(pid)}/cmdline").read_bytes().replace(b"\0", b" ")
    except (OSError, ValueError):
        return False
    return f" -f {config} ".encode() in b" " + cmdline + b" "


def answers_ssh(address: str, port: int, timeout_s: float = 5.0) -> bool:
    """Whether an SSH server answers at address:port with its banner (a real VM's sshd,
    whose PID is not ours to see)."""
    try:
        with socket.create_connection((address, port), timeout=timeout_s) as s:
            s.settimeout(timeout_s)
            return s.recv(64).startswith(b"SSH-2.0")
    except OSError:
        return False
