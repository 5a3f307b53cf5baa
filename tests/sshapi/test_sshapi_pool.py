"""Connection handling under threads: pooled bounds, broken connections dropped and
retried once, and ssh2-python's thread-safety pitfalls (no hang)."""

from __future__ import annotations

import os
import signal
import threading
import time

import psutil
import pytest
from waiting import wait_for

from sshapi import backends
from sshapi.settings import LIBRARIES


def _kill_sessions(sshd_pid: int) -> int:
    """Kill the sshd processes serving open connections (children of our own sshd)."""
    children = psutil.Process(sshd_pid).children()
    for child in children:
        os.kill(child.pid, signal.SIGTERM)
    psutil.wait_procs(children, timeout=5)
    return len(children)


def _established_to(port: int) -> list:
    """This process's TCP connections to `port` the peer has not closed."""
    return [
        c
        for c in psutil.Process().net_connections(kind="tcp")
        if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
    ]


@pytest.mark.parametrize("library", LIBRARIES)
def test_broken_pooled_connection_is_dropped_and_retried(make_client, sshd, library):
    api = make_client(library, "pooled")
    api.post("/credentials", sshd.credential())
    assert api.get("/credentials/h1/uptime").status_code == 200
    pool = api.app.extensions["sshapi"]["pool"]
    assert pool.stats()["open_connections"] == 1
    assert _kill_sessions(sshd.pid) >= 1
    wait_for(lambda: not _established_to(sshd.port), "the client side to see the close")
    r = api.get("/credentials/h1/uptime")  # the dead connection must not surface as an error
    assert r.status_code == 200, r.json
    assert "load average" in r.json["stdout"]
    stats = pool.stats()
    assert (stats["open_connections"], stats["broken_dropped"]) == (1, 1), stats


def _hammer(api, n_threads: int, per_thread: int, path: str = "/credentials/h1/uptime"):
    statuses: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        client = api.app.test_client()
        for _ in range(per_thread):
            r = client.get(path, headers=api._h())
            with lock:
                statuses.append(r.status_code)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a request hung"
    return statuses


@pytest.mark.parametrize("library", LIBRARIES)
def test_pool_bounds_hold_under_threads(make_client, sshd, library):
    api = make_client(library, "pooled", max_connections=2, max_sessions_per_connection=2)
    api.post("/credentials", sshd.credential())
    statuses = _hammer(api, n_threads=6, per_thread=5)
    assert statuses == [200] * 30
    stats = api.app.extensions["sshapi"]["pool"].stats()
    assert stats["peak_open_connections"] <= 2
    assert stats["busy_channels"] == 0


@pytest.mark.parametrize("library", LIBRARIES)
def test_cold_burst_opens_only_the_connections_it_needs(make_client, sshd, library):
    """8 requests at once from cold: one multiplexing connection serves them all (10
    channels each); ssh2 and ssh-python (one channel per connection) open several."""
    api = make_client(library, "pooled", max_connections=20, max_sessions_per_connection=10)
    api.post("/credentials", sshd.credential())
    barrier = threading.Barrier(8)
    statuses = []

    def work() -> None:
        client = api.app.test_client()
        barrier.wait()
        statuses.append(client.get("/credentials/h1/uptime", headers=api._h()).status_code)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert statuses == [200] * 8
    stats = api.app.extensions["sshapi"]["pool"].stats()
    if backends.load(library).MAX_CHANNELS == 1:
        assert 2 <= stats["peak_open_connections"] <= 8, stats
    else:
        assert stats["peak_open_connections"] == 1, stats


def test_pool_evicts_idle_connection_of_another_credential(make_client, sshd):
    api = make_client("paramiko", "pooled", max_connections=1)
    api.post("/credentials", sshd.credential("a"))
    api.post("/credentials", sshd.credential("b"))
    for name in ("a", "b", "a"):
        assert api.get(f"/credentials/{name}/uptime").status_code == 200
    stats = api.app.extensions["sshapi"]["pool"].stats()
    assert stats["open_connections"] == stats["peak_open_connections"] == 1


def test_ssh2_per_request_threads_do_not_hang(make_client, sshd):
    """NOTES.md: a Session outliving its socket made threads block forever on fd reuse."""
    api = make_client("ssh2", "per-request")
    api.post("/credentials", sshd.credential())
    api.post("/credentials", sshd.credential("refused", port=1))
    start = time.monotonic()
    ok = _hammer(api, n_threads=8, per_thread=6)
    bad = _hammer(api, n_threads=4, per_thread=5, path="/credentials/refused/uptime")
    assert ok == [200] * 48
    assert bad == [502] * 20
    assert time.monotonic() - start < 60


@pytest.mark.parametrize("connections", ["per-request", "pooled"])
def test_openssh_leaves_no_key_files_or_processes(make_client, sshd, tmp_path, monkeypatch,
                                                  connections):  # fmt: skip
    from sshapi.keys import runtime_dir

    private_tmp = runtime_dir()  # the process's private key-file directory (issue 24)
    assert list(private_tmp.iterdir()) == []
    api = make_client("openssh", connections)
    api.post("/credentials", sshd.credential())
    for _ in range(3):
        assert api.get("/credentials/h1/uptime").status_code == 200
    workdirs = list(private_tmp.iterdir())
    if connections == "per-request":
        assert workdirs == []  # key and known_hosts removed after every call
    else:
        (workdir,) = workdirs  # one master, its dir is 0700 and the key 0600
        assert oct(workdir.stat().st_mode & 0o777) == "0o700"
        assert oct((workdir / "id").stat().st_mode & 0o777) == "0o600"
        assert any(c.name() == "ssh" for c in psutil.Process().children())
        api.app.extensions["sshapi"]["pool"].close_all()
        assert list(private_tmp.iterdir()) == []
    assert not [c for c in psutil.Process().children() if c.name() == "ssh"]


def test_sshpython_per_request_threads_do_not_hang(make_client, sshd):
    """libssh closes the fd it is given: the backend hands it the fd and keeps only a dup,
    so no descriptor is closed twice while other threads reuse the numbers."""
    api = make_client("ssh-python", "per-request")
    api.post("/credentials", sshd.credential())
    api.post("/credentials", sshd.credential("refused", port=1))
    api.post("/credentials", sshd.credential("badkey", private_key=sshd.other_private_key))
    assert api.get("/credentials/h1/uptime").status_code == 200  # warm: DB, key, libssh
    fds = len(os.listdir("/proc/self/fd"))
    start = time.monotonic()
    ok = _hammer(api, n_threads=8, per_thread=6)
    bad = _hammer(api, n_threads=4, per_thread=5, path="/credentials/refused/uptime")
    denied = _hammer(api, n_threads=4, per_thread=3, path="/credentials/badkey/uptime")
    again = _hammer(api, n_threads=4, per_thread=3)
    assert ok == [200] * 48
    assert bad == [502] * 20
    assert denied == [502] * 12
    assert again == [200] * 12
    assert time.monotonic() - start < 90
    # every connection's descriptors were closed once (by libssh), none leaked
    assert len(os.listdir("/proc/self/fd")) <= fds + 4
