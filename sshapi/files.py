"""The file endpoints (issue 21): TACC's Files API over SFTP, for every library backend and
both connection modes.

    GET    /credentials/<name>/files?path=P          download, streamed; Range; If-Match
    PUT    /credentials/<name>/files?path=P[&offset=N]  upload, streamed, atomic; resumable
    GET    /credentials/<name>/files/stat?path=P
    POST   /credentials/<name>/files/rename          {"from": P, "to": Q, "overwrite": false}
    DELETE /credentials/<name>/files?path=P          a file, or an empty directory
    POST   /credentials/<name>/files/mkdir           {"path": P}

The guards are the command endpoints': the same path alphabet (commands.check_path), the
same per-user cap on SSH requests (a transfer holds one slot until its last byte), the same
connect deadline. A transfer has no fixed deadline: it is cut once it falls below
`min_transfer_rate` on average after `command_timeout` seconds, or moves no byte for
`command_timeout` seconds (backends/sftp.RateGuard); that covers the HTTP side too (a client
that reads slower than the rate holds the SSH connection no longer). Nothing is ever held
whole in memory: a download is a generator of CHUNKs, an upload reads request.stream.

Resume. A download answers `ETag` (size and mtime of the remote file) and `Accept-Ranges`;
a client that was cut resumes with `Range: bytes=N-` and `If-Range`/`If-Match: ETAG`, and is
refused with 412 `remote_changed` if the file changed meanwhile (never given another
file's bytes). An upload is written to `DIR/.NAME.sshapi-part` and renamed onto NAME once
all its bytes arrived; if cut, the part stays, `files/stat` reports its size
(`partial_upload`), and `PUT ?offset=SIZE` continues it. An offset that is not the part's
size is refused with 409 `offset_mismatch`; `If-Match` with the part's ETag also refuses a
part changed by someone else (412). SFTP v3 rename does not replace a file, so the last
step is remove-then-rename: a reader may see no file for that instant (posix-rename is an
OpenSSH extension not every library offers).

The `openssh` backend has no file support (501): the `sftp` client transfers only between
remote and local files, so streaming through the API would need a full copy on the API's
disk before the first byte goes out (no Range, no streaming, disk the size of the largest
file); its role in the study is the command baseline.
"""

from __future__ import annotations

import contextlib
import logging
import posixpath
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from flask import Blueprint, Response, current_app, g, jsonify, request
from werkzeug.exceptions import ClientDisconnected
from werkzeug.http import http_date

from sshapi import backends, store
from sshapi.backends.sftp import (
    CHUNK,
    FX_FAILURE,
    FX_NO_SUCH_FILE,
    FX_PERMISSION_DENIED,
    FileStat,
    RateGuard,
    SftpStatus,
)
from sshapi.commands import check_path
from sshapi.deadline import Deadline
from sshapi.errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    SSHFailure,
    TooLarge,
)

log = logging.getLogger("sshapi.files")
PART_SUFFIX = ".sshapi-part"
LOG_EVERY = 16 * 1024 * 1024  # a progress line per this many bytes of one transfer
NO_FILES = {
    "openssh": "the openssh backend has no file support: the sftp client copies only to "
    "and from local files, so it cannot stream; use ssh2, paramiko, asyncssh or ssh-python"
}


class NotImplementedByBackend(ApiError):
    status = 501
    code = "not_implemented"


class PreconditionFailed(ApiError):
    status = 412
    code = "remote_changed"


class RangeNotSatisfiable(ApiError):
    status = 416
    code = "range_not_satisfiable"


class LengthRequired(ApiError):
    status = 411
    code = "length_required"


# --- progress: the /healthz counter and the log lines -------------------------------------


@dataclass
class Transfer:
    id: int
    direction: str  # "download" | "upload"
    credential: str
    size: int  # bytes this request moves
    guard: RateGuard
    logged: int = 0
    started: float = field(default_factory=time.monotonic)


