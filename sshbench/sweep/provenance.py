"""Provenance of a sweep point: code version, the lock's hash, package, Debian package and
OpenSSH versions, the hosts' resolved sshd configs, and the machine. Everything a reviewer
needs to tell two runs apart.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from sshbench import paths

PACKAGES = (
    "sshapi-bench",
    "ssh2-python",
    "paramiko",
    "locust",
    "snakemake",
    "ansible-core",
    "ansible-runner",
    "gunicorn",
    "flask",
    "psutil",
)


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _run(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10, cwd=paths.ROOT)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (out.stdout or out.stderr).strip()


@functools.cache
def git() -> dict[str, Any]:
    """Commit of the working tree, and whether it had uncommitted changes."""
    commit = _run(["git", "rev-parse", "HEAD"]) or None
    dirty = bool(_run(["git", "status", "--porcelain", "--untracked-files=no"]))
    return {"git_commit": commit, "git_dirty": dirty if commit else None}


@functools.cache
def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    out["openssh_client"] = _run(["ssh", "-V"]) or None
    out["python"] = platform.python_version()
    return out


@functools.cache
def lock_sha256() -> str | None:
    """sha256 of requirements.lock, the environment the run was installed from (None: no
    lock in this checkout)."""
    try:
        return hashlib.sha256(paths.LOCK_FILE.read_bytes()).hexdigest()
    except OSError:
        return None


@functools.cache
def system_packages() -> dict[str, str] | None:
    """The Debian packages and kernel scripts/setup-system.sh recorded ({name: version}), or
    None when it has not run in this checkout."""
    try:
        lines = paths.SYSTEM_PACKAGES_FILE.read_text().splitlines()
    except OSError:
        return None
    return dict(line.split("\t", 1) for line in lines if "\t" in line)


def _os_release() -> str | None:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return None


@functools.cache
def machine() -> dict[str, Any]:
    return {
        "hostname": platform.node(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu_model": _cpu_model(),
        "memory_bytes": psutil.virtual_memory().total,
        "kernel": platform.release(),
        "os": _os_release(),
        "arch": platform.machine(),
    }


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _host_facts(provenance_file: str | None) -> dict[str, Any]:
    """The parts of a host's provenance.json (written by the testbed) a point keeps."""
    if not provenance_file:
        return {}
    try:
        data = json.loads(Path(provenance_file).read_text())
    except (OSError, ValueError):
        return {"provenance_file": provenance_file, "readable": False}
    keep = {k: v for k, v in data.items() if k != "sshd_T"}  # sshd -T stays in the file
    return {"provenance_file": provenance_file, **keep}


def collect(status: dict[str, Any], deployment: dict[str, Any] | None) -> dict[str, Any]:
    """The point.json `provenance` block."""
    hosts = status.get("hosts", {})
    hosts_facts = {
        h: {"address": v.get("address"), **_host_facts(v.get("provenance"))}
        for h, v in hosts.items()
    }
    api = None
    if deployment:
        health = deployment.get("healthz") or {}
        api = {
            "url": deployment.get("url"),
            "settings": deployment.get("wanted"),
            # what the running API answered at this point (a reused deployment is checked
            # against /healthz before the point), and whether the point redeployed it
            "served": {k: health.get(k) for k in ("library", "connections", "sshapi")},
            "reused": deployment.get("reused"),
            "deployed_at": deployment.get("deployed_at"),
            "versions": health.get("versions"),
            "socket_options": health.get("socket_options"),
            "kex": health.get("kex"),
        }
    server = sorted(
        {str(v.get("sshd_version")) for v in hosts_facts.values() if v.get("sshd_version")}
    )
    return {
        **git(),
        "lock_sha256": lock_sha256(),
        "versions": {**versions(), "openssh_server": ", ".join(server) or None},
        "system_packages": system_packages(),
        "sshd_config_sha256": {h: v.get("sshd_config_sha256") for h, v in hosts.items()},
        "machine": machine(),
        "testbed": {
            "name": status.get("testbed"),
            "inventory": status.get("inventory"),
            "profile": status.get("profile"),
            "client_address": status.get("client_address"),
            "notes": status.get("notes"),
            "hosts": hosts_facts,
        },
        "api": api,
    }
