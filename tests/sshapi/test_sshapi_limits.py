"""Issue 11's limits and checks, each against the real thing: body and field sizes,
whole-string patterns, known_hosts markers, key types, SHA-2-only RSA host keys, the output
cap on a real sshd, per-user limits, the destination allow-list, and the data key file."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import subprocess
import threading

import psutil
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519
from test_sshapi_errors import ALL, assert_error
from waiting import wait_for

from sshapi.settings import LIBRARIES
from sshapi.testing import running_sshd

PKCS8 = serialization.PrivateFormat.PKCS8
PEM = serialization.Encoding.PEM
TRADITIONAL = serialization.PrivateFormat.TraditionalOpenSSL
NOENC = serialization.NoEncryption()


def test_413_oversized_body_in_json(make_client, sshd):
    api = make_client()
    body = sshd.credential(private_key="x" * (70 * 1024))
    r = api.http.post(
        "/credentials",
        data=json.dumps(body),
        headers={**api._h(), "Content-Type": "application/json"},
    )
    assert_error(r, 413, "body_too_large")
    assert api.get("/credentials").json == {"credentials": []}


@pytest.mark.parametrize(
    "change, field",
    [
        ({"name": "h1\n"}, "name"),
        ({"name": "h1\nx"}, "name"),
        ({"name": "n" * 65}, "name"),
        ({"host": "127.0.0.1\n"}, "host"),
        ({"host": "h" * 256}, "host"),
        ({"username": "sshapit\n"}, "username"),
        ({"username": "u" * 65}, "username"),
        ({"host_key": "x" * 9000}, "host_key"),
        ({"private_key": "x" * 17000}, "private_key"),
        ({"private_key": "é"}, "private_key"),
    ],
)
def test_400_trailing_newlines_and_overlong_fields(make_client, sshd, change, field):
    api = make_client()
    r = api.post("/credentials", sshd.credential(**change))
    assert_error(r, 400, "bad_credential")
    assert field in r.json["message"]


def test_400_known_hosts_markers_and_non_ascii(make_client, sshd):
    api = make_client()
    kind_b64 = sshd.host_key.split(maxsplit=1)[1]
    for line in (f"@revoked * {kind_b64}", f"@cert-authority *.example {kind_b64}"):
        r = api.post("/credentials", sshd.credential(host_key=line))
        assert_error(r, 400, "bad_credential")
        assert "@revoked and @cert-authority" in r.json["message"]
    r = api.post("/credentials", sshd.credential(host_key=f"{sshd.host_key} commentaire-é"))
    assert_error(r, 400, "bad_credential")
    assert api.get("/credentials").json == {"credentials": []}


def _pem(key, fmt=TRADITIONAL) -> str:
    return key.private_bytes(PEM, fmt, NOENC).decode()


def test_400_keys_no_backend_can_use_name_the_type(make_client, sshd, tmp_path):
    api = make_client()
    cases = {
        "ed448": _pem(ed448.Ed448PrivateKey.generate(), PKCS8),
        "ECDSA secp224r1": _pem(ec.generate_private_key(ec.SECP224R1())),
        "ed25519": _pem(ed25519.Ed25519PrivateKey.generate(), PKCS8),  # PKCS#8: no Paramiko
        "ECDSA secp256r1": _pem(ec.generate_private_key(ec.SECP256R1()), PKCS8),
    }
    for kind, text in cases.items():
        r = api.post("/credentials", sshd.credential(private_key=text))
        assert_error(r, 400, "bad_credential")
        assert kind in r.json["message"], r.json
    # the same ECDSA key in a format every backend reads is accepted
    good = ec.generate_private_key(ec.SECP256R1())
    assert api.post("/credentials", sshd.credential(private_key=_pem(good))).status_code == 201


def test_target_repr_hides_the_decrypted_key(make_client, sshd):
    from sshapi import store

    api = make_client()
    api.post("/credentials", sshd.credential())
    ext = api.app.extensions["sshapi"]
    from sshapi.crypto import Box, data_key

    box = Box(data_key(ext["settings"].key_file))
    target = store.get_target(ext["engine"], box, 1, "h1")
    assert target.private_key == sshd.private_key.encode()
    body = "".join(sshd.private_key.splitlines()[1:-1])
    assert "PRIVATE KEY" not in repr(target) and body[:40] not in repr(target)


def test_404_for_names_no_credential_can_have(make_client):
    api = make_client()
    for name in ("%F0%9F%99%82", "a%0A", "n" * 300, "-x"):
        assert_error(api.get(f"/credentials/{name}/uptime"), 404, "credential_not_found")
        assert_error(api.delete(f"/credentials/{name}"), 404, "credential_not_found")


@pytest.fixture(scope="module")
def sha1_rsa_sshd(tmp_path_factory):
    """A real sshd that signs with its RSA host key only as SHA-1 `ssh-rsa`."""
    with running_sshd(
        tmp_path_factory.mktemp("sshd-sha1"),
        extra_config="HostKeyAlgorithms ssh-rsa",
        user="sshapis",
    ) as s:
        yield s


@pytest.mark.parametrize("library", LIBRARIES)
def test_rsa_host_keys_need_sha2_signatures(make_client, sshd, sha1_rsa_sshd, library):
    api = make_client(library, "per-request", connect_timeout=5.0)
    body = sha1_rsa_sshd.credential(
        host_key=sha1_rsa_sshd.rsa_host_key, private_key=sha1_rsa_sshd.rsa_private_key
    )
    assert api.post("/credentials", body).status_code == 201
    r = api.get("/credentials/h1/uptime")
    assert r.status_code == 502, r.json  # no common host key algorithm: refused
    assert r.json["error"] in ("ssh_error", "ssh_host_key_mismatch"), r.json
    # the same key and client against an sshd offering rsa-sha2-*: served
    good = sshd.credential("h2", host_key=sshd.rsa_host_key, private_key=sshd.rsa_private_key)
    assert api.post("/credentials", good).status_code == 201
    assert api.get("/credentials/h2/uptime").status_code == 200


@pytest.mark.parametrize("library, connections", ALL)
def test_502_output_too_large_from_a_real_sshd(make_client, sshd, library, connections):
    """A big directory on a real host: the answer is output_too_large, not a huge body."""
    d = sshd.home / "bigdir"
    if not d.exists():  # made aside, then renamed: another pytest-xdist worker never sees half
        made = sshd.home / f"bigdir.{os.getpid()}"
        made.mkdir()
        for i in range(400):
            (made / f"file-with-a-rather-long-name-{i:04d}").write_text("")
        try:
            made.rename(d)
        except OSError:  # another worker's is there already
            shutil.rmtree(made)
    api = make_client(library, connections, max_output_bytes=4096)
    api.post("/credentials", sshd.credential())
    r = api.get("/credentials/h1/ls", query_string={"path": "bigdir"})
    assert_error(r, 502, "output_too_large")
    # small output on the same credential is still served (pooled: on a fresh connection)
    assert api.get("/credentials/h1/uptime").status_code == 200


def test_429_one_user_cannot_take_every_thread(make_client, sshd):
    api = make_client("paramiko", "per-request", max_user_requests=2, command_timeout=10.0)
    api.post("/credentials", sshd.credential("slow", port=sshd.slow_port))  # sleep 3
    bob = api.add_user("bob")
    api.post("/credentials", sshd.credential(), token=bob)
    codes: list[int] = []

    def slow() -> None:
        codes.append(api.app.test_client().get("/credentials/slow/uptime",
                                               headers=api._h()).status_code)  # fmt: skip

    def sleeping() -> set[int]:
        """PIDs of the `sleep 3` commands our sshd runs now (the slow port's ForceCommand)."""
        out = set()
        for p in psutil.Process(sshd.pid).children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):
                if p.name() == "sleep":
                    out.add(p.pid)
        return out

    earlier = sleeping()  # an earlier test's, still running out its 3 s
    threads = [threading.Thread(target=slow) for _ in range(2)]
    for t in threads:
        t.start()
    wait_for(lambda: len(sleeping() - earlier) == 2, "both requests to run `sleep 3` on the host")
    assert_error(api.get("/credentials/slow/uptime"), 429, "too_many_requests")
    r = api.get("/credentials/h1/uptime", token=bob)  # another user is served meanwhile
    assert r.status_code == 200, r.json
    for t in threads:
        t.join(timeout=30)
    assert codes == [200, 200]
    assert api.get("/credentials/slow/uptime").status_code == 200  # the slots came back