class Transfers:
    """Transfers running in this worker, and totals since it started."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 0
        self.active: dict[int, Transfer] = {}
        self.bytes_done = 0  # bytes of finished transfers (complete or not)
        self.completed = 0
        self.failed = 0

    def start(self, direction: str, credential: str, size: int, guard: RateGuard) -> Transfer:
        with self._lock:
            self._next += 1
            t = Transfer(self._next, direction, credential, size, guard)
            self.active[t.id] = t
        log.info("transfer %d: %s of %d bytes via %s started", t.id, direction, size, credential)
        return t

    def progress(self, t: Transfer) -> None:
        if t.guard.bytes - t.logged >= LOG_EVERY:
            t.logged = t.guard.bytes
            log.info("transfer %d: %d/%d bytes", t.id, t.guard.bytes, t.size)

    def end(self, t: Transfer, ok: bool, why: str = "") -> None:
        with self._lock:
            if self.active.pop(t.id, None) is None:
                return
            self.bytes_done += t.guard.bytes
            self.completed += ok
            self.failed += not ok
        s = time.monotonic() - t.started
        log.info(
            "transfer %d: %s, %d/%d bytes in %.2f s%s",
            t.id,
            "done" if ok else "cut",
            t.guard.bytes,
            t.size,
            s,
            f" ({why})" if why else "",
        )

    def stats(self) -> dict:
        with self._lock:
            running = [
                {"id": t.id, "direction": t.direction, "bytes": t.guard.bytes, "size": t.size}
                for t in self.active.values()
            ]
            return {
                "active": len(running),
                "bytes_total": self.bytes_done + sum(r["bytes"] for r in running),
                "completed": self.completed,
                "failed": self.failed,
                "running": running,
            }


TRANSFERS = Transfers()


# --- one SFTP session per request, on a new or a pooled connection -------------------------


class Session:
    """The user's slot, the connection (own or leased from the pool), the SFTP client and
    the guard of one request; `close()` gives everything back, once, in that order."""

    def __init__(self, target: store.Target) -> None:
        ext = current_app.extensions["sshapi"]
        self.settings = settings = ext["settings"]
        if settings.library in NO_FILES:
            raise NotImplementedByBackend(NO_FILES[settings.library])
        self._pool = ext["pool"]
        self._take, self._free = ext["user_slots"]
        self._user = g.user_id
        self._take(self._user)
        self._slot = self._conn = None
        self.sftp = None
        self.stream: Iterator[bytes] | None = None
        self.transfer: Transfer | None = None
        self._closed = False
        self.guard = RateGuard(settings.command_timeout, settings.min_transfer_rate)
        try:
            deadline = Deadline(settings.request_timeout)
            if self._pool is None:
                backend = backends.load(settings.library)
                self._conn = backend.connect(target, settings, deadline)
                self.sftp = self._conn.open_sftp(self.guard)
            else:
                self._open_pooled(target, deadline)
        except BaseException:
            self.close()
            raise

    def _open_pooled(self, target: store.Target, deadline: Deadline) -> None:
        """The pool's own bounds, waits and eviction apply (pool.py); a reused connection
        that turns out broken (sshd restarted) is dropped and the SFTP session opened once
        more on a new one, as pool.run retries a command."""
        self._slot, fresh = self._pool._acquire(target, deadline)
        self._conn = self._slot.conn
        try:
            self.sftp = self._conn.open_sftp(self.guard)
            return
        except SSHFailure:
            if fresh or self._conn.alive() or deadline.expired():
                raise
        slot, self._slot, self._conn = self._slot, None, None
        self._pool._drop(slot, broken=True)
        self._pool._release(slot)
        self.guard.cancel()
        self.guard = RateGuard(self.settings.command_timeout, self.settings.min_transfer_rate)
        self._slot, _ = self._pool._acquire(target, deadline, reuse=False)
        self._conn = self._slot.conn
        self.sftp = self._conn.open_sftp(self.guard)

    def close(self, ok: bool = True, why: str = "") -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self.stream is not None:
                stream, self.stream = self.stream, None
                try:
                    stream.close()  # the remote file handle first
                except ApiError as e:
                    ok, why = False, why or e.code
            if self.sftp is not None:
                self.sftp.close()
            self.guard.cancel()
            if self.transfer is not None:
                TRANSFERS.end(self.transfer, ok and not self.guard.fired, why)
            if self._slot is not None:
                if not self._conn.alive():
                    self._pool._drop(self._slot, broken=True)
                self._pool._release(self._slot)
            elif self._conn is not None:
                self._conn.close()
        finally:
            self._free(self._user)


def _status_error(e: SftpStatus, path: str) -> ApiError:
    if e.sftp_code == FX_NO_SUCH_FILE:
        return NotFound(f"no such file or directory: {path}", "no_such_file")
    if e.sftp_code == FX_PERMISSION_DENIED:
        return Forbidden(f"permission denied: {path}", "permission_denied")
    return Conflict(f"the SFTP server refused the operation on {path}: {e.message}", "sftp_failure")


def _stat(session: Session, path: str) -> FileStat | None:
    """The file's attributes; None if there is no such file."""
    try:
        return session.sftp.stat(path)
    except SftpStatus as e:
        if e.sftp_code == FX_NO_SUCH_FILE:
            return None
        raise _status_error(e, path) from None


