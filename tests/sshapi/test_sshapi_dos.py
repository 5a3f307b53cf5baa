"""One client must not take the API down (issue 24): silent or slow connections hold no
thread, and a huge RSA key is refused at once instead of freezing a worker. Each runs the
real `sshapi serve` (gunicorn) under the hostile suite's memory cap, over real HTTP."""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from waiting import wait_healthz

from sshapi import keys
from sshapi.errors import BadRequest
from sshapi.testing import free_port, stop_process
from sshapi.worker import MAX_WAITING, READ_TIMEOUT, request_complete

SSHAPI = [sys.executable, "-m", "sshapi.cli"]
DATA = Path(__file__).parent / "data"
MEMORY_CAP = 384 * 1024 * 1024


def add_user(db: str, name: str) -> str:
    out = subprocess.run(
        [*SSHAPI, "add-user", name, "--db", db], capture_output=True, text=True, check=True
    )
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture
def api(tmp_path, memory_cap):
    """A real server (1 worker, 8 threads) in a memory cage; yields (url, alice, bob)."""
    cap = memory_cap(MEMORY_CAP)
    db = f"sqlite:///{tmp_path}/api.db"
    alice, bob = add_user(db, "alice"), add_user(db, "bob")
    port = free_port()
    argv = [
        *SSHAPI, "serve", "--db", db, "--bind", f"127.0.0.1:{port}", "--workers", "1",
        "--threads", "8", "--log", str(tmp_path / "api.log"),
        "--key-file", str(tmp_path / "k.key"),
    ]  # fmt: skip
    proc = subprocess.Popen(cap.wrap(argv), start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthz(url, proc, timeout_s=30, get_timeout_s=1)
        yield url, alice, bob
    finally:
        stop_process(proc, timeout=15)
        assert cap.oom_kills() == 0
        cap.remove()


def _silent(port: int, n: int, first: bytes) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        if first:
            s.sendall(first)
        socks.append(s)
    return socks


def _timed_get(url: str, token: str) -> float:
    t0 = time.perf_counter()
    r = requests.get(f"{url}/credentials", headers={"Authorization": f"Bearer {token}"},
                     timeout=10)  # fmt: skip
    assert r.status_code == 200, r.text
    return time.perf_counter() - t0


def test_request_complete_reads_heads_bodies_and_limits():
    head = b"POST /credentials HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"
    assert not request_complete(b"G")
    assert not request_complete(b"GET / HTTP/1.1\r\nHost: x\r\n")
    assert request_complete(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert not request_complete(head + b"abc")
    assert request_complete(head + b"abcde")
    big = b"POST / HTTP/1.1\r\nContent-Length: 999999\r\n\r\n"  # refused unread by the app
    assert request_complete(big)
    chunked = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"
    assert not request_complete(chunked)
    assert request_complete(chunked + b"0\r\n\r\n")
    assert request_complete(b"GET /" + b"a" * 20000)  # an endless head: gunicorn refuses it


@pytest.mark.timeout(120)
def test_silent_connections_do_not_stop_a_request(api):
    url, alice, _ = api
    port = int(url.rsplit(":", 1)[1])
    base = statistics.median(_timed_get(url, alice) for _ in range(5))
    # 100 connections (more than 8 threads, more than gunicorn's 64 default): half send
    # nothing, half one byte of a request, and none ever sends more
    socks = _silent(port, 50, b"") + _silent(port, 50, b"G")
    try:
        time.sleep(0.5)
        during = [_timed_get(url, alice) for _ in range(5)]
        assert max(during) < 2.0, (base, during)
        # past the cap on waiting connections, the oldest are closed, requests still served
        more = _silent(port, MAX_WAITING + 50, b"GET / HTTP/1.1\r\n")
        socks += more
        time.sleep(0.5)
        assert max(_timed_get(url, alice) for _ in range(5)) < 2.0
        assert socks[0].recv(1) == b""  # the oldest silent one was closed by the server
        # a request that never completes is closed after READ_TIMEOUT
        late = _silent(port, 1, b"GET /healthz HTTP/1.1\r\nHost: x\r\n")[0]
        socks.append(late)
        t0 = time.monotonic()
        late.settimeout(READ_TIMEOUT + 5)
        assert late.recv(1) == b""
        assert READ_TIMEOUT - 1 < time.monotonic() - t0 < READ_TIMEOUT + 3
        assert max(_timed_get(url, alice) for _ in range(3)) < 2.0
    finally:
        for s in socks:
            s.close()


def test_slow_but_complete_request_and_keepalive_are_served(api):
    """A request sent in pieces, a body behind `Expect: 100-continue`, and a second request
    on a kept-alive connection all get their answers."""
    url, alice, _ = api
    port = int(url.rsplit(":", 1)[1])
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        req = f"GET /credentials HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {alice}\r\n\r\n"
        for piece in (req[:10], req[10:30], req[30:]):
            s.sendall(piece.encode())
            time.sleep(0.3)
        seen = _read_until(s, b"", b'{"credentials":[]}')
        assert seen.startswith(b"HTTP/1.1 200"), seen[:100]
        s.sendall(req.encode())  # the same connection, kept alive
        seen = _read_until(s, b"", b'{"credentials":[]}')
        assert seen.startswith(b"HTTP/1.1 200"), seen[:100]
        body = b'{"name": "x"}'
        s.sendall(
            f"POST /credentials HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {alice}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Expect: 100-continue\r\n\r\n".encode()
        )
        seen = _read_until(s, b"", b"HTTP/1.1 100 Continue\r\n\r\n")
        s.sendall(body)
        seen = _read_until(s, seen, b"bad_credential")
        assert b"HTTP/1.1 400" in seen
    finally:
        s.close()


def _read_until(s: socket.socket, seen: bytes, marker: bytes) -> bytes:
    while marker not in seen:
        chunk = s.recv(65536)
        assert chunk, seen
        seen += chunk
    return seen


def _credential(private_key: str) -> dict:
    host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    return {"name": "big", "host": "127.0.0.1", "port": 22, "username": "u",
            "private_key": private_key, "host_key": host_key}  # fmt: skip


@pytest.mark.timeout(180)
def test_huge_rsa_key_refused_at_once_while_others_keep_latency(api):
    url, alice, bob = api
    huge = (DATA / "rsa12288.key").read_text()
    base = [_timed_get(url, bob) for _ in range(10)]
    refusals: list[float] = []
    stop = threading.Event()

    def attack() -> None:
        h = {"Authorization": f"Bearer {alice}"}
        for _ in range(30):
            if stop.is_set():
                return
            t0 = time.perf_counter()
            r = requests.post(f"{url}/credentials", json=_credential(huge), headers=h,
                              timeout=60)  # fmt: skip
            refusals.append(time.perf_counter() - t0)
            assert r.status_code == 400, r.text
            assert "8192" in r.json()["message"] and "12288" in r.json()["message"]

    t = threading.Thread(target=attack)
    t.start()
    try:
        during = [_timed_get(url, bob) for _ in range(20)]
    finally:
        stop.set()
        t.join(120)
    assert refusals and max(refusals) < 1.0, refusals
    # bob's latency is his own: within 3x his quiet median, plus 50 ms of shared-CPU noise
    assert statistics.median(during) < 3 * statistics.median(base) + 0.05, (base, during)
    assert max(during) < 1.0, during


def test_largest_accepted_rsa_key_checks_and_loads_fast():
    import paramiko

    from sshapi.backends.paramiko_backend import _load_key

    text = (DATA / "rsa8192.key").read_text()
    t0 = time.perf_counter()
    assert keys.check_private_key(text) == "RSA 8192-bit"
    key = keys.load_once(text.encode(), _load_key)
    assert time.perf_counter() - t0 < 1.0  # OpenSSL's own check: ~19 s here
    assert keys.load_once(text.encode(), _load_key) is key  # parsed once per process
    sig = key.sign_ssh_data(b"data", "rsa-sha2-256")
    sig.rewind()
    assert paramiko.RSAKey(data=key.asbytes()).verify_ssh_sig(b"data", sig)


def test_inconsistent_and_dsa_keys_are_refused():
    from cryptography.hazmat.primitives import serialization as ser
    from cryptography.hazmat.primitives.asymmetric import dsa, rsa

    good = rsa.generate_private_key(65537, 2048)
    n = good.private_numbers()
    # a wrong CRT exponent: OpenSSL's check would catch it, and so must ours
    bad = rsa.RSAPrivateNumbers(
        n.p, n.q, n.d, n.dmp1 + 2, n.dmq1, n.iqmp, n.public_numbers
    ).private_key(unsafe_skip_rsa_key_validation=True)
    pem = bad.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.TraditionalOpenSSL,
                            ser.NoEncryption()).decode()  # fmt: skip
    with pytest.raises(BadRequest, match="consistent"):
        keys.check_private_key(pem)
    dsa_pem = (
        dsa.generate_private_key(1024)
        .private_bytes(ser.Encoding.PEM, ser.PrivateFormat.TraditionalOpenSSL, ser.NoEncryption())
        .decode()
    )
    with pytest.raises(BadRequest, match="not"):
        keys.check_private_key(dsa_pem)
