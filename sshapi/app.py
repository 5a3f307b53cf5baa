"""The Flask app: users' credentials in, `uptime` / `ls` over SSH out, JSON everywhere."""

from __future__ import annotations

import atexit
import logging
import re
import time
from collections.abc import Callable

from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException

from sshapi import __version__, backends, broadcast, files, store, usercap
from sshapi.backends.base import Result
from sshapi.commands import UPTIME, ls_command
from sshapi.crypto import Box, data_key
from sshapi.deadline import Deadline
from sshapi.errors import (
    ApiError,
    BadRequest,
    NotFound,
    SSHConnectionRefused,
    SSHFailure,
    TooLarge,
    TooManyRequests,
    Unauthorized,
)
from sshapi.info import healthz_info
from sshapi.keys import check_private_key, parse_host_key
from sshapi.pool import Pool
from sshapi.settings import Settings, default_key_file
from sshapi.store import Target

log = logging.getLogger("sshapi")
MAX_BODY = 64 * 1024  # a credential is a few KB; anything larger is refused with 413
# Whole-string patterns (fullmatch), which also bound every field to its database column.
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HOST_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.:_-]{0,254}")
_USER_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,63}")


def make_runner(settings: Settings) -> tuple[Callable[[Target, str], Result], Pool | None]:
    """One function that runs a command on a target, per the connection mode."""
    backend = backends.load(settings.library)

    def connect(target: Target, deadline: Deadline):
        return backend.connect(target, settings, deadline)

    if settings.connections == "per-request":

        def run(target: Target, command: str) -> Result:
            deadline = Deadline(settings.request_timeout)
            conn = backend.connect(target, settings, deadline)
            try:
                return conn.exec(command, deadline.cap(settings.command_timeout))
            finally:
                conn.close()

        return run, None
    pool = Pool(
        connect,
        settings.max_connections,
        min(settings.max_sessions_per_connection, backend.MAX_CHANNELS),
        wait_timeout=settings.connect_timeout,
        max_per_owner=settings.max_user_connections,
    )
    atexit.register(pool.close_all)

    def run_pooled(target: Target, command: str) -> Result:
        deadline = Deadline(settings.request_timeout)
        return pool.run(target, command, settings.command_timeout, deadline)

    return run_pooled, pool


