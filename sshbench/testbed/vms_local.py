"""An emulated cloud: VMs that Ansible reaches over SSH, as it reaches real ones.

Plays the cloud provider for ``ansible/inventories/vms-local``: each VM (client, taco,
jetstream, load) is a network namespace on the cloud's own /24 in 198.18.0.0/15 with ONE
sshd, which admits an admin account by key (sudo without a password, as a cloud image's
``debian`` user). That sshd is also the study's sshd: the testbed's profile switch rewrites
its config, as it would on a real VM.

A namespace isolates the network only, so each VM gets its own ``/etc/ssh``
(``/etc/netns/<namespace>/ssh``, which ``ip netns exec`` mounts over /etc/ssh for sshd and
every session it starts) and its own PID file and log under ``paths.vms_dir()``; users,
/run and the rest of the file system are shared. ``vms.json`` there is what the inventory
reads (addresses, admin account and key, known_hosts, per-VM directories).

Nothing here knows about the testbed: ``up`` makes the VMs, ``down`` removes them (like
deleting cloud VMs), and everything between goes through Ansible over SSH.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from sshbench import paths
from sshbench.testbed import testbed

HOSTS = ("client", "taco", "jetstream", "load")
_FILES = paths.ANSIBLE_DIR / "roles" / "testbed_host" / "files"
NETNS_UP = _FILES / "netns_up.sh"
SSHD_START = _FILES / "sshd_start.sh"
TEARDOWN = _FILES / "teardown.sh"
SSHD_ALIVE = paths.ANSIBLE_DIR / "roles" / "sshd" / "files" / "sshd_alive.sh"
# The path every VM's sshd is started with: inside its namespace this is its own /etc/ssh.
SSHD_CONFIG = "/etc/ssh/sshd_config"


class VmsError(RuntimeError):
    """The emulated cloud could not be made or removed; the message says which step."""


def admin_user(name: str | None = None) -> str:
    """The cloud's admin account (one per cloud, so two clouds never share it)."""
    return f"{paths.OBJECT_PREFIX}adm{name or paths.vms_name()}"


def _namespace(name: str, host: str) -> str:
    return f"{paths.OBJECT_PREFIX}-{name}-{host}"


def _sudoers(name: str) -> Path:
    return paths.sudoers_file(f"{paths.OBJECT_PREFIX}-{name}-admin")