def _do(session: Session, path: str, op, *args):
    try:
        return op(*args)
    except SftpStatus as e:
        raise _status_error(e, path) from None


def part_name(path: str) -> str:
    """Where an upload of `path` is written until all its bytes have arrived."""
    head, tail = posixpath.split(path)
    if not tail or tail in (".", ".."):
        raise BadRequest(f"upload needs a file name, not {path!r}", "bad_path")
    return posixpath.join(head, f".{tail}{PART_SUFFIX}")


def _stat_json(path: str, st: FileStat) -> dict:
    return {
        "path": path,
        "type": st.kind,
        "size": st.size,
        "mtime": st.mtime,
        "mode": oct(st.mode & 0o7777),
        "etag": st.etag,
    }


def _validator_matches(st: FileStat) -> None:
    """If-Match / If-Range name the ETag the client saw: refuse (412) if the file changed.
    (A stale If-Range would by HTTP's letter get the whole file; a resuming client that
    appends it would corrupt its copy, so it is refused the same way.)"""
    for header in ("If-Match", "If-Range"):
        value = request.headers.get(header)
        if value is None or value.strip() == "*":
            continue
        tags = [t.strip().removeprefix("W/") for t in value.split(",")]
        if st.etag not in tags:
            raise PreconditionFailed(
                f"the remote file changed since {header} {value.strip()[:40]} "
                f"(now {st.etag}); start over without {header}"
            )


def _body(request_stream, length: int) -> Iterator[bytes]:
    """The upload's bytes in CHUNKs; ClientDisconnected if the client stops short."""
    left = length
    while left > 0:
        data = request_stream.read(min(CHUNK, left))
        if not data:
            raise ClientDisconnected()
        left -= len(data)
        yield data


def _json_body(*fields: str) -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object", "bad_json")
    missing = [f for f in fields if f not in body]
    if missing:
        raise BadRequest(f"missing field(s): {', '.join(missing)}", "bad_request")
    return body


