"""A real OpenSSH sshd for tests and benchmarks: Debian's /usr/sbin/sshd on 127.0.0.1 with
its own host key, config, PID file and log, and a real local user with an ed25519 key.

Port `port` behaves normally; port `slow_port` runs `sleep 3` instead of any command (a
slow host, for timeout tests). Used by tests/sshapi/conftest.py and
benchmarks/bench_api_overhead.py.
"""

from __future__ import annotations

import fcntl
import os
import pwd
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SSHD = "/usr/sbin/sshd"
TEST_USER = "sshapit"


@dataclass(frozen=True)
class Sshd:
    host: str
    port: int
    slow_port: int
    user: str
    home: Path
    private_key: str  # the client key, OpenSSH format
    host_key: str  # known_hosts line of the server's host key
    other_host_key: str  # a valid ed25519 key line that is NOT the server's
    other_private_key: str  # a valid client key that is NOT in authorized_keys
    rsa_host_key: str  # the server's RSA host key line (it has ed25519 and RSA host keys)
    rsa_private_key: str  # an authorized RSA client key in PEM format
    ecdsa_host_key: str  # the server's ECDSA (nistp256) host key line
    ecdsa_private_key: str  # an authorized ECDSA client key in PEM format (old JSch reads it)
    pid: int
    log: Path

    def credential(self, name: str = "h1", **overrides) -> dict:
        body = {
            "name": name,
            "host": self.host,
            "port": self.port,
            "username": self.user,
            "private_key": self.private_key,
            "host_key": self.host_key,
        }
        body.update(overrides)
        return body


def stop_process(proc: subprocess.Popen, timeout: float) -> None:
    """SIGTERM a process we started, SIGKILL it if it has not exited after ``timeout`` s."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _retry(args: list[str], tries: int = 10) -> None:
    """useradd/usermod fail while another process holds /etc/passwd's lock: retry."""
    for i in range(tries):
        out = subprocess.run(args, capture_output=True, text=True)
        if out.returncode == 0:
            return
        if "lock" not in out.stderr or i == tries - 1:
            raise RuntimeError(f"{' '.join(args)} failed: {out.stderr.strip()}")
        time.sleep(0.5)


def ensure_user(name: str = TEST_USER, shell: str = "/bin/bash") -> Path:
    """A real local account with this login shell, unlocked for key logins with UsePAM no."""
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        _retry(["useradd", "-m", "-s", shell, name])
    else:
        if pw.pw_shell != shell:
            _retry(["usermod", "-s", shell, name])
    _retry(["usermod", "-p", "*", name])
    return Path(pwd.getpwnam(name).pw_dir)


def _keygen(path: Path, *kind: str) -> None:
    kind = kind or ("-t", "ed25519")
    subprocess.run(
        ["ssh-keygen", "-q", *kind, "-N", "", "-C", "sshapi-test", "-f", str(path)],
        check=True,
    )


def _wait_banner(port: int, proc: subprocess.Popen, log: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(64).startswith(b"SSH-2.0"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"sshd on port {port} sent no banner within {timeout} s")


@contextmanager
def running_sshd(
    workdir: Path, user: str = TEST_USER, shell: str = "/bin/bash", extra_config: str = ""
):
    """Start sshd in the foreground (-D) as our child; always stop it by its PID.
    `extra_config`: sshd_config lines added before the Match block."""
    workdir.mkdir(parents=True, exist_ok=True)
    os.makedirs("/run/sshd", exist_ok=True)
    home = ensure_user(user, shell)
    pw = pwd.getpwnam(user)
    for name in ("host_ed25519", "client_ed25519", "other_ed25519"):
        if not (workdir / name).exists():
            _keygen(workdir / name)
    if not (workdir / "host_rsa").exists():
        _keygen(workdir / "host_rsa", "-t", "rsa", "-b", "2048")
        _keygen(workdir / "client_rsa", "-t", "rsa", "-b", "2048", "-m", "PEM")
    if not (workdir / "host_ecdsa").exists():
        # Debian's JSch 0.1.55 knows neither ed25519 nor SHA-2 RSA signatures: ECDSA it is
        _keygen(workdir / "host_ecdsa", "-t", "ecdsa", "-b", "256")
        _keygen(workdir / "client_ecdsa", "-t", "ecdsa", "-b", "256", "-m", "PEM")
    # StrictModes: ~/.ssh owned by the user, 700; authorized_keys 600
    ssh_dir = home / ".ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    auth = ssh_dir / "authorized_keys"
    # added to, not replaced: other test sessions (other sshd instances, pytest-xdist
    # workers, other clones on this machine) log in as the same user at the same time, so
    # the read-modify-write holds a lock and the new file replaces the old at once (an sshd
    # never reads a half-written one); the newest 120 keys (40 sshds) are kept
    ours = [(workdir / f"client_{k}.pub").read_text().strip() for k in ("ed25519", "rsa", "ecdsa")]
    os.chown(ssh_dir, pw.pw_uid, pw.pw_gid)
    os.chmod(ssh_dir, 0o700)
    with open(ssh_dir / "authorized_keys.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        old = auth.read_text().splitlines() if auth.exists() else []
        keep = [ln for ln in old if ln.strip() and ln not in ours][-117:]
        new = ssh_dir / f"authorized_keys.{os.getpid()}"
        new.write_text("\n".join([*keep, *ours]) + "\n")
        os.chown(new, pw.pw_uid, pw.pw_gid)
        os.chmod(new, 0o600)
        os.replace(new, auth)

    port, slow_port = free_port(), free_port()
    while slow_port == port:
        slow_port = free_port()
    config = workdir / "sshd_config"
    pidfile, log = workdir / "sshd.pid", workdir / "sshd.log"
    config.write_text(
        f"""Port {port}
Port {slow_port}
ListenAddress 127.0.0.1
HostKey {workdir / "host_ed25519"}
HostKey {workdir / "host_rsa"}
HostKey {workdir / "host_ecdsa"}
PidFile {pidfile}
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
StrictModes yes
AllowUsers {user}
MaxStartups 100:30:200
MaxSessions 20
LogLevel VERBOSE
{extra_config}
Match LocalPort {slow_port}
    ForceCommand sleep 3
"""
    )
    subprocess.run([SSHD, "-t", "-f", str(config)], check=True)
    proc = subprocess.Popen([SSHD, "-D", "-f", str(config), "-E", str(log)])
    try:
        _wait_banner(port, proc, log)

        def line(name: str) -> str:
            kind, b64 = (workdir / f"{name}.pub").read_text().split()[:2]
            return f"[127.0.0.1]:{port} {kind} {b64}"

        yield Sshd(
            host="127.0.0.1",
            port=port,
            slow_port=slow_port,
            user=user,
            home=home,
            private_key=(workdir / "client_ed25519").read_text(),
            host_key=line("host_ed25519"),
            other_host_key=line("other_ed25519"),
            other_private_key=(workdir / "other_ed25519").read_text(),
            rsa_host_key=line("host_rsa"),
            rsa_private_key=(workdir / "client_rsa").read_text(),
            ecdsa_host_key=line("host_ecdsa"),
            ecdsa_private_key=(workdir / "client_ecdsa").read_text(),
            pid=proc.pid,
            log=log,
        )
    finally:
        stop_process(proc, timeout=10)