def _sh(cmd: list[str], what: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        [str(c) for c in cmd],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise VmsError(f"{what} failed: {detail[-1] if detail else f'rc={proc.returncode}'}")
    return proc.stdout


def _admin_config(admin: str, host_dir: Path) -> str:
    """The VM's sshd_config as the cloud image ships it: key logins, the admin account only."""
    return (
        "# The emulated VM's own sshd_config (sshbench.testbed.vms_local),"
        " as a cloud image ships it.\n"
        "Port 22\nListenAddress 0.0.0.0\nHostKey /etc/ssh/ssh_host_ed25519_key\n"
        f"PidFile {host_dir / 'sshd.pid'}\n"
        "PubkeyAuthentication yes\nAuthorizedKeysFile .ssh/authorized_keys\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin no\n"
        f"UsePAM no\nAllowUsers {admin}\nUseDNS no\nSubsystem sftp internal-sftp\n"
    )


def _ensure_admin(admin: str, key: Path, sudoers: Path) -> None:
    """The admin account: key login, passwordless sudo (what Ansible's become uses)."""
    home = paths.user_home(admin)
    if subprocess.run(["id", admin], capture_output=True).returncode != 0:
        # "*": no password, but not locked (sshd without PAM refuses locked accounts).
        _sh(["useradd", "-m", "-d", home, "-s", "/bin/sh", "-p", "*", admin], "useradd")
    key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not key.exists():
        _sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", admin, "-f", key], "ssh-keygen")
    ssh_dir = home / ".ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    (ssh_dir / "authorized_keys").write_text(key.with_suffix(".pub").read_text())
    (ssh_dir / "authorized_keys").chmod(0o600)
    _sh(["chown", "-R", f"{admin}:{admin}", ssh_dir], "chown")
    tmp = sudoers.with_name(f".{sudoers.name}.tmp")
    tmp.write_text(f"{admin} ALL=(ALL) NOPASSWD: ALL\n")
    tmp.chmod(0o440)
    _sh(["visudo", "-cq", "-f", tmp], "visudo")
    tmp.replace(sudoers)


def up(hosts: tuple[str, ...] = HOSTS) -> dict[str, Any]:
    """Make (or keep) the cloud's VMs, each with its sshd running; idempotent. Returns what
    vms.json holds."""
    if os.geteuid() != 0:
        raise VmsError("the emulated VMs need root (network namespaces, useradd, sudoers)")
    name = paths.vms_name()
    try:
        testbed.check_subnet_free(name)
    except testbed.TestbedError as exc:
        raise VmsError(str(exc).replace("SSHBENCH_TESTBED", "SSHBENCH_VMS")) from None
    vdir = paths.vms_dir(name).resolve()
    net = testbed.subnet(name)
    base = str(net.network_address).rsplit(".", 1)[0]
    admin, key = admin_user(name), vdir / "admin" / "id_ed25519"
    _ensure_admin(admin, key, _sudoers(name))
    bridge = testbed.bridge_name(name)
    record: dict[str, Any] = {
        "name": name,
        "subnet": str(net),
        "controller_address": f"{base}.1",
        "admin_user": admin,
        "admin_key": str(key),
        "known_hosts": str(vdir / "known_hosts"),
        "venv": str(paths.cache_dir().resolve() / "vms" / "venv"),
        "hosts": {},
    }
    known = []
    for index, host in enumerate(hosts, start=2):
        ns, address, hdir = _namespace(name, host), f"{base}.{index}", vdir / "hosts" / host
        hdir.mkdir(parents=True, exist_ok=True)
        veth = f"{paths.OBJECT_PREFIX}-{name}-{index}"
        _sh(
            [NETNS_UP, ns, bridge, f"{veth}r", f"{veth}n", f"{address}/24", f"{base}.1/24"],
            f"network of VM {host}",
        )
        etc_ssh = paths.netns_etc(ns) / "ssh"
        etc_ssh.mkdir(parents=True, exist_ok=True)
        host_key = etc_ssh / "ssh_host_ed25519_key"
        if not host_key.exists():
            _sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", host, "-f", host_key], "key")
        if not (etc_ssh / "sshd_config").exists():  # a study profile may be in force: keep it
            (etc_ssh / "sshd_config").write_text(_admin_config(admin, hdir))
        _sh(
            [SSHD_START, ns, "/usr/sbin/sshd", SSHD_CONFIG, hdir / "sshd.log", hdir / "sshd.pid"],
            f"sshd of VM {host}",
            env={"SSHD_ALIVE": str(SSHD_ALIVE)},
        )
        pub = host_key.with_suffix(".pub").read_text().split()
        known.append(f"{address} {pub[0]} {pub[1]}")
        record["hosts"][host] = {"address": address, "namespace": ns, "dir": str(hdir)}
    (vdir / "known_hosts").write_text("\n".join(known) + "\n")
    tmp = vdir / "vms.json.tmp"
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(vdir / "vms.json")
    return record


def status() -> dict[str, Any] | None:
    """vms.json of the current cloud (None when it is not up)."""
    try:
        return json.loads((paths.vms_dir() / "vms.json").read_text())
    except FileNotFoundError:
        return None


def down(name: str | None = None) -> list[str]:
    """Remove every VM of the cloud (processes in its namespaces, namespaces, links,
    /etc/netns entries, the admin account and sudoers entry, its files); safe twice.
    Returns what was removed."""
    name = name or paths.vms_name()
    admin = admin_user(name)
    out = _sh(
        [TEARDOWN, paths.OBJECT_PREFIX, name, paths.vms_dir(name), admin, paths.user_home(admin)],
        "removing the VMs",
        env={"SSHD_ALIVE": str(SSHD_ALIVE)},
    )
    removed = [line for line in out.splitlines() if line.startswith("removed")]
    if _sudoers(name).exists():
        _sudoers(name).unlink()
        removed.append(f"removed {_sudoers(name)}")
    return removed
