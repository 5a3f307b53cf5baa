"""The file endpoints under a memory cap (issue 21): the real `sshapi serve` (gunicorn) runs in
a cgroup memory group while a 256 MiB file streams through it, and against hostile SFTP
servers (hostile_server.py) that flood, stall or drip; the API must stay far below the file's
size, answer within its rate deadline, and keep serving another user."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from hostile_server import SFTP_BEHAVIOURS, HostileServer
from memcap import MemoryCap
from test_files import remote, sftpd  # noqa: F401 (fixtures)
from test_sshapi_hostile import add_user
from test_sshapi_hostile import start_capped as start_hostile_capped

from sshapi.testing import stop_process

MIB = 1024 * 1024
BIG = 256 * MIB
MEMORY_CAP = 384 * MIB  # the cgroup limit: a worker that buffered the file would be killed
MEMORY_BOUND = 128 * MIB  # the API's peak, file in flight (an idle worker is ~60-100 MB)
GRACE_S = 3.0  # --command-timeout: a transfer that moves nothing this long is cut
SLACK_S = 3.0  # HTTP round trip and the alarm's check on a loaded 2-core machine
# how long the flood's client reads before it goes away (libssh reads one request at a time:
# ~1 MB/s from the Python hostile server, 100+ MB/s for the others)
CLIENT_READS_S = 5.0


def start_capped(tmp, db: str, library: str, connections: str, cap: MemoryCap):
    """`sshapi serve` in the memory group (test_sshapi_hostile's), deadlines at GRACE_S."""
    return start_hostile_capped(tmp, db, library, connections, cap, grace_s=GRACE_S)


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def big_file(sftpd):  # noqa: F811
    """A 256 MiB random file in the test user's home, and its sha256."""
    path = sftpd.home / f"big-{os.getpid()}.bin"
    h = hashlib.sha256()
    with open(path, "wb") as f:
        for _ in range(BIG // MIB):
            block = os.urandom(MIB)
            h.update(block)
            f.write(block)
    st = os.stat(sftpd.home)
    os.chown(path, st.st_uid, st.st_gid)
    yield path, h.hexdigest()
    path.unlink(missing_ok=True)


@pytest.mark.parametrize(
    "library, upload", [("ssh2", True), ("paramiko", False), ("asyncssh", False)]
)
def test_a_256_mib_file_streams_through_a_capped_api(
    tmp_path,
    sftpd,  # noqa: F811
    remote,  # noqa: F811
    big_file,
    memory_cap,
    library,
    upload,
):
    src, digest = big_file
    base, local = remote
    db = f"sqlite:///{tmp_path}/api.db"
    token = add_user(db, "alice")
    cap = memory_cap(MEMORY_CAP)
    proc, url, log = start_capped(tmp_path, db, library, "per-request", cap)
    report: dict = {"library": library}
    try:
        r = requests.post(f"{url}/credentials", json=sftpd.credential("h1"), headers=auth(token))
        assert r.status_code == 201, r.text
        files = f"{url}/credentials/h1/files"
        t0 = time.monotonic()
        with requests.get(f"{files}?path={src}", headers=auth(token), stream=True) as r:
            assert r.status_code == 200, r.text
            h = hashlib.sha256()
            for block in r.iter_content(MIB):
                h.update(block)
        report["download_s"] = round(time.monotonic() - t0, 2)
        assert h.hexdigest() == digest
        report["download_peak_mib"] = round(cap.peak() / MIB, 1)
        if upload:
            t0 = time.monotonic()
            with open(src, "rb") as f:  # a file object: requests sends Content-Length
                r = requests.put(f"{files}?path={base}/up.bin", data=f, headers=auth(token))
            report["upload_s"] = round(time.monotonic() - t0, 2)
            assert r.status_code == 201, r.text
            assert r.json()["size"] == BIG
            assert (local / "up.bin").stat().st_size == BIG
        peak, oom = cap.peak(), cap.oom_kills()
        # the client has every byte when the server's generator has yet to end: wait for it
        t0 = time.monotonic()
        while (health := requests.get(f"{url}/healthz", headers=auth(token)).json()["transfers"])[
            "active"
        ]:
            if time.monotonic() - t0 > 10:
                break
            time.sleep(0.05)
    finally:
        stop_process(proc, timeout=15)
        cap.remove()
    report["peak_mib"] = round(peak / MIB, 1)
    print("files memory:", json.dumps(report))
    assert oom == 0 and peak < MEMORY_BOUND, report
    assert health["active"] == 0 and health["completed"] == 1 + upload, health
    # progress in the server log, every 16 MiB
    assert re.search(rf"transfer 1: \d+/{BIG} bytes", log.read_text()), "no progress logged"
    if upload:
        with open(local / "up.bin", "rb") as f:
            assert hashlib.file_digest(f, "sha256").hexdigest() == digest


@pytest.fixture(scope="module")
def hostile_sftp(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile-sftp")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "host")],
                   check=True)  # fmt: skip
    servers = {b: HostileServer(b, d / "host", interval=1.0) for b in SFTP_BEHAVIOURS}
    try:
        yield servers
    finally:
        for s in servers.values():
            s.close()


def _download(url: str, token: str, name: str, read_at_most: int) -> tuple[int, str, int, float]:
    """(status, error code or "", body bytes read, seconds until the body ended or stopped)."""
    t0 = time.monotonic()
    got = 0
    with requests.get(
        f"{url}/credentials/{name}/files?path=/any/file", headers=auth(token), stream=True,
        timeout=60,
    ) as r:  # fmt: skip
        if r.status_code != 200:
            return r.status_code, r.json().get("error", ""), 0, time.monotonic() - t0
        try:
            for block in r.iter_content(256 * 1024):
                got += len(block)
                if got >= read_at_most or time.monotonic() - t0 > CLIENT_READS_S:
                    break
        except requests.RequestException:
            pass  # a body cut short: what a stalled transfer looks like once headers are out
    return 200, "", got, time.monotonic() - t0


def _upload(url: str, token: str, name: str) -> tuple[int, str, float]:
    t0 = time.monotonic()
    r = requests.put(
        f"{url}/credentials/{name}/files?path=/any/up.bin", data=os.urandom(4 * MIB),
        headers=auth(token), timeout=60,
    )  # fmt: skip
    return r.status_code, r.json().get("error", ""), time.monotonic() - t0


@pytest.mark.parametrize("library", ["ssh2", "paramiko", "asyncssh", "ssh-python"])
def test_hostile_sftp_servers_stay_within_caps_and_deadlines(
    tmp_path,
    sftpd,  # noqa: F811
    hostile_sftp,
    memory_cap,
    library,
):
    db = f"sqlite:///{tmp_path}/api.db"
    mallory, alice = add_user(db, "mallory"), add_user(db, "alice")
    cap = memory_cap(MEMORY_CAP)
    proc, url, log = start_capped(tmp_path, db, library, "per-request", cap)
    flood_bytes = hostile_sftp["sftp_flood"].bytes_sent
    try:
        for b, server in hostile_sftp.items():
            body = sftpd.credential(b, port=server.port, host_key=server.known_hosts_line())
            r = requests.post(f"{url}/credentials", json=body, headers=auth(mallory))
            assert r.status_code == 201, r.text
        r = requests.post(f"{url}/credentials", json=sftpd.credential("real"), headers=auth(alice))
        assert r.status_code == 201, r.text
        with ThreadPoolExecutor(4) as pool:
            flood = pool.submit(_download, url, mallory, "sftp_flood", 64 * MIB)
            stall = pool.submit(_download, url, mallory, "sftp_stall", 1)
            drip = pool.submit(_download, url, mallory, "sftp_drip", 1 << 30)
            stall_up = pool.submit(_upload, url, mallory, "sftp_stall")
            time.sleep(0.5)
            during = requests.get(f"{url}/credentials/real/uptime", headers=auth(alice))
            answers = {
                "flood": flood.result(120),
                "stall": stall.result(120),
                "drip": drip.result(120),
                "stall_upload": stall_up.result(120),
            }
        t0 = time.monotonic()
        while requests.get(f"{url}/healthz", headers=auth(alice)).json()["transfers"]["active"]:
            assert time.monotonic() - t0 < GRACE_S + SLACK_S, "a transfer outlived its client"
            time.sleep(0.1)
        after = requests.get(f"{url}/credentials/real/uptime", headers=auth(alice))
        peak, oom, alive = cap.peak(), cap.oom_kills(), proc.poll() is None
    finally:
        stop_process(proc, timeout=15)
        cap.remove()
    report = {
        "library": library,
        "answers": {
            k: [round(x, 2) if isinstance(x, float) else x for x in v] for k, v in answers.items()
        },
        "peak_mib": round(peak / MIB, 1),
    }
    print("hostile sftp:", json.dumps(report))
    assert alive and oom == 0 and peak < MEMORY_BOUND, report
    # a flood is read at the client's pace, no faster: what the client took, and then it stops
    status, _, got, _ = answers["flood"]
    assert status == 200 and got >= MIB, report
    sent = hostile_sftp["sftp_flood"].bytes_sent - flood_bytes
    assert sent < got + 64 * MIB, report  # read ahead of the client: a few windows at most
    # a stall before the first byte is a 504 in JSON, after the grace
    status, code, _, took = answers["stall"]
    assert (status, code) == (504, "ssh_timeout") and took < GRACE_S + SLACK_S, report
    status, code, took = answers["stall_upload"]
    assert (status, code) == (504, "ssh_timeout") and took < GRACE_S + SLACK_S, report
    # a drip falls below the rate: a 504 if the first chunk never filled (the library waits
    # for its whole read request), else the body is cut and the connection closed
    status, code, got, took = answers["drip"]
    assert (status, code) in ((200, ""), (504, "ssh_timeout")), report
    assert got < 100 and took < GRACE_S + SLACK_S + 1, report
    for r in (during, after):
        assert r.status_code == 200 and "load average" in r.json()["stdout"], report
    assert "Traceback" not in log.read_text()
