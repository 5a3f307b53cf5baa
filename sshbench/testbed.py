"""The testbed: emulated (or real) SSH hosts, provisioned and reconfigured by Ansible.

One Python call per step, used by the workflow and by ``sshbench testbed ...``:
``up``, ``switch``, ``status``, ``down``. Everything a testbed makes carries
``paths.OBJECT_PREFIX`` and ``paths.testbed_name()``, and its files live under
``paths.testbed_dir()``: ``state.json`` (what was asked), ``status.json`` (what is up),
``client/`` (the test user's key), ``hosts/<host>/`` (sshd config, host keys, PID file, log,
provenance.json) and ``runs/`` (one ansible-runner directory per playbook run, kept as logs).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import ipaddress
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from sshbench import paths
from sshbench.ansible_run import PlaybookError, RunResult, run_playbook

PROFILES_FILE = paths.ANSIBLE_DIR / "profiles.yml"
SSHD_SPECS = paths.ANSIBLE_DIR / "roles" / "sshd" / "meta" / "argument_specs.yml"
BENCH_NETWORK = ipaddress.ip_network("198.18.0.0/15")

# sshd role variables that belong to the host, not to a profile.
_NOT_PROFILE = {
    "sshd_binary",
    "sshd_config_path",
    "sshd_host_key_dir",
    "sshd_manage_host_keys",
    "sshd_pid_file",
    "sshd_log_file",
    "sshd_privsep_dir",
    "sshd_listen_address",
    "sshd_port",
    "sshd_reload_method",
    "sshd_service_name",
    "sshd_profile",
}
_MAX_STARTUPS_RE = re.compile(r"^\d+(:\d+:\d+)?$")


class TestbedError(RuntimeError):
    """Bad input or a failed step; the message says what and where."""

    __test__ = False  # not a pytest test class


# ---- names and addresses ------------------------------------------------------------------


def user_name(name: str | None = None) -> str:
    """The test user of a testbed: one per testbed, so two testbeds never share it."""
    return f"{paths.OBJECT_PREFIX}{name or paths.testbed_name()}"


def subnet(name: str | None = None) -> ipaddress.IPv4Network:
    """The testbed's /24 in 198.18.0.0/15, derived from its name (stable across runs)."""
    name = name or paths.testbed_name()
    index = int(hashlib.sha256(name.encode()).hexdigest(), 16) % 512
    return ipaddress.ip_network(f"198.{18 + index // 256}.{index % 256}.0/24")


def bridge_name(name: str | None = None) -> str:
    return f"{paths.OBJECT_PREFIX}-{name or paths.testbed_name()}-br"


def check_subnet_free(name: str | None = None) -> None:
    """Refuse to use a subnet that an interface other than our own bridge already has."""
    name = name or paths.testbed_name()
    net = subnet(name)
    out = subprocess.run(
        ["ip", "-j", "addr", "show"], capture_output=True, text=True, check=True
    ).stdout
    for link in json.loads(out):
        if link.get("ifname") == bridge_name(name):
            continue
        for addr in link.get("addr_info", []):
            if addr.get("family") != "inet":
                continue
            iface = ipaddress.ip_interface(f"{addr['local']}/{addr['prefixlen']}")
            if iface.ip in net or net.overlaps(iface.network):
                raise TestbedError(
                    f"testbed {name!r} would use {net}, but {iface} is already on "
                    f"{link['ifname']}: pick another SSHBENCH_TESTBED name"
                )


# ---- profiles -----------------------------------------------------------------------------


def builtin_profiles() -> dict[str, dict[str, Any]]:
    return yaml.safe_load(PROFILES_FILE.read_text())["sshd_profiles"]


def profile_keys() -> set[str]:
    """Role variables a profile may set (from the sshd role's argument specs)."""
    options = yaml.safe_load(SSHD_SPECS.read_text())["argument_specs"]["main"]["options"]
    return {k for k in options if k not in _NOT_PROFILE}


