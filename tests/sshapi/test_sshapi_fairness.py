"""Pool slots are shared fairly (issue 24): one user whose servers never answer (a TCP
listener that accepts and stays silent, so each connect waits out its timeout) holds at most
max_user_connections of the pool, and another user's request to the real sshd still gets a
connection at once."""

from __future__ import annotations

import socket
import threading
import time

import pytest

CONNECT_TIMEOUT = 3.0


@pytest.fixture
def silent_port():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)  # connections complete in the backlog; nothing is ever said
    yield srv.getsockname()[1]
    srv.close()


@pytest.mark.parametrize("per_user", [2, None])
def test_one_user_cannot_hold_every_pool_slot(make_client, sshd, silent_port, per_user):
    api = make_client("paramiko", "pooled", max_connections=4, max_user_connections=per_user,
                      connect_timeout=CONNECT_TIMEOUT)  # fmt: skip
    bob = api.add_user("bob")
    assert api.post("/credentials", sshd.credential(), token=bob).status_code == 201
    for i in range(6):
        body = sshd.credential(f"s{i}", host="127.0.0.1", port=silent_port)
        assert api.post("/credentials", body).status_code == 201
    alice_codes: list[int] = []

    def alice(i: int) -> None:
        alice_codes.append(api.get(f"/credentials/s{i}/uptime").status_code)

    threads = [threading.Thread(target=alice, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    time.sleep(0.5)  # alice's connects are all under way (or waiting for a slot)
    pool = api.app.extensions["sshapi"]["pool"]
    t0 = time.monotonic()
    r = api.get("/credentials/h1/uptime", token=bob)
    bob_s = time.monotonic() - t0
    for t in threads:
        t.join(30)
    assert all(c == 504 for c in alice_codes), alice_codes
    if per_user:
        assert r.status_code == 200, r.json
        assert bob_s < CONNECT_TIMEOUT - 1, bob_s  # no wait for alice's connects to fail
    else:  # the old behaviour, for contrast: alice's silent servers held all four slots
        assert r.status_code == 504 or bob_s > CONNECT_TIMEOUT - 1.5, (r.status_code, bob_s)
    assert pool.stats()["peak_open_connections"] <= 4
