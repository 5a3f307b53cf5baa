"""uptime and ls, for every library x connection mode, against a real sshd."""

from __future__ import annotations

import pytest

from sshapi.settings import CONNECTION_MODES as MODES
from sshapi.settings import LIBRARIES


@pytest.mark.parametrize("connections", MODES)
@pytest.mark.parametrize("library", LIBRARIES)
def test_uptime_and_ls(make_client, sshd, library, connections):
    api = make_client(library, connections)
    assert api.post("/credentials", sshd.credential()).status_code == 201
    for _ in range(3):  # pooled mode reuses the connection
        r = api.get("/credentials/h1/uptime")
        assert r.status_code == 200, r.json
        assert "load average" in r.json["stdout"]
        assert r.json["exit_status"] == 0
        assert r.json["elapsed_ms"] > 0
    (sshd.home / "lsdir").mkdir(exist_ok=True)
    (sshd.home / "lsdir" / "afile").write_text("x")
    r = api.get("/credentials/h1/ls", query_string={"path": "lsdir"})
    assert r.status_code == 200, r.json
    assert r.json["stdout"] == "afile\n"
    r = api.get("/credentials/h1/ls", query_string={"path": "no-such-dir"})
    assert r.status_code == 200
    assert r.json["exit_status"] == 2
    assert "No such file" in r.json["stderr"]


@pytest.mark.parametrize("library", LIBRARIES)
def test_healthz_records_versions_socket_options_and_kex(make_client, sshd, library):
    api = make_client(library, "per-request")
    api.post("/credentials", sshd.credential())
    assert api.get("/credentials/h1/uptime").status_code == 200
    assert set(api.http.get("/healthz").json) == {"status", "library", "connections"}
    info = api.get("/healthz").json  # with a token: everything
    assert info["status"] == "ok"
    assert (info["library"], info["connections"]) == (library, "per-request")
    assert set(info["versions"]) >= {
        "ssh2-python", "paramiko", "openssh-client", "asyncssh", "ssh-python"
    }  # fmt: skip
    assert info["versions"]["asyncssh"][0].isdigit() and info["versions"]["ssh-python"][0].isdigit()
    assert info["versions"]["openssh-client"].startswith("OpenSSH_")
    assert "TCP_NODELAY" in info["socket_options"]
    kex = info["kex"]["last_negotiated"]
    assert isinstance(kex, str) and ("curve25519" in kex or "sntrup" in kex), info["kex"]


@pytest.mark.parametrize("library", LIBRARIES)
def test_rsa_host_key_and_pem_rsa_client_key(make_client, sshd, library):
    """The stored host key's type decides which host key the server must present."""
    api = make_client(library, "per-request")
    assert sshd.rsa_private_key.startswith("-----BEGIN RSA PRIVATE KEY-----")
    body = sshd.credential(host_key=sshd.rsa_host_key, private_key=sshd.rsa_private_key)
    assert api.post("/credentials", body).status_code == 201
    r = api.get("/credentials/h1/uptime")
    assert r.status_code == 200, r.json
    # the ed25519 key presented as if it were the RSA one is a mismatch, not a pass
    kind = sshd.host_key.split()[1]
    rsa_kind = sshd.rsa_host_key.split()[1]
    assert kind != rsa_kind


def _socket_of(conn, library: str):
    """The client socket a library-driven backend's connection runs on."""
    if library == "ssh2":
        return conn._sock
    if library == "paramiko":
        return conn._t.sock
    if library == "asyncssh":
        return conn._conn.get_extra_info("socket")
    return conn._waker  # ssh-python: a dup of libssh's fd, the same socket


@pytest.mark.parametrize("library", ["ssh2", "paramiko", "asyncssh", "ssh-python"])
def test_socket_options_reported_are_the_ones_in_force(sshd, library):
    import socket

    from sshapi import backends
    from sshapi.keys import parse_host_key
    from sshapi.settings import Settings
    from sshapi.store import Target

    backend = backends.load(library)
    hk = parse_host_key(sshd.host_key)
    target = Target("t", sshd.host, sshd.port, sshd.user, sshd.private_key.encode(),
                    f"{hk.key_type} {hk.base64}")  # fmt: skip
    conn = backend.connect(target, Settings(library=library))
    try:
        sock = _socket_of(conn, library)
        reported = backend.socket_options()
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == reported["TCP_NODELAY"]
        assert bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)) == bool(
            reported["SO_KEEPALIVE"]
        )
    finally:
        conn.close()
