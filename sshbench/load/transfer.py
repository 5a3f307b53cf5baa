"""The host side of a transfer point: its files, made before the load and removed after.

Everything goes through the API's own Files endpoints (sshapi/files.py), so the same code
serves the local testbed and real VMs. Per point, a directory ``sshbench-transfer/<point
id>`` in the test user's home:

- a download point's file ``src``: the point's size of seeded random bytes (seed, point
  id), uploaded once, then downloaded once and its sha256 compared (which also leaves it in
  the host's page cache, as every measured download finds it);
- an upload point's targets ``up-<process>-<stream>`` (each stream overwrites its own).

``cleanup`` deletes them (and any upload part a cut transfer left) and the directory.
point.json ``transfer`` records the path, size and sha256.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any
from urllib.parse import quote

import requests

ROOT = "sshbench-transfer"
MIB = 1024 * 1024
CHUNK = 1024 * 1024
TIMEOUT_S = 600.0


class TransferSetupError(RuntimeError):
    """The point's file could not be made or checked on the host (the message says why)."""


class _Generated:
    """`size` seeded random bytes as a file-like body with a length (requests then sends a
    Content-Length, not chunks) and their sha256 once read."""

    def __init__(self, size: int, seed: str) -> None:
        self.left = size
        self.size = size
        self.rng = random.Random(seed)
        self.sha = hashlib.sha256()

    def __len__(self) -> int:
        return self.left

    def read(self, n: int = -1) -> bytes:
        n = self.left if n is None or n < 0 else min(n, self.left)
        data = self.rng.randbytes(n)
        self.left -= n
        self.sha.update(data)
        return data


def size_bytes(params: dict[str, Any]) -> int:
    return round(float(params["transfer_size_mib"]) * MIB)


def remote_dir(point_id: str) -> str:
    return f"{ROOT}/{point_id}"


def _url(dep: dict[str, Any], cred: str, what: str, path: str | None = None) -> str:
    q = f"?path={quote(path, safe='')}" if path is not None else ""
    return f"{dep['url'].rstrip('/')}/credentials/{quote(cred, safe='')}/{what}{q}"


def _headers(dep: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {dep['token']}"}


def _mkdir(dep: dict[str, Any], cred: str, path: str) -> None:
    r = requests.post(
        _url(dep, cred, "files/mkdir"), json={"path": path}, headers=_headers(dep), timeout=60
    )
    if r.status_code not in (201, 409):  # 409: it exists (a rerun attempt)
        raise TransferSetupError(f"mkdir {path}: HTTP {r.status_code} {r.text[:200]}")


def prepare(dep: dict[str, Any], cred: str, params: dict[str, Any], point_id: str) -> dict:
    """Make the point's directory (and a download point's checked file); what was made."""
    size = size_bytes(params)
    d = remote_dir(point_id)
    _mkdir(dep, cred, ROOT)
    _mkdir(dep, cred, d)
    out: dict[str, Any] = {"dir": d, "size_bytes": size, "direction": params["direction"]}
    if params["direction"] != "download":
        return out
    src = f"{d}/src"
    body = _Generated(size, f"{params.get('seed', 1)}:{point_id}")
    r = requests.put(
        _url(dep, cred, "files", src),
        data=body,
        headers={**_headers(dep), "Content-Length": str(size)},
        timeout=TIMEOUT_S,
    )
    if r.status_code != 201:
        raise TransferSetupError(f"upload of {src}: HTTP {r.status_code} {r.text[:200]}")
    want = body.sha.hexdigest()
    got, n = hashlib.sha256(), 0
    with requests.get(
        _url(dep, cred, "files", src), headers=_headers(dep), stream=True, timeout=TIMEOUT_S
    ) as r:
        if r.status_code != 200:
            raise TransferSetupError(f"download of {src}: HTTP {r.status_code}")
        for chunk in r.iter_content(CHUNK):
            got.update(chunk)
            n += len(chunk)
    if n != size or got.hexdigest() != want:
        raise TransferSetupError(
            f"{src} came back as {n} bytes with sha256 {got.hexdigest()[:16]}, "
            f"not the {size} bytes with sha256 {want[:16]} uploaded"
        )
    return {**out, "file": src, "sha256": want}


def cleanup(dep: dict[str, Any], cred: str, made: dict[str, Any], processes: int, streams: int):
    """Delete what `prepare` and the load made (missing files are fine); never raises."""
    d = made["dir"]
    names = ["src"]
    for p in range(processes):
        for u in range(streams):
            names += [f"up-{p}-{u}", f".up-{p}-{u}.sshapi-part"]
    try:
        for name in [*names, None]:
            path = d if name is None else f"{d}/{name}"
            requests.delete(_url(dep, cred, "files", path), headers=_headers(dep), timeout=60)
    except requests.RequestException:
        pass