def _snake(key: str) -> str:
    key = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key).lower()
    return key if key.startswith("sshd_") else f"sshd_{key}"


def resolve_profile(profile: str, profiles: dict[str, Any] | None = None) -> dict[str, Any]:
    """The sshd_* variables of one profile; keys may be max_startups, sshd_max_startups or
    MaxStartups. Only the form is checked here: `sshd -t` judges the values."""
    merged = {**builtin_profiles(), **(profiles or {})}
    if profile not in merged:
        raise TestbedError(f"unknown sshd profile {profile!r}: known are {sorted(merged)}")
    settings = merged[profile] or {}
    if not isinstance(settings, dict):
        raise TestbedError(f"sshd profile {profile!r} must be a mapping, not {settings!r}")
    allowed = profile_keys()
    out: dict[str, Any] = {"sshd_profile": profile}
    for key, value in settings.items():
        var = _snake(str(key))
        if var not in allowed:
            raise TestbedError(
                f"sshd profile {profile!r}: unknown setting {key!r}; "
                f"allowed: {sorted(k.removeprefix('sshd_') for k in allowed)}"
            )
        out[var] = value
    if "sshd_max_startups" in out:
        value = str(out["sshd_max_startups"])
        if not _MAX_STARTUPS_RE.match(value):
            raise TestbedError(
                f"sshd profile {profile!r}: max_startups {out['sshd_max_startups']!r} "
                "is not N or start:rate:full (quote it in YAML)"
            )
        out["sshd_max_startups"] = value
    return out


# ---- inventories and state ----------------------------------------------------------------


def inventory_path(inventory: str) -> Path:
    """A name under ansible/inventories/ (e.g. local) or a path to an inventory."""
    named = paths.INVENTORIES_DIR / inventory
    if named.exists():
        return named
    if Path(inventory).exists():
        return Path(inventory).resolve()
    known = sorted(p.name for p in paths.INVENTORIES_DIR.iterdir())
    raise TestbedError(f"unknown inventory {inventory!r}: use one of {known} or a path")


def _state_file() -> Path:
    return paths.testbed_dir() / "state.json"


def _read_state() -> dict[str, Any]:
    try:
        return json.loads(_state_file().read_text())
    except FileNotFoundError:
        return {}


def _common_vars(name: str) -> dict[str, Any]:
    net = subnet(name)
    base = str(net.network_address).rsplit(".", 1)[0]
    tdir = paths.testbed_dir(name).resolve()
    return {
        "testbed_name": name,
        "testbed_prefix": paths.OBJECT_PREFIX,
        "testbed_dir": str(tdir),
        "testbed_subnet": base,
        "testbed_client_address": f"{base}.1",
        "testbed_user": user_name(name),
        "testbed_client_key": str(tdir / "client" / "id_ed25519"),
    }


