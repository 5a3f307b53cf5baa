"""The credential store against a real MariaDB server (as the study used MySQL): Debian's
mariadbd, started here on 127.0.0.1 with its own datadir, socket and PID file, stopped
by PID after. The app is reached through a pymysql SQLAlchemy URL over TCP."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from mariadb import mariadb
from sqlalchemy import text

from sshapi import store
from sshapi.app import create_app
from sshapi.crypto import Box, load_or_create_key
from sshapi.errors import Conflict, NotFound
from sshapi.settings import Settings

pytestmark = pytest.mark.mariadb


@pytest.fixture(scope="module")
def mariadb_url(tmp_path_factory):
    with mariadb(tmp_path_factory.mktemp("mdb"), "sshapi-test-pw") as url:
        yield url


def _body(sshd, name: str = "h1") -> dict:
    return sshd.credential(name)


def test_store_roundtrip_on_mariadb(mariadb_url, sshd, tmp_path):
    engine = store.make_engine(mariadb_url)
    assert engine.dialect.name == "mysql"
    box = Box(load_or_create_key(tmp_path / "k.key"))
    token = store.add_user(engine, "m-alice")
    other = store.add_user(engine, "m-bob")
    alice = store.user_for_token(engine, token)
    bob = store.user_for_token(engine, other)
    assert alice and bob and alice != bob
    assert store.user_for_token(engine, "nope") is None
    with pytest.raises(Conflict):
        store.add_user(engine, "m-alice")

    store.add_credential(engine, box, alice, _body(sshd))
    with pytest.raises(Conflict):
        store.add_credential(engine, box, alice, _body(sshd))
    target = store.get_target(engine, box, alice, "h1")
    assert target.private_key == sshd.private_key.encode()
    assert [c["name"] for c in store.list_credentials(engine, alice)] == ["h1"]
    assert store.list_credentials(engine, bob) == []
    with pytest.raises(NotFound):
        store.get_target(engine, box, bob, "h1")
    with pytest.raises(NotFound):
        store.delete_credential(engine, bob, "h1")

    # the stored column is ciphertext, never the key
    with engine.connect() as c:
        sealed = c.execute(text("SELECT private_key_sealed FROM sshapi_credentials")).scalar()
    body = "".join(sshd.private_key.splitlines()[1:-1]).encode()
    assert body not in sealed and sshd.private_key.encode() not in sealed

    store.delete_credential(engine, alice, "h1")
    assert store.list_credentials(engine, alice) == []
    engine.dispose()


def test_api_on_mariadb_runs_uptime(mariadb_url, sshd, tmp_path):
    app = create_app(Settings(library="ssh2", db_url=mariadb_url, key_file=tmp_path / "k.key"))
    token = store.add_user(app.extensions["sshapi"]["engine"], "m-carol")
    h = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    assert client.post("/credentials", json=_body(sshd, "m1"), headers=h).status_code == 201
    r = client.get("/credentials/m1/uptime", headers=h)
    assert r.status_code == 200 and "load average" in r.json["stdout"]
    assert client.delete("/credentials/m1", headers=h).status_code == 204


def test_column_limits_never_become_a_500(mariadb_url, sshd, tmp_path):
    """Every field at and past its column's limit, and names the collation cannot compare,
    answer 201 / 400 / 404: validation runs before anything reaches MariaDB."""
    app = create_app(Settings(library="ssh2", db_url=mariadb_url, key_file=tmp_path / "k.key"))
    token = store.add_user(app.extensions["sshapi"]["engine"], "m-dave")
    h = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    longest = sshd.credential(
        "n" * 64, host="h" * 255, username="u" * 64, host_key=sshd.host_key + " " + "c" * 7000
    )
    assert len(longest["host_key"]) <= 8192
    r = client.post("/credentials", json=longest, headers=h)
    assert r.status_code == 201, r.json
    bad = [
        {"name": "n" * 65},
        {"name": "🙂"},
        {"host": "h" * 256},
        {"username": "ü"},
        {"host_key": sshd.host_key + " 🙂"},
        {"host_key": sshd.host_key + " " + "c" * 9000},
        {"private_key": "🙂"},
    ]
    for change in bad:
        r = client.post("/credentials", json={**sshd.credential("m2"), **change}, headers=h)
        assert r.status_code == 400, (change, r.json)
    for name in ("%F0%9F%99%82", "%C3%A9", "n" * 65):
        for method, suffix in ((client.get, "/uptime"), (client.delete, "")):
            r = method(f"/credentials/{name}{suffix}", headers=h)
            assert r.status_code == 404, (name, r.json)
    r = client.get("/credentials", headers=h)
    assert [c["name"] for c in r.json["credentials"]] == ["n" * 64]


def test_add_user_again_needs_new_token_and_the_old_token_stops(mariadb_url, tmp_path):
    """A second deployment against the same MariaDB finds its benchmark user there (the
    Ansible role runs `sshapi add-user NAME --new-token` every time it has no token file)."""

    def add_user(*flags: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "sshapi.cli", "add-user", "m-erin", *flags],
            env={**os.environ, "SSHAPI_DB_URL": mariadb_url},
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    first = add_user("--new-token")
    assert first.returncode == 0, first.stderr
    again = add_user()
    assert again.returncode == 1 and "already exists" in again.stderr
    second = add_user("--new-token")
    assert second.returncode == 0, second.stderr
    old, new = first.stdout.splitlines()[-1], second.stdout.splitlines()[-1]
    engine = store.make_engine(mariadb_url)
    assert old != new and store.user_for_token(engine, old) is None
    assert store.user_for_token(engine, new) is not None
    engine.dispose()
