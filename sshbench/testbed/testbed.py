"""The testbed: emulated (or real) SSH hosts, provisioned and reconfigured by Ansible.

One Python call per step, used by the workflow and by ``sshbench testbed ...``:
``up``, ``switch``, ``status``, ``down``; and the calls the runner makes around every point,
with no Ansible run: ``set_host_cpus``, ``host_cpu_counters``, ``set_client_tcp``,
``sshd_alive`` (the kernel side of those lives in ``sshbench.testbed.live``).

Everything a testbed makes carries ``paths.OBJECT_PREFIX`` and ``paths.testbed_name()``, and
its files live under ``paths.testbed_dir()``: ``state.json`` (what was asked: inventory,
profile, profiles, host_cpus, client_tcp), ``status.json`` (what is up),
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
from sshbench.testbed import live
from sshbench.testbed.ansible_run import PlaybookError, RunResult, fact, run_playbook

PROFILES_FILE = paths.ANSIBLE_DIR / "profiles.yml"
SSHD_DEFAULTS = paths.ANSIBLE_DIR / "roles" / "sshd" / "defaults" / "main.yml"
SSHD_BINARY = "/usr/sbin/sshd"
CLIENT_TCP_SH = paths.ANSIBLE_DIR / "roles" / "testbed_host" / "files" / "client_tcp.sh"
BENCH_NETWORK = ipaddress.ip_network("198.18.0.0/15")
CLIENT_TCP_MODES = ("default", "quickack")
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


def profile_keys() -> list[str]:
    """Settings a profile may set: the keys of the sshd role's sshd_profile_defaults (the one
    list; the role's tasks/check_vars.yml refuses any other key too)."""
    return list(yaml.safe_load(SSHD_DEFAULTS.read_text())["sshd_profile_defaults"])


def _snake(key: str) -> str:
    """max_startups, sshd_max_startups and MaxStartups all name max_startups."""
    key = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key).lower()
    return key.removeprefix("sshd_")


def resolve_profile(profile: str, profiles: dict[str, Any] | None = None) -> dict[str, Any]:
    """The sshd role's variables for one profile: ``{"sshd_profile": name,
    "sshd_profile_settings": {max_startups: ..., ...}}``. Keys may be written max_startups,
    sshd_max_startups or MaxStartups. Only the form is checked here (so a sweep config fails
    before anything is provisioned): `sshd -t` judges the values."""
    merged = {**builtin_profiles(), **(profiles or {})}
    if profile not in merged:
        raise TestbedError(f"unknown sshd profile {profile!r}: known are {sorted(merged)}")
    given = merged[profile] or {}
    if not isinstance(given, dict):
        raise TestbedError(f"sshd profile {profile!r} must be a mapping, not {given!r}")
    allowed = profile_keys()
    settings: dict[str, Any] = {}
    for key, value in given.items():
        name = _snake(str(key))
        if name not in allowed:
            raise TestbedError(
                f"sshd profile {profile!r}: unknown setting {key!r}; allowed: {sorted(allowed)}"
            )
        settings[name] = value
    if "max_startups" in settings:
        value = str(settings["max_startups"])
        if not _MAX_STARTUPS_RE.match(value):
            raise TestbedError(
                f"sshd profile {profile!r}: max_startups {settings['max_startups']!r} "
                "is not N or start:rate:full (quote it in YAML)"
            )
        settings["max_startups"] = value
    return {"sshd_profile": profile, "sshd_profile_settings": settings}


def profile_defaults() -> dict[str, Any]:
    """OpenSSH's own values of every profile setting (the sshd role's sshd_profile_defaults)."""
    return dict(yaml.safe_load(SSHD_DEFAULTS.read_text())["sshd_profile_defaults"])


_TIME_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _as_sshd_t(key: str, value: Any) -> str:
    """A profile value as `sshd -T` prints it: MaxStartups 10 -> 10:30:10 (sshd's own
    rate and full for a single number), LoginGraceTime 2m -> 120."""
    text = str(value).strip().lower()
    if key == "max_startups" and text.isdigit():
        return f"{text}:30:{text}"
    if key == "login_grace_time":
        parts = re.findall(r"(\d+)([smhdw]?)", text)
        if parts and "".join(n + u for n, u in parts) == text:
            return str(sum(int(n) * _TIME_UNITS[u] for n, u in parts))
    return text


