"""The file endpoints (issue 21) against a real sshd with its SFTP subsystem, for every
library backend and both connection modes: round trips (sha256), ranges and resume,
rename/delete/mkdir/stat, and the errors (no such file, permission, alphabet, caps)."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

from sshapi.settings import CONNECTION_MODES
from sshapi.testing import running_sshd

FILE_LIBRARIES = ("ssh2", "paramiko", "asyncssh", "ssh-python")
ALL = [(lib, mode) for lib in FILE_LIBRARIES for mode in CONNECTION_MODES]
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def sftpd(tmp_path_factory):
    """The test sshd, with `Subsystem sftp internal-sftp` (the session sshd has none)."""
    with running_sshd(
        tmp_path_factory.mktemp("sftpd"), extra_config="Subsystem sftp internal-sftp"
    ) as server:
        yield server


@pytest.fixture
def remote(sftpd):
    """A fresh directory in the test user's home: (absolute path, its local Path)."""
    d = sftpd.home / f"ft-{uuid.uuid4().hex[:10]}"
    d.mkdir()
    st = os.stat(sftpd.home)
    os.chown(d, st.st_uid, st.st_gid)
    yield str(d), d
    shutil.rmtree(d, ignore_errors=True)


def client_for(make_client, sftpd, library, connections, **kw):
    c = make_client(library, connections, **kw)
    r = c.post("/credentials", sftpd.credential("h1"))
    assert r.status_code == 201, r.text
    return c


def put(c, path: str, data: bytes, offset: int | None = None, **kw):
    q = f"path={path}" + (f"&offset={offset}" if offset is not None else "")
    return c.http.put(
        f"/credentials/h1/files?{q}",
        data=data,
        headers={**c._h(), "Content-Length": str(len(data)), **kw.pop("headers", {})},
        **kw,
    )