def test_403_too_many_credentials(make_client, sshd):
    api = make_client(max_credentials=2)
    for name in ("a", "b"):
        assert api.post("/credentials", sshd.credential(name)).status_code == 201
    assert_error(api.post("/credentials", sshd.credential("c")), 403, "too_many_credentials")
    assert api.delete("/credentials/a").status_code == 204
    assert api.post("/credentials", sshd.credential("c")).status_code == 201


@pytest.mark.parametrize("library", LIBRARIES)
def test_destination_allow_list_with_uniform_errors(make_client, sshd, library):
    api = make_client(library, "per-request", allowed_networks=("198.18.0.0/15",))
    api.post("/credentials", sshd.credential())  # 127.0.0.1: not allowed
    api.post("/credentials", sshd.credential("named", host="localhost"))  # resolves to it
    api.post("/credentials", sshd.credential("nxdomain", host="no-such-host.invalid"))
    messages = set()
    for name in ("h1", "named", "nxdomain"):
        r = api.get(f"/credentials/{name}/uptime")
        assert_error(r, 502, "ssh_error")
        host = api.get("/credentials").json["credentials"]
        host = next(c["host"] for c in host if c["name"] == name)
        messages.add(r.json["message"].replace(host, "HOST"))
    assert messages == {f"cannot connect to HOST:{sshd.port}"}
    open_api = make_client(library, "per-request", allowed_networks=("127.0.0.0/8",))
    open_api.post("/credentials", sshd.credential())
    assert open_api.get("/credentials/h1/uptime").status_code == 200


def test_key_file_written_atomically_and_refused_when_readable(tmp_path, monkeypatch):
    from sshapi.crypto import data_key, load_or_create_key

    path = tmp_path / "keys" / "secret.key"
    keys: list[bytes] = []
    threads = [
        threading.Thread(target=lambda: keys.append(load_or_create_key(path))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(keys)) == 1  # racing creators all end up with the one key on disk
    assert os.listdir(path.parent) == ["secret.key"]  # no temporary file left behind
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        load_or_create_key(path)
    path.chmod(0o600)
    monkeypatch.setenv("SSHAPI_SECRET_KEY", "")
    with pytest.raises(ValueError, match="set but empty"):
        data_key(path)


def test_ssh_children_never_see_the_data_key(monkeypatch, sshd, tmp_path):
    """The environment the openssh backend gives `ssh`, checked on a real child."""
    from sshapi.backends.openssh_backend import child_env

    monkeypatch.setenv("SSHAPI_SECRET_KEY", "not-for-children")
    monkeypatch.setenv("SSHAPI_DB_URL", "mysql+pymysql://u:pw@h/db")
    out = subprocess.run(["env"], env=child_env(), capture_output=True, text=True, check=True)
    assert "SSHAPI_" not in out.stdout and "PATH=" in out.stdout