def sshd_t(host: dict[str, Any]) -> tuple[dict[str, str], str]:
    """The host's resolved sshd config as `sshd -T` prints it ({keyword: value}) and where it
    came from: a local host's sshd_config read now (`sshd -T -f`, ~50 ms); a real VM's as
    Ansible recorded it right after its last change (provenance.json `sshd_T`)."""
    config = host.get("sshd_config")
    if host.get("kind") != "remote" and config and Path(config).is_file():
        proc = subprocess.run(
            [SSHD_BINARY, "-T", "-f", config], capture_output=True, text=True, timeout=30
        )
        if proc.returncode != 0:
            raise TestbedError(f"sshd -T -f {config} failed: {proc.stderr.strip()[:300]}")
        lines, source = proc.stdout.splitlines(), f"sshd -T -f {config}"
    else:
        try:
            lines = json.loads(Path(host["provenance"]).read_text())["sshd_T"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise TestbedError(f"no sshd -T record for the host ({exc})") from None
        source = f"sshd_T in {host['provenance']}"
    out = {}
    for line in lines:
        key, _, value = line.partition(" ")
        out.setdefault(key.lower(), value.strip())
    return out, source


def check_profile(
    name: str, host: dict[str, Any], profile: str, profiles: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The host's sshd runs with `profile`: every profile setting (the profile's, over
    OpenSSH's defaults) as `sshd -T` shows it. A mismatch is a TestbedError naming the
    setting; otherwise ``{"profile", "settings": {sshd -T keyword: value}, "source"}``."""
    if host.get("profile") != profile:
        raise TestbedError(
            f"host {name!r} has sshd profile {host.get('profile')!r}, the point wants {profile!r}"
        )
    want = {**profile_defaults(), **resolve_profile(profile, profiles)["sshd_profile_settings"]}
    applied, source = sshd_t(host)
    settings = {}
    for key, value in want.items():
        word = key.replace("_", "")
        expected = _as_sshd_t(key, value)
        if applied.get(word) != expected:
            raise TestbedError(
                f"host {name!r}: {source} shows {word} {applied.get(word)!r}, "
                f"profile {profile!r} wants {expected!r}"
            )
        settings[word] = expected
    return {"profile": profile, "settings": settings, "source": source}


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


def _kept_vars(state: dict[str, Any], inventory: str) -> dict[str, Any]:
    """What earlier set_host_cpus / set_client_tcp calls set, so `up` and `switch` keep it
    instead of resetting it to the inventory's values (and a second `up` changes nothing)."""
    if state.get("inventory") != inventory:
        return {"testbed_host_cpus_set": {}, "testbed_host_client_tcp": "default"}
    return {
        "testbed_host_cpus_set": state.get("host_cpus", {}),
        "testbed_host_client_tcp": state.get("client_tcp") or "default",
    }


def up(
    inventory: str = "local", profile: str = "default", profiles: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Provision every host of ``inventory`` with ``profile``; idempotent (a second call with
    the same profile changes nothing). ``profiles`` adds or overrides profiles (a sweep's own
    ``sshd_profiles``); they are remembered for later ``switch`` calls. Host CPU quotas and
    the client TCP mode set since the last `up` are kept."""
    name = paths.testbed_name()
    inventory_path(inventory)
    if inventory == "local" and os.geteuid() != 0:
        raise TestbedError(
            "the local testbed needs root (network namespaces, cgroups, useradd): run as root"
        )
    with _lock():
        state = _read_state()
        known = {**state.get("profiles", {}), **(profiles or {})}
        settings = resolve_profile(profile, known)
        if inventory == "local":
            check_subnet_free(name)
        kept = _kept_vars(state, inventory)
        extravars = {**_common_vars(name), **kept, **settings}
        result = _run("testbed_up.yml", inventory, extravars, "up")
        _write_state(
            inventory=inventory,
            profile=profile,
            profiles=known,
            host_cpus=kept["testbed_host_cpus_set"],
            client_tcp=kept["testbed_host_client_tcp"],
        )
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
        kept = _kept_vars(state, state["inventory"])
        extravars = {**_common_vars(paths.testbed_name()), **kept, **settings}
        result = _run("testbed_switch.yml", state["inventory"], extravars, "switch")
        _write_state(profile=profile, profiles=known)
    return {**status(), "run": _run_summary(result)}


def status() -> dict[str, Any]:
    """What is up: hosts (address, key, sshd PID and liveness, CPU quota in force, cgroup),
    profile, the client's TCP mode and route, provenance paths (also status.json)."""
    name = paths.testbed_name()
    state = _read_state()
    hosts: dict[str, Any] = {}
    notes: set[str] = set()
    for prov_file in sorted((paths.testbed_dir() / "hosts").glob("*/provenance.json")):
        prov = json.loads(prov_file.read_text())
        facts = prov.get("host_facts", {})
        host = {
            **prov["connection"],
            "kind": facts.get("kind"),
            "sshd_pid": prov["sshd_pid"],
            "sshd_config": prov["sshd_config"]["path"],
            "profile": prov["profile"],
            "provenance": str(prov_file),
            "sshd_config_sha256": prov["sshd_config"]["sha256"],
            **_cpus_in_force(prov_file.parent.name, facts),
        }
        host["alive"] = sshd_alive(host)
        hosts[prov_file.parent.name] = host
        notes.update(prov.get("notes", []))
    out = {
        "testbed": name,
        "inventory": state.get("inventory"),
        "profile": state.get("profile"),
        "client_address": state.get("client_address"),
        **_client_tcp_in_force(state, hosts),
        "hosts": hosts,
        "notes": sorted(notes),
    }
    if state:
        (paths.testbed_dir() / "status.json").write_text(json.dumps(out, indent=2) + "\n")
    return out


def down() -> None:
    """Remove everything the testbed made (also a crashed run's leftovers); safe twice.
    The client's route attribute goes too (local: with the bridge; cloud: set back to default)."""
    with _lock():
        inventory = _read_state().get("inventory", "local")
        extravars = {**_common_vars(paths.testbed_name()), "testbed_host_client_tcp": "default"}
        _run("testbed_down.yml", inventory, extravars, "down")


@contextlib.contextmanager
def session(
    inventory: str = "local", profile: str = "default", profiles: dict[str, Any] | None = None
) -> Iterator[dict[str, Any]]:
    """``with session() as tb:`` brings the testbed up and always tears it down."""
    try:
        yield up(inventory, profile, profiles)
    finally:
        down()


def _write_state(**updates: Any) -> None:
    """Merge ``updates`` into state.json (what was asked: inventory, profile, profiles,
    host_cpus, client_tcp), atomically."""
    name = paths.testbed_name()
    state = {
        **_read_state(),
        "testbed": name,
        "client_address": _common_vars(name)["testbed_client_address"],
        "subnet": str(subnet(name)),
        **updates,
    }
    _write_json(_state_file(), state)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomically. provenance.json as the testbed_provenance role writes it (to_nice_json), so a
    later `up` with the same values finds nothing to change."""
    if path.name == "provenance.json":
        text = json.dumps(data, indent=4, sort_keys=True, separators=(",", ": "))
    else:
        text = json.dumps(data, indent=2)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(text + "\n")
    tmp.replace(path)


# ---- between points: CPU quota, CPU counters, client TCP mode, sshd liveness ------------------
# The runner calls these before (and during) every point: no Ansible run, a few file reads.

_CGROUPS: dict[str, tuple[int, live.Cgroup | None]] = {}


def _provenance_file(host: str) -> Path:
    return paths.testbed_dir() / "hosts" / host / "provenance.json"


def _cgroup(host: str) -> live.Cgroup | None:
    """The host's groups as the role recorded them (None for a real VM); cached while its
    provenance.json is unchanged, so a call costs one stat."""
    prov_file = _provenance_file(host)
    try:
        mtime = prov_file.stat().st_mtime_ns
    except FileNotFoundError:
        raise TestbedError(
            f"host {host!r} is not up in testbed {paths.testbed_name()!r} "
            f"(no {prov_file}): run `sshbench testbed up` first"
        ) from None
    hit = _CGROUPS.get(str(prov_file))
    if hit and hit[0] == mtime:
        return hit[1]
    facts = json.loads(prov_file.read_text()).get("host_facts", {})
    try:
        cg = live.Cgroup.from_facts(host, facts["cgroup"]) if facts.get("kind") == "netns" else None
    except live.LiveError as exc:
        raise TestbedError(str(exc)) from None
    _CGROUPS[str(prov_file)] = (mtime, cg)
    return cg


def _cpus_in_force(host: str, facts: dict[str, Any]) -> dict[str, Any]:
    """``cpus`` (the quota in force, read from the kernel; a real VM's vCPUs) and ``cgroup``."""
    if facts.get("kind") != "netns":
        return {"cpus": (facts.get("vm") or {}).get("vcpus"), "cgroup": None}
    try:
        cg = _cgroup(host)
        if cg is not None:
            return {"cpus": live.cores(*live.read_quota(cg)), "cgroup": str(cg.cpu)}
    except (TestbedError, OSError):
        pass
    return {"cpus": None, "cgroup": None}


def set_host_cpus(host: str, cpus: float) -> dict[str, Any]:
    """Give a local host ``cpus`` cores (its CFS quota, cgroup v1 or v2) from now on.
    Idempotent; when the quota is already in force it only reads two files. The value is
    kept in state.json (a later `up` keeps it) and in the host's provenance.json.
    A real VM's CPUs are its own: asking for its vCPU count is a no-op, anything else an error.
    Returns ``{"host", "cpus", "cgroup", "changed"}``."""
    try:
        cpus = float(cpus)
    except (TypeError, ValueError):
        raise TestbedError(f"host_cpus must be a positive number, not {cpus!r}") from None
    if not 0 < cpus < float("inf"):  # also refuses NaN
        raise TestbedError(f"host_cpus must be a positive number, not {cpus!r}")
    cg = _cgroup(host)
    if cg is None:
        prov = json.loads(_provenance_file(host).read_text())
        vcpus = (prov.get("host_facts", {}).get("vm") or {}).get("vcpus")
        if vcpus is not None and float(vcpus) == cpus:
            return {"host": host, "cpus": cpus, "cgroup": None, "changed": False}
        raise TestbedError(
            f"host {host!r} is a real VM with {vcpus} vCPUs: host_cpus {cpus:g} cannot be "
            "applied there (a CPU quota is a local-testbed setting)"
        )
    try:
        quota, period, changed = live.set_quota(cg, cpus)
    except (live.LiveError, OSError) as exc:
        raise TestbedError(f"host {host!r}: cannot set {cpus:g} CPUs: {exc}") from None
    if changed:
        with _lock():
            _record_cpus(host, cpus, quota, period)
    in_force = live.cores(quota, period)
    return {"host": host, "cpus": in_force, "cgroup": str(cg.cpu), "changed": changed}


def _record_cpus(host: str, cpus: float, quota: int, period: int) -> None:
    """Write the quota now in force where `up` would have: state.json and provenance.json."""
    state = _read_state()
    _write_state(host_cpus={**state.get("host_cpus", {}), host: cpus})
    prov_file = _provenance_file(host)
    prov = json.loads(prov_file.read_text())
    facts = prov.setdefault("host_facts", {})
    facts.setdefault("requested", {})["cpu_cores"] = cpus
    facts.setdefault("cgroup", {}).update(cpu_quota_us=quota, cpu_period_us=period)
    facts["cpu_cores_applied"] = live.cores(quota, period)
    _write_json(prov_file, prov)


def host_cpu_counters(host: str) -> dict[str, Any]:
    """The host's cumulative CPU counters, read from its cgroup now: ``cpu_s`` (CPU seconds of
    sshd and everything it runs), ``nr_periods``, ``nr_throttled`` (CFS periods, and those in
    which the quota ran out) and ``throttled_s``. A few file reads (see README for the cost).
    A real VM's counters are not readable from here: every value is None."""
    cg = _cgroup(host)
    if cg is None:
        return {"cpu_s": None, "nr_periods": None, "nr_throttled": None, "throttled_s": None}
    try:
        return live.counters(cg)
    except OSError as exc:
        raise TestbedError(f"host {host!r}: cannot read its CPU counters: {exc}") from None


def set_client_tcp(mode: str) -> dict[str, Any]:
    """Put the client's TCP towards the hosts in ``mode``: ``quickack`` (the quickack 1
    attribute on the client's route to the hosts' /24: ACKs are not delayed) or ``default``.
    Idempotent. Local testbed: runs the role's client_tcp.sh (no Ansible run); another
    inventory: the testbed_client_tcp.yml playbook on its client VM, skipped when the mode
    recorded is already ``mode``. Returns ``{"mode", "route", "changed"}``."""
    if mode not in CLIENT_TCP_MODES:
        raise TestbedError(f"client TCP mode must be one of {list(CLIENT_TCP_MODES)}, not {mode!r}")
    state = _read_state()
    if not state:
        raise TestbedError(
            f"testbed {paths.testbed_name()!r} is not up: run `sshbench testbed up` first"
        )
    if _client_is_here(state):
        try:
            route, changed = live.route_apply(CLIENT_TCP_SH, str(subnet()), mode)
        except live.LiveError as exc:
            raise TestbedError(str(exc)) from None
    elif state.get("client_tcp") == mode and state.get("route"):
        route, changed = state["route"], False
    else:
        extravars = {**_common_vars(paths.testbed_name()), "testbed_host_client_tcp": mode}
        with _lock():
            result = _run("testbed_client_tcp.yml", state["inventory"], extravars, "client-tcp")
        route, changed = _applied_route(result), result.changed > 0
    if changed or state.get("client_tcp") != mode or state.get("route") != route:
        with _lock():
            _write_state(client_tcp=mode, route=route)
            for prov_file in (paths.testbed_dir() / "hosts").glob("*/provenance.json"):
                prov = json.loads(prov_file.read_text())
                prov["client_tcp"] = {"mode": mode, "route": route}
                _write_json(prov_file, prov)
    return {"mode": mode, "route": route, "changed": changed}


def _client_is_here(state: dict[str, Any]) -> bool:
    """Whether the client is this machine (local hosts: the root network namespace)."""
    kinds = {
        json.loads(f.read_text()).get("host_facts", {}).get("kind")
        for f in (paths.testbed_dir() / "hosts").glob("*/provenance.json")
    }
    return kinds == {"netns"} or (not kinds and state.get("inventory") == "local")


def _applied_route(result: RunResult) -> str:
    """The route the client_tcp task file recorded (testbed_host_client_tcp_applied), from the
    run's events."""
    applied = fact(result, "testbed_host_client_tcp_applied")
    return str(applied["route"]) if applied else ""


def _client_tcp_in_force(state: dict[str, Any], hosts: dict[str, Any]) -> dict[str, Any]:
    """``client_tcp`` and ``route``: read from the routing table for a local testbed, as
    recorded by the last set for a client VM."""
    if not hosts:
        return {"client_tcp": None, "route": None}
    if all(h.get("kind") == "netns" for h in hosts.values()):
        route = live.route_show(str(subnet()))
        return {"client_tcp": live.route_mode(route), "route": route or None}
    return {"client_tcp": state.get("client_tcp"), "route": state.get("route")}


def sshd_alive(host: dict[str, Any] | str) -> bool:
    """Whether a host's sshd still runs: ``host`` is an entry of ``status()["hosts"]`` (as
    taken before a point, so a restarted sshd with a new PID counts as dead) or a host name
    (its current status). Local host: that PID is a process started with ``-f <its
    sshd_config>`` (the rule of the sshd role's files/sshd_alive.sh). Real VM: its port
    answers with an SSH banner."""
    if isinstance(host, str):
        prov_file = _provenance_file(host)
        if not prov_file.exists():
            return False
        prov = json.loads(prov_file.read_text())
        host = {
            **prov["connection"],
            "kind": prov.get("host_facts", {}).get("kind"),
            "sshd_pid": prov["sshd_pid"],
            "sshd_config": prov["sshd_config"]["path"],
        }
    if host.get("kind") == "remote":
        return live.answers_ssh(str(host["address"]), int(host["port"]))
    return live.pid_runs_sshd(host.get("sshd_pid"), str(host.get("sshd_config", "")))