@contextmanager
def live_server(app):
    """The app behind werkzeug's threaded server on 127.0.0.1 (real sockets, so a client can
    really go away mid-body); yields the port."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        thread.join(10)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("library, connections", ALL)
def test_round_trips_are_byte_identical(make_client, sftpd, remote, library, connections):
    c = client_for(make_client, sftpd, library, connections)
    base, local = remote
    sizes = [0, 1, 1_000_003]
    if connections == "per-request":
        sizes.append(64 * MIB)  # one large file per library
    for size in sizes:
        data = os.urandom(size)
        path = f"{base}/f{size}.bin"
        r = put(c, path, data)
        assert r.status_code == 201, r.text
        assert r.json["size"] == size
        assert sha((local / f"f{size}.bin").read_bytes()) == sha(data)  # on the host
        assert not (local / f".f{size}.bin.sshapi-part").exists()  # renamed into place
        r = c.get(f"/credentials/h1/files?path={path}")
        assert r.status_code == 200, r.text
        assert int(r.headers["Content-Length"]) == size
        assert sha(r.data) == sha(data), size
        st = c.get(f"/credentials/h1/files/stat?path={path}").json
        assert (st["size"], st["type"], st["partial_upload"]) == (size, "file", None)
    health = c.get("/healthz").json["transfers"]
    assert health["active"] == 0 and health["completed"] >= 2 * len(sizes)
    assert health["bytes_total"] >= 2 * sum(sizes)


@pytest.mark.parametrize("library, connections", ALL)
def test_ranges_and_resumed_transfers(make_client, sftpd, remote, library, connections):
    c = client_for(make_client, sftpd, library, connections)
    base, local = remote
    data = os.urandom(3 * MIB + 17)
    (local / "src.bin").write_bytes(data)
    url = f"/credentials/h1/files?path={base}/src.bin"

    r = c.http.get(url, headers={**c._h(), "Range": "bytes=100-199"})
    assert (r.status_code, r.data) == (206, data[100:200])
    assert r.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    r = c.http.get(url, headers={**c._h(), "Range": f"bytes={len(data)}-"})
    assert (r.status_code, r.json["error"]) == (416, "range_not_satisfiable")
    failed = c.get("/healthz").json["transfers"]["failed"]  # per process: all tests'
    r = c.http.head(url, headers=c._h())  # what a resuming client asks first
    assert (r.status_code, r.headers["Content-Length"], r.data) == (200, str(len(data)), b"")
    assert c.get("/healthz").json["transfers"]["failed"] == failed

    # a download cut mid-way (the client closes), resumed with Range + If-Range
    r = c.http.get(url, headers=c._h(), buffered=False)
    etag = r.headers["ETag"]
    got = b""
    for piece in r.response:
        got += piece
        if len(got) >= MIB:
            break
    r.close()
    assert 0 < len(got) < len(data)
    r = c.http.get(url, headers={**c._h(), "Range": f"bytes={len(got)}-", "If-Range": etag})
    assert r.status_code == 206
    assert sha(got + r.data) == sha(data)
    # the remote file changed in between: the resume is refused, not served another file
    (local / "src.bin").write_bytes(data + b"more")
    r = c.http.get(url, headers={**c._h(), "Range": f"bytes={len(got)}-", "If-Range": etag})
    assert (r.status_code, r.json["error"]) == (412, "remote_changed"), r.json

    # an upload cut mid-way: the client sends part of the body and closes its socket
    up = os.urandom(2 * MIB + 5)
    cut = MIB + 3
    with live_server(c.app) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(
                f"PUT /credentials/h1/files?path={base}/up.bin HTTP/1.1\r\nHost: x\r\n"
                f"Authorization: Bearer {c.token}\r\nContent-Length: {len(up)}\r\n\r\n".encode()
                + up[:cut]
            )
            time.sleep(0.5)
        t0 = time.monotonic()
        while c.get("/healthz").json["transfers"]["active"] and time.monotonic() - t0 < 20:
            time.sleep(0.05)  # the server notices the end of the body
    assert c.get("/healthz").json["transfers"]["failed"] >= 1
    assert not (local / "up.bin").exists()  # nothing appears under the name until complete
    part = c.get(f"/credentials/h1/files/stat?path={base}/up.bin")
    assert part.status_code == 404  # the file itself does not exist yet
    kept = (local / ".up.bin.sshapi-part").stat().st_size
    assert kept == cut  # every byte that arrived before the cut is kept
    r = put(c, f"{base}/up.bin", up[kept + 1 :], offset=kept + 1)
    assert (r.status_code, r.json["error"]) == (409, "offset_mismatch")
    assert f"offset={kept}" in r.json["message"]
    r = put(c, f"{base}/up.bin", up[kept:], offset=kept)
    assert r.status_code == 201, r.json
    assert sha((local / "up.bin").read_bytes()) == sha(up)
    assert not (local / ".up.bin.sshapi-part").exists()
    r = put(c, f"{base}/nothing.bin", b"abc", offset=3)
    assert (r.status_code, r.json["error"]) == (409, "offset_mismatch")


@pytest.mark.parametrize("library, connections", ALL)
def test_rename_delete_mkdir_stat(make_client, sftpd, remote, library, connections):
    c = client_for(make_client, sftpd, library, connections)
    base, local = remote
    files = "/credentials/h1/files"
    assert c.post(f"{files}/mkdir", {"path": f"{base}/d"}).status_code == 201
    assert (local / "d").is_dir()
    r = c.post(f"{files}/mkdir", {"path": f"{base}/d"})
    assert (r.status_code, r.json["error"]) == (409, "exists")
    st = c.get(f"{files}/stat?path={base}/d").json
    assert st["type"] == "dir" and st["size"] >= 0
    (local / "a").write_bytes(b"A")
    (local / "b").write_bytes(b"BB")
    r = c.post(f"{files}/rename", {"from": f"{base}/a", "to": f"{base}/b"})
    assert (r.status_code, r.json["error"]) == (409, "exists")
    r = c.post(f"{files}/rename", {"from": f"{base}/a", "to": f"{base}/b", "overwrite": True})
    assert r.status_code == 200, r.json
    assert (local / "b").read_bytes() == b"A" and not (local / "a").exists()
    r = c.post(f"{files}/rename", {"from": f"{base}/b", "to": f"{base}/d/c"})
    assert r.status_code == 200 and (local / "d" / "c").read_bytes() == b"A"
    r = c.delete(f"{files}?path={base}/d")
    assert (r.status_code, r.json["error"]) == (409, "not_empty")
    assert c.delete(f"{files}?path={base}/d/c").status_code == 204
    assert c.delete(f"{files}?path={base}/d").status_code == 204
    assert list(local.iterdir()) == []
    r = c.delete(f"{files}?path={base}/d")
    assert (r.status_code, r.json["error"]) == (404, "no_such_file")


@pytest.mark.parametrize("library", FILE_LIBRARIES)
def test_errors_map_to_http(make_client, sftpd, remote, library):
    c = client_for(make_client, sftpd, library, "per-request", max_upload_bytes=1000)
    base, _ = remote
    files = "/credentials/h1/files"
    for url in (f"{files}?path={base}/none", f"{files}/stat?path={base}/none"):
        r = c.get(url)
        assert (r.status_code, r.json["error"]) == (404, "no_such_file"), url
    r = c.get(f"{files}?path=/root/secret")  # /root is 0700 root: the test user may not look
    assert (r.status_code, r.json["error"]) == (403, "permission_denied")
    r = put(c, "/root/x", b"x")
    assert (r.status_code, r.json["error"]) == (403, "permission_denied")
    r = c.post(f"{files}/mkdir", {"path": "/root/d"})
    assert (r.status_code, r.json["error"]) == (403, "permission_denied")
    for bad in ("a;b", "$(id)", "x\ny", "a'b", ""):
        r = c.http.get(files, query_string={"path": bad}, headers=c._h())
        assert (r.status_code, r.json["error"]) == (400, "bad_path"), bad
    r = c.post(f"{files}/rename", {"from": f"{base}/x", "to": "`id`"})
    assert (r.status_code, r.json["error"]) == (400, "bad_path")
    r = put(c, f"{base}/big", b"x" * 1001)
    assert (r.status_code, r.json["error"]) == (413, "upload_too_large")
    r = c.http.put(
        f"{files}?path={base}/x",
        headers={**c._h(), "Transfer-Encoding": "chunked"},
        input_stream=io.BytesIO(b"3\r\nabc\r\n0\r\n\r\n"),
    )
    assert (r.status_code, r.json["error"]) == (411, "length_required")
    r = c.get(f"{files}?path={base}")
    assert (r.status_code, r.json["error"]) == (400, "is_a_directory")
    assert c.get(f"/credentials/nope/files?path={base}/x").status_code == 404


def test_openssh_backend_says_it_has_no_file_support(make_client, sftpd):
    c = client_for(make_client, sftpd, "openssh", "per-request")
    r = c.get("/credentials/h1/files?path=/etc/hostname")
    assert (r.status_code, r.json["error"]) == (501, "not_implemented")
    assert "sftp" in r.json["message"]


@pytest.mark.parametrize("library", ["ssh2", "paramiko"])
def test_a_transfer_holds_a_user_slot_until_its_last_byte(make_client, sftpd, remote, library):
    """The per-user cap of the command endpoints counts transfers too, for their whole life."""
    c = client_for(make_client, sftpd, library, "per-request", max_user_requests=1)
    base, local = remote
    (local / "f").write_bytes(os.urandom(2 * MIB))
    r = c.http.get(f"/credentials/h1/files?path={base}/f", headers=c._h(), buffered=False)
    assert r.status_code == 200
    second = c.get("/credentials/h1/uptime")
    assert (second.status_code, second.json["error"]) == (429, "too_many_requests")
    health = c.get("/healthz").json["transfers"]
    assert health["active"] == 1 and health["running"][0]["direction"] == "download"
    r.close()  # the client goes away mid-transfer: the slot comes back
    assert c.get("/credentials/h1/uptime").status_code == 200
    assert c.get("/healthz").json["transfers"]["active"] == 0


def test_parallel_downloads_in_pooled_mode_share_connections(make_client, sftpd, remote):
    c = client_for(make_client, sftpd, "paramiko", "pooled")
    base, local = remote
    data = os.urandom(MIB + 1)
    (local / "f").write_bytes(data)
    results = []

    def one():
        results.append(c.get(f"/credentials/h1/files?path={base}/f").data)

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 6 and all(sha(r) == sha(data) for r in results)
    stats = c.app.extensions["sshapi"]["pool"].stats()
    assert stats["open_connections"] <= 6 and stats["busy_channels"] == 0


def _children(pid: int) -> list[int]:
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(d))
    return kids


@pytest.mark.parametrize("library", FILE_LIBRARIES)
def test_a_pooled_connection_broken_under_us_is_replaced_once(make_client, sftpd, remote, library):
    """sshd drops the pooled connection (its session process ends): the next file request
    opens a new one instead of failing, as pooled commands do."""
    c = client_for(make_client, sftpd, library, "pooled")
    base, local = remote
    (local / "f").write_bytes(b"abc")
    url = f"/credentials/h1/files/stat?path={base}/f"
    assert c.get(url).status_code == 200
    pool = c.app.extensions["sshapi"]["pool"]
    assert pool.stats()["open_connections"] == 1
    for kid in _children(sftpd.pid):  # our sshd's per-connection processes: ours alone
        os.kill(kid, 15)
    time.sleep(0.5)
    r = c.get(url)
    assert (r.status_code, r.json["size"]) == (200, 3), r.json
    assert pool.stats()["open_connections"] == 1