def blueprint(engine, box) -> Blueprint:
    bp = Blueprint("files", __name__)

    def target_of(name: str) -> store.Target:
        from sshapi.app import _known_name

        _known_name(name)
        return store.get_target(engine, box, g.user_id, name)

    @bp.get("/credentials/<name>/files")
    def download(name: str):
        path = check_path(request.args.get("path"), "download")
        session = Session(target_of(name))
        try:
            st = _stat(session, path)
            if st is None:
                raise NotFound(f"no such file or directory: {path}", "no_such_file")
            if st.kind == "dir":
                raise BadRequest(f"{path} is a directory", "is_a_directory")
            _validator_matches(st)
            start, stop, status = 0, st.size, 200
            if request.range is not None:
                span = request.range.range_for_length(st.size)
                if span is None:
                    raise RangeNotSatisfiable(
                        f"range {request.headers.get('Range', '')[:60]!r} does not fit a file "
                        f"of {st.size} bytes (one range of bytes only)"
                    )
                (start, stop), status = span, 206
            length = stop - start
            headers = {
                "Content-Length": str(length),
                "Accept-Ranges": "bytes",
                "ETag": st.etag,
                "Last-Modified": http_date(st.mtime),
            }
            if status == 206:
                headers["Content-Range"] = f"bytes {start}-{stop - 1}/{st.size}"
            if request.method == "HEAD":  # the headers a resuming client needs, no transfer
                session.close()
                resp = Response(b"", status=status, mimetype="application/octet-stream")
                resp.headers.update(headers)
                return resp
            session.transfer = TRANSFERS.start("download", name, length, session.guard)
            session.stream = _do(session, path, session.sftp.read, path, start, length)
            # the first chunk before the headers: an open that fails or stalls is still an
            # HTTP error, not a cut body
            first = _do(session, path, next, session.stream, b"")
        except BaseException as e:
            session.close(ok=False, why=getattr(e, "code", type(e).__name__))
            raise

        env = request.environ
        client_sock = env.get("gunicorn.socket") or env.get("werkzeug.socket")

        def body() -> Iterator[bytes]:
            got, why = len(first), ""
            try:
                if first:
                    yield first
                while got < length:
                    chunk = _do(session, path, next, session.stream, b"")
                    if not chunk:
                        why = "the remote file ended early"
                        break
                    got += len(chunk)
                    TRANSFERS.progress(session.transfer)
                    yield chunk
            except (ApiError, OSError) as e:
                why = getattr(e, "code", type(e).__name__)
                log.warning("download of %s via %s cut at %d bytes: %s", path, name, got, e)
            session.close(ok=got == length, why=why)
            if got < length and client_sock is not None:
                # headers are gone: the client sees a body shorter than Content-Length, and
                # the connection must end too, or a keep-alive client waits for the rest
                # (gunicorn 27 ignores an app's "Connection: close")
                with contextlib.suppress(OSError):
                    client_sock.shutdown(socket.SHUT_RDWR)

        resp = Response(body(), status=status, mimetype="application/octet-stream")
        resp.headers.update(headers)
        resp.call_on_close(lambda: session.close(ok=False, why="client went away"))
        return resp

    @bp.put("/credentials/<name>/files")
    def upload(name: str):
        path = check_path(request.args.get("path"), "upload")
        part = part_name(path)
        try:
            offset = int(request.args.get("offset", "0"))
        except ValueError:
            offset = -1
        if offset < 0:
            raise BadRequest("offset must be a whole number of bytes >= 0", "bad_offset")
        if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
            raise LengthRequired("an upload needs a Content-Length header, not chunked encoding")
        length = request.content_length or 0  # neither header: an empty body (RFC 9112 6.3)
        settings = current_app.extensions["sshapi"]["settings"]
        if offset + length > settings.max_upload_bytes:
            raise TooLarge(
                f"upload of {offset + length} bytes is larger than the "
                f"{settings.max_upload_bytes} allowed",
                "upload_too_large",
            )
        request.max_content_length = settings.max_upload_bytes  # the app's 64 KiB is for JSON
        session = Session(target_of(name))
        ok, why = False, ""
        try:
            st = _stat(session, path)
            if st is not None and st.kind == "dir":
                raise Conflict(f"{path} is a directory", "is_a_directory")
            if offset > 0:
                have = _stat(session, part)
                if have is None:
                    raise Conflict(
                        f"no partial upload of {path} to resume; start with offset=0",
                        "offset_mismatch",
                    )
                _validator_matches(have)
                if have.size != offset:
                    raise Conflict(
                        f"the partial upload of {path} has {have.size} bytes; resume with "
                        f"offset={have.size}",
                        "offset_mismatch",
                    )
            session.transfer = TRANSFERS.start("upload", name, length, session.guard)
            try:
                _do(session, part, session.sftp.write, part, _body(request.stream, length), offset)
            except ClientDisconnected:
                why = "client went away"
                kept = _stat(session, part)
                raise BadRequest(
                    f"the upload stopped early; {kept.size if kept else 0} bytes are kept: "
                    f"resume with offset={kept.size if kept else 0}",
                    "upload_incomplete",
                ) from None
            if _stat(session, path) is not None:
                _do(session, path, session.sftp.remove, path)  # v3 rename never replaces
            _do(session, path, session.sftp.rename, part, path)
            final = session.sftp.stat(path)
            ok = True
        except ApiError as e:
            why = why or e.code
            raise
        finally:
            session.close(ok=ok, why=why)
        return jsonify(_stat_json(path, final)), 201

    @bp.get("/credentials/<name>/files/stat")
    def stat(name: str):
        path = check_path(request.args.get("path"), "stat")
        session = Session(target_of(name))
        try:
            st = _stat(session, path)
            if st is None:
                raise NotFound(f"no such file or directory: {path}", "no_such_file")
            body = _stat_json(path, st)
            body["partial_upload"] = None
            if st.kind != "dir" and posixpath.basename(path) not in ("", ".", ".."):
                part = _stat(session, part_name(path))
                if part is not None:
                    body["partial_upload"] = {"size": part.size, "etag": part.etag}
        finally:
            session.close()
        return jsonify(body)

    @bp.post("/credentials/<name>/files/rename")
    def rename(name: str):
        body = _json_body("from", "to")
        src, dst = check_path(body["from"], "rename"), check_path(body["to"], "rename")
        overwrite = body.get("overwrite", False)
        if not isinstance(overwrite, bool):
            raise BadRequest("field 'overwrite' must be true or false", "bad_request")
        session = Session(target_of(name))
        try:
            if _stat(session, src) is None:
                raise NotFound(f"no such file or directory: {src}", "no_such_file")
            there = _stat(session, dst)
            if there is not None:
                if not overwrite or there.kind == "dir":
                    raise Conflict(f"{dst} exists (overwrite: true replaces a file)", "exists")
                _do(session, dst, session.sftp.remove, dst)
            _do(session, src, session.sftp.rename, src, dst)
        finally:
            session.close()
        return jsonify({"from": src, "to": dst})

    @bp.delete("/credentials/<name>/files")
    def delete(name: str):
        path = check_path(request.args.get("path"), "delete")
        session = Session(target_of(name))
        try:
            st = _stat(session, path)
            if st is None:
                raise NotFound(f"no such file or directory: {path}", "no_such_file")
            op = session.sftp.rmdir if st.kind == "dir" else session.sftp.remove
            try:
                op(path)
            except SftpStatus as e:
                if e.sftp_code == FX_FAILURE and st.kind == "dir":
                    raise Conflict(f"directory {path} is not empty", "not_empty") from None
                raise _status_error(e, path) from None
        finally:
            session.close()
        return "", 204

    @bp.post("/credentials/<name>/files/mkdir")
    def mkdir(name: str):
        path = check_path(_json_body("path")["path"], "mkdir")
        session = Session(target_of(name))
        try:
            if _stat(session, path) is not None:
                raise Conflict(f"{path} exists", "exists")
            _do(session, path, session.sftp.mkdir, path)
        finally:
            session.close()
        return jsonify(path=path), 201

    return bp