@contextlib.contextmanager
def _lock() -> Iterator[None]:
    """One step at a time per testbed, even when several processes drive it."""
    runs = paths.testbed_dir() / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    with open(runs / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _run(playbook: str, inventory: str, extravars: dict[str, Any], label: str) -> RunResult:
    runs = paths.testbed_dir() / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    try:
        return run_playbook(playbook, inventory_path(inventory), extravars, runs, label)
    except PlaybookError as exc:
        raise TestbedError(f"testbed {paths.testbed_name()!r} {label} failed: {exc}") from None


def _run_summary(result: RunResult) -> dict[str, Any]:
    return {
        "playbook": result.playbook,
        "changed": result.changed,
        "elapsed_s": round(result.elapsed_s, 2),
        "log": str(result.run_dir),
    }


# ---- the four steps -----------------------------------------------------------------------


def up(
    inventory: str = "local", profile: str = "default", profiles: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Provision every host of ``inventory`` with ``profile``; idempotent (a second call with
    the same profile changes nothing). ``profiles`` adds or overrides profiles (a sweep's own
    ``sshd_profiles``); they are remembered for later ``switch`` calls."""
    name = paths.testbed_name()
    inventory_path(inventory)
    if inventory == "local" and os.geteuid() != 0:
        raise TestbedError(
            "the local testbed needs root (network namespaces, cgroups, useradd): run as root"
        )
    with _lock():
        known = {**_read_state().get("profiles", {}), **(profiles or {})}
        settings = resolve_profile(profile, known)
        if inventory == "local":
            check_subnet_free(name)
        result = _run("testbed_up.yml", inventory, {**_common_vars(name), **settings}, "up")
        _write_state(inventory, profile, known)
    return {**status(), "run": _run_summary(result)}


def switch(profile: str, profiles: dict[str, Any] | None = None) -> dict[str, Any]:
    """Give every host another sshd profile: only sshd_config changes, sshd reloads (same PID).
    A profile that sshd -t rejects is refused and the old config keeps running."""
    with _lock():
        state = _read_state()
        if not state:
            raise TestbedError(
                f"testbed {paths.testbed_name()!r} is not up: run `sshbench testbed up` first"
            )
        known = {**state.get("profiles", {}), **(profiles or {})}
        settings = resolve_profile(profile, known)
        extravars = {**_common_vars(paths.testbed_name()), **settings}
        result = _run("testbed_switch.yml", state["inventory"], extravars, "switch")
        _write_state(state["inventory"], profile, known)
    return {**status(), "run": _run_summary(result)}


def status() -> dict[str, Any]:
    """What is up: hosts, addresses, profile, key and provenance paths (also status.json)."""
    name = paths.testbed_name()
    state = _read_state()
    hosts: dict[str, Any] = {}
    notes: set[str] = set()
    for prov_file in sorted((paths.testbed_dir() / "hosts").glob("*/provenance.json")):
        prov = json.loads(prov_file.read_text())
        hosts[prov_file.parent.name] = {
            **prov["connection"],
            "sshd_pid": prov["sshd_pid"],
            "alive": _alive(prov),
            "profile": prov["profile"],
            "provenance": str(prov_file),
            "sshd_config_sha256": prov["sshd_config"]["sha256"],
        }
        notes.update(prov.get("notes", []))
    out = {
        "testbed": name,
        "inventory": state.get("inventory"),
        "profile": state.get("profile"),
        "client_address": state.get("client_address"),
        "hosts": hosts,
        "notes": sorted(notes),
    }
    if state:
        (paths.testbed_dir() / "status.json").write_text(json.dumps(out, indent=2) + "\n")
    return out


def _alive(prov: dict[str, Any]) -> bool | None:
    """Whether a local host's sshd runs (None for a real VM: its PIDs are not ours to see)."""
    if prov.get("host_facts", {}).get("kind") != "netns":
        return None
    try:
        cmdline = Path(f"/proc/{prov['sshd_pid']}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    return f"-f {prov['sshd_config']['path']}".encode() in cmdline


def down() -> None:
    """Remove everything the testbed made (also a crashed run's leftovers); safe twice."""
    with _lock():
        inventory = _read_state().get("inventory", "local")
        _run("testbed_down.yml", inventory, _common_vars(paths.testbed_name()), "down")


@contextlib.contextmanager
def session(
    inventory: str = "local", profile: str = "default", profiles: dict[str, Any] | None = None
) -> Iterator[dict[str, Any]]:
    """``with session() as tb:`` brings the testbed up and always tears it down."""
    try:
        yield up(inventory, profile, profiles)
    finally:
        down()


def _write_state(inventory: str, profile: str, profiles: dict[str, Any] | None) -> None:
    name = paths.testbed_name()
    state = {
        "testbed": name,
        "inventory": inventory,
        "profile": profile,
        "client_address": _common_vars(name)["testbed_client_address"],
        "subnet": str(subnet(name)),
        "profiles": profiles or {},
    }
    tmp = _state_file().with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.replace(_state_file())
