"""Every error code of the API, each against the real thing (real sshd, closed port,
silent TCP listener)."""

from __future__ import annotations

import socket

import pytest

from sshapi.settings import CONNECTION_MODES, LIBRARIES
from sshapi.testing import free_port

ALL = [(lib, mode) for lib in LIBRARIES for mode in CONNECTION_MODES]


def assert_error(r, status: int, code: str) -> None:
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.is_json and r.json["error"] == code, r.json
    assert r.json["message"]


def test_401_missing_wrong_scheme_and_bad_token(make_client):
    api = make_client()
    assert_error(api.http.get("/credentials"), 401, "missing_token")
    assert_error(
        api.http.get("/credentials", headers={"Authorization": f"Token {api.token}"}),
        401,
        "missing_token",
    )
    assert_error(api.get("/credentials", token="not-a-token"), 401, "bad_token")
    assert_error(api.http.get("/credentials/h1/uptime"), 401, "missing_token")
    assert api.http.get("/healthz").status_code == 200  # the one open endpoint


@pytest.mark.parametrize(
    "change, field",
    [
        ({"port": "22"}, "port"),
        ({"port": 0}, "port"),
        ({"port": 70000}, "port"),
        ({"port": True}, "port"),
        ({"name": "a/b"}, "name"),
        ({"name": ""}, "name"),
        ({"host": "-oProxyCommand=x"}, "host"),
        ({"host": "a b"}, "host"),
        ({"username": "-l"}, "username"),
        ({"host_key": "not a key"}, "host_key"),
        ({"host_key": "ssh-ed25519 !!!notbase64"}, "host_key"),
        ({"host_key": "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIG0="}, "host_key"),
        ({"private_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nxx\n"}, "private_key"),
        ({"private_key": 42}, "private_key"),
    ],
)
def test_400_bad_credential_fields(make_client, sshd, change, field):
    api = make_client()
    r = api.post("/credentials", sshd.credential(**change))
    assert_error(r, 400, "bad_credential")
    assert field in r.json["message"]


def test_400_bad_json_missing_fields_and_encrypted_key(make_client, sshd, tmp_path):
    api = make_client()
    r = api.http.post(
        "/credentials",
        data="{not json",
        headers={**api._h(), "Content-Type": "application/json"},
    )
    assert_error(r, 400, "bad_json")
    assert_error(api.post("/credentials", ["a", "list"]), 400, "bad_json")
    r = api.post("/credentials", {"name": "x"})
    assert_error(r, 400, "bad_credential")
    assert "host" in r.json["message"] and "private_key" in r.json["message"]
    import subprocess

    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "secret", "-f", str(tmp_path / "enc")],
        check=True,
    )
    r = api.post("/credentials", sshd.credential(private_key=(tmp_path / "enc").read_text()))
    assert_error(r, 400, "bad_credential")
    assert "passphrase" in r.json["message"]


def test_400_bad_ls_paths(make_client, sshd):
    api = make_client()
    api.post("/credentials", sshd.credential())
    for path in (None, "", "a\nb", "a\x00b", "a\rb", "x" * 5000):
        qs = {} if path is None else {"path": path}
        assert_error(api.get("/credentials/h1/ls", query_string=qs), 400, "bad_path")


def test_404_unknown_credential_and_route(make_client):
    api = make_client()
    assert_error(api.get("/credentials/nope/uptime"), 404, "credential_not_found")
    assert_error(api.get("/credentials/nope/ls", query_string={"path": "."}), 404,
                 "credential_not_found")  # fmt: skip
    assert_error(api.delete("/credentials/nope"), 404, "credential_not_found")
    assert_error(api.get("/nothing-here"), 404, "not_found")


def test_409_duplicate_credential_then_delete(make_client, sshd):
    api = make_client()
    assert api.post("/credentials", sshd.credential()).status_code == 201
    assert_error(api.post("/credentials", sshd.credential()), 409, "credential_exists")
    assert api.delete("/credentials/h1").status_code == 204
    assert api.get("/credentials").json == {"credentials": []}
    assert api.post("/credentials", sshd.credential()).status_code == 201


@pytest.mark.parametrize("library, connections", ALL)
def test_502_auth_refused(make_client, sshd, library, connections):
    api = make_client(library, connections)
    api.post("/credentials", sshd.credential(private_key=sshd.other_private_key))
    assert_error(api.get("/credentials/h1/uptime"), 502, "ssh_auth_failed")


@pytest.mark.parametrize("library, connections", ALL)
def test_502_connection_refused(make_client, sshd, library, connections):
    api = make_client(library, connections)
    api.post("/credentials", sshd.credential(port=free_port()))  # nothing listens there
    assert_error(api.get("/credentials/h1/uptime"), 502, "ssh_connection_refused")


@pytest.mark.parametrize("library, connections", ALL)
def test_502_host_key_mismatch(make_client, sshd, library, connections):
    api = make_client(library, connections)
    api.post("/credentials", sshd.credential(host_key=sshd.other_host_key))
    r = api.get("/credentials/h1/uptime")
    assert_error(r, 502, "ssh_host_key_mismatch")
    # and nothing ran: sshd never saw an authentication from us on that connection
    assert "load average" not in r.get_data(as_text=True)


@pytest.mark.parametrize("library, connections", ALL)
def test_504_command_timeout_on_a_slow_host(make_client, sshd, library, connections):
    api = make_client(library, connections, connect_timeout=1.0, command_timeout=0.5)
    api.post("/credentials", sshd.credential(port=sshd.slow_port))  # runs `sleep 3`
    r = api.get("/credentials/h1/uptime")
    assert_error(r, 504, "ssh_timeout")
    assert r.json["message"]


@pytest.fixture
def silent_listener():
    """A TCP port that accepts connections (kernel backlog) but never sends a banner."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]


@pytest.mark.parametrize("library, connections", ALL)
def test_504_connect_timeout_without_banner(make_client, sshd, silent_listener, library,
                                            connections):  # fmt: skip
    api = make_client(library, connections, connect_timeout=1.0)
    api.post("/credentials", sshd.credential(port=silent_listener))
    assert_error(api.get("/credentials/h1/uptime"), 504, "ssh_timeout")