def create_app(settings: Settings | None = None) -> Flask:
    """App factory; gunicorn calls it once per worker (see cli.py)."""
    settings = settings or Settings()
    app = Flask("sshapi")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    engine = store.make_engine(settings.db_url)
    box = Box(data_key(settings.key_file or default_key_file()))
    run, pool = make_runner(settings)
    app.extensions["sshapi"] = {"settings": settings, "engine": engine, "pool": pool}
    deletions = broadcast.shared()
    if pool is not None and deletions is not None:
        deletions.watch(pool.discard_digests)

    @app.errorhandler(ApiError)
    def api_error(e: ApiError):
        return jsonify(error=e.code, message=e.message), e.status

    @app.errorhandler(413)
    def body_too_large(e: HTTPException):
        return api_error(TooLarge(f"request body is larger than {MAX_BODY} bytes"))

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        code = (e.name or "error").lower().replace(" ", "_")
        return jsonify(error=code, message=e.description), e.code

    @app.errorhandler(Exception)
    def internal_error(e: Exception):
        log.error("internal error on %s %s: %s", request.method, request.path, type(e).__name__)
        return jsonify(error="internal_error", message=type(e).__name__), 500

    @app.before_request
    def authenticate():
        if request.path == "/healthz":
            return
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme != "Bearer" or not token.strip():
            raise Unauthorized("missing 'Authorization: Bearer TOKEN' header", "missing_token")
        user_id = store.user_for_token(engine, token.strip())
        if user_id is None:
            raise Unauthorized("unknown API token", "bad_token")
        g.user_id = user_id

    @app.get("/healthz")
    def healthz():
        """Liveness (and which library and mode, for deployment checks) to anyone; versions,
        settings and pool counts only with a valid token."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or store.user_for_token(engine, token.strip()) is None:
            return jsonify(status="ok", library=settings.library, connections=settings.connections)
        info = healthz_info(settings)
        if pool is not None:
            info["pool"] = pool.stats()
        info["transfers"] = files.TRANSFERS.stats()  # issue 21: file transfer progress
        return jsonify(info)

    @app.post("/credentials")
    def add_credential():
        fields = _credential_fields(request.get_json(silent=True))
        store.add_credential(engine, box, g.user_id, fields, settings.max_credentials)
        log.info("user %s added credential %s", g.user_id, fields["name"])
        return jsonify(name=fields["name"]), 201

    @app.get("/credentials")
    def list_credentials():
        return jsonify(credentials=store.list_credentials(engine, g.user_id))

    @app.delete("/credentials/<name>")
    def delete_credential(name: str):
        _known_name(name)
        key = store.delete_credential(engine, g.user_id, name)
        if pool is not None:
            pool.discard(key)
            if deletions is not None:  # and every other worker's pool
                deletions.add(key)
        return "", 204

    counts = usercap.counter()  # per API user: SSH requests running in the whole server

    def refuse() -> None:
        raise TooManyRequests(
            f"you already have {settings.max_user_requests} SSH requests running; "
            "wait for one to finish"
        )

    def take_user_slot(user_id: int) -> None:
        """One of the user's max_user_requests SSH requests in the whole server (429 when all
        are taken); the file endpoints hold one for a transfer's whole life."""
        if not counts.enter(user_id, settings.max_user_requests):
            refuse()

    app.extensions["sshapi"]["user_slots"] = (take_user_slot, counts.leave)

    def run_command(name: str, command: str):
        _known_name(name)
        target = store.get_target(engine, box, g.user_id, name)
        with usercap.running(counts, g.user_id, settings.max_user_requests, refuse):
            return _timed(name, command, target)

    def _timed(name: str, command: str, target: Target):
        start = time.perf_counter()
        try:
            result = run(target, command)
        except ApiError as e:
            ms = (time.perf_counter() - start) * 1000
            log.warning(
                "user %s %s on %s: %s after %.1f ms",
                g.user_id,
                command.split()[0],
                name,
                e.code,
                ms,
            )
            if settings.uniform_connect_errors and _unreached(e):
                log.info("user %s %s: %s", g.user_id, name, e.message)  # the detail: log only
                raise SSHFailure(f"cannot connect to credential {name}") from None
            raise
        ms = (time.perf_counter() - start) * 1000
        return jsonify(
            stdout=result.stdout,
            stderr=result.stderr,
            exit_status=result.exit_status,
            elapsed_ms=round(ms, 3),
        )

    @app.get("/credentials/<name>/uptime")
    def uptime(name: str):
        return run_command(name, UPTIME)

    @app.get("/credentials/<name>/ls")
    def ls(name: str):
        command = ls_command(request.args.get("path"))
        return run_command(name, command)

    app.register_blueprint(files.blueprint(engine, box))  # the file endpoints (issue 21)
    log.info(
        "sshapi %s ready: library=%s connections=%s",
        __version__,
        settings.library,
        settings.connections,
    )
    return app


def _unreached(e: ApiError) -> bool:
    """Whether `e` says the host was not reached at all (refused, unreachable, TCP timeout)."""
    return isinstance(e, SSHConnectionRefused) or bool(getattr(e, "tcp_level", False))


def _known_name(name: str) -> None:
    """A name no credential can have is not looked up (the database's collation and column
    size would otherwise decide what happens)."""
    if not _NAME_RE.fullmatch(name):
        raise NotFound(f"no credential named {name[:64]!r}", "credential_not_found")


def _credential_fields(body: object) -> dict:
    """Validate a POST /credentials body; messages name the field, never echo the key."""
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object", "bad_json")
    required = ("name", "host", "port", "username", "private_key", "host_key")
    missing = [k for k in required if k not in body]
    if missing:
        raise BadRequest(f"missing field(s): {', '.join(missing)}", "bad_credential")
    for k in ("name", "host", "username", "private_key", "host_key"):
        if not isinstance(body[k], str):
            raise BadRequest(f"field {k!r} must be a string", "bad_credential")
    port = body["port"]
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise BadRequest("field 'port' must be an integer 1-65535", "bad_credential")
    if not _NAME_RE.fullmatch(body["name"]):
        raise BadRequest("field 'name' must be 1-64 of A-Z a-z 0-9 . _ -", "bad_credential")
    if not _HOST_RE.fullmatch(body["host"]):
        raise BadRequest(
            "field 'host' must be a host name or IP address (at most 255 characters)",
            "bad_credential",
        )
    if not _USER_RE.fullmatch(body["username"]):
        raise BadRequest("field 'username' is not a valid user name", "bad_credential")
    parse_host_key(body["host_key"])
    check_private_key(body["private_key"])
    return {k: body[k] for k in required}
