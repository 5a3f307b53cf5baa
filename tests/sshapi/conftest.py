"""Fixtures for the SSH API's tests: a real sshd (session-wide) and API clients."""

from __future__ import annotations

import pytest

# `sshapi` here is the package at the repository root, never this folder (tests/sshapi/, a
# namespace package on the path pytest prepends): pyproject's `pythonpath = ["."]` puts the
# root on sys.path, and a regular package wins over a namespace one wherever it sits on the
# path (test_the_package_is_the_real_one guards it).
from sshapi import store
from sshapi.app import create_app
from sshapi.settings import Settings
from sshapi.testing import running_sshd


@pytest.fixture(scope="session")
def sshd(tmp_path_factory):
    with running_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


class ApiClient:
    """A Flask test client with one user's token, plus helpers."""

    def __init__(self, app, token: str) -> None:
        self.app = app
        self.http = app.test_client()
        self.token = token

    def _h(self, token: str | None = None) -> dict:
        return {"Authorization": f"Bearer {token or self.token}"}

    def get(self, path: str, **kw):
        return self.http.get(path, headers=self._h(kw.pop("token", None)), **kw)

    def post(self, path: str, body, **kw):
        return self.http.post(path, json=body, headers=self._h(kw.pop("token", None)), **kw)

    def delete(self, path: str, **kw):
        return self.http.delete(path, headers=self._h(kw.pop("token", None)), **kw)

    def add_user(self, name: str) -> str:
        return store.add_user(self.app.extensions["sshapi"]["engine"], name)


@pytest.fixture
def make_client(tmp_path):
    """make_client(library, connections, **settings) -> ApiClient with a fresh DB."""
    made = []

    def make(library: str = "ssh2", connections: str = "per-request", **kw) -> ApiClient:
        n = len(made)
        settings = Settings(
            library=library,
            connections=connections,
            db_url=f"sqlite:///{tmp_path}/api{n}.db",
            key_file=tmp_path / "secret.key",
            **kw,
        )
        app = create_app(settings)
        token = store.add_user(app.extensions["sshapi"]["engine"], "alice")
        client = ApiClient(app, token)
        made.append(app)
        return client

    yield make
    for app in made:
        pool = app.extensions["sshapi"]["pool"]
        if pool is not None:
            pool.close_all()


@pytest.fixture
def memory_cap():
    """memory_cap(limit_bytes) -> a MemoryCap (memcap.py), a cgroup for a process the test
    starts; stale groups of finished test processes are removed first, this test's after it
    (its processes stopped by then). Marks the test `hostile` (tests/conftest.py)."""
    from memcap import MemoryCap, remove_stale

    remove_stale()
    made: list[MemoryCap] = []

    def make(limit_bytes: int) -> MemoryCap:
        made.append(MemoryCap(limit_bytes))
        return made[-1]

    yield make
    for cap in made:
        cap.remove()
