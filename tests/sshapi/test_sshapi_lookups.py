"""Name lookups against a DNS server that never answers (issue 24): a UDP socket on
127.0.0.77:53 that reads and stays silent, made the resolver of a child process by binding a
resolv.conf over /etc/resolv.conf in a mount namespace of its own (unshare -m). Lookups past
the bound fail at once instead of queueing; a silent name is looked up once, not per request."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent(
    """
    import json, time
    from sshapi.backends import base
    from sshapi.deadline import Deadline
    from sshapi.errors import SSHFailure, SSHTimeout

    def attempt(name):
        t0 = time.monotonic()
        try:
            base.lookup(name, 22, Deadline(0.5))
            kind = "ok"
        except SSHTimeout:
            kind = "timeout"
        except SSHFailure:
            kind = "refused"
        return kind, time.monotonic() - t0

    from concurrent.futures import ThreadPoolExecutor
    names = [f"n{i}.silent.test" for i in range(base.MAX_LOOKUPS + 8)]
    with ThreadPoolExecutor(len(names)) as ex:
        first = list(ex.map(attempt, names))
    again = attempt(names[0])  # still in flight: shares the pending lookup, adds none
    print(json.dumps({"first": first, "again": again, "max": base.MAX_LOOKUPS}))
    """
)


@pytest.fixture
def silent_dns():
    """A UDP socket on 127.0.0.77:53 that receives every query and answers none; yields its
    address. Marks the test `hostile` (tests/conftest.py)."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.77", 53))
    try:
        yield "127.0.0.77"
    finally:
        silent.close()


@pytest.mark.skipif(not shutil.which("unshare"), reason="needs unshare(1)")
def test_silent_dns_fills_a_bounded_queue_then_fails_fast(tmp_path, silent_dns):
    conf = tmp_path / "resolv.conf"
    conf.write_text(f"nameserver {silent_dns}\noptions timeout:2 attempts:1\n")
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    out = subprocess.run(
        ["unshare", "-m", "sh", "-c",
         'mount --bind "$0" /etc/resolv.conf && exec "$1" "$2"',
         str(conf), sys.executable, str(script)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    kinds = [k for k, _ in r["first"]]
    # the first MAX_LOOKUPS wait for their deadline; every one after fails at once
    assert kinds.count("timeout") == r["max"], kinds
    fast = [dt for k, dt in r["first"] if k == "refused"]
    assert len(fast) == 8 and max(fast) < 0.2, r["first"]
    assert r["again"][0] == "timeout"  # waited on the lookup already running, as its own
