"""The openssh backend's key files (issue 24): in a private 0700 directory of the process,
under $RUNTIME_DIRECTORY (systemd) or TMPDIR/sshapi-UID, whose dead processes' leftovers are
removed when a process first needs it; none is left once a request is done."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

CHILD = """
import os, sys
from sshapi.keys import runtime_dir
d = runtime_dir()
print(d, oct(os.stat(d).st_mode & 0o777), oct(os.stat(d.parent).st_mode & 0o777))
"""


def test_runtime_dir_is_private_and_cleans_up_after_dead_processes(tmp_path):
    base = tmp_path / f"sshapi-{os.getuid()}"
    base.mkdir(mode=0o700)
    stale = base / "pid-4194999"  # above pid_max's default: no such process
    (stale / "k-x").mkdir(parents=True)
    (stale / "k-x" / "id").write_text("an old private key")
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    env.pop("RUNTIME_DIRECTORY", None)
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True,
                         text=True, check=True).stdout.split()  # fmt: skip
    assert out[0].startswith(str(base) + "/pid-") and out[1:] == ["0o700", "0o700"]
    assert not stale.exists()
    # a directory someone else could write to is refused, not used
    os.chmod(base, 0o777)
    bad = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "not a private directory" in bad.stderr
    os.chmod(base, 0o700)
    env["RUNTIME_DIRECTORY"] = str(tmp_path / "run")
    (tmp_path / "run").mkdir(mode=0o700)
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True,
                         text=True, check=True).stdout.split()  # fmt: skip
    assert out[0].startswith(str(tmp_path / "run") + "/pid-")


def test_openssh_requests_leave_no_key_file(make_client, sshd):
    from sshapi.keys import runtime_dir

    api = make_client("openssh")
    api.post("/credentials", sshd.credential())
    assert api.get("/credentials/h1/uptime").status_code == 200
    d = runtime_dir()
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert list(d.iterdir()) == []
