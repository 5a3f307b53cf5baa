"""The `sshapi` command: `add-user` and `serve` (gunicorn, gthread workers)."""

from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path

from sshapi.settings import CONNECTION_MODES, LIBRARIES, MIB, Settings, default_db_url

_USER_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
DB_HELP = "SQLAlchemy URL (default $SSHAPI_DB_URL, else sqlite:///sshapi.db); prefer the " \
    "variable when the URL holds a password: a command line is visible to every user"  # fmt: skip


def _bind(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"--bind {value!r} is not HOST:PORT")
    return value


def _positive(kind):
    def parse(value: str):
        try:
            v = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
        if v <= 0:
            raise argparse.ArgumentTypeError(f"{value!r} must be > 0")
        return v

    return parse


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sshapi", description="The SSH-backed API under test.")
    sub = p.add_subparsers(dest="cmd", required=True)

    a = sub.add_parser("add-user", help="create a user; prints its API token on the last line")
    a.add_argument("name")
    a.add_argument("--db", default=None, help=DB_HELP)
    a.add_argument(
        "--new-token",
        action="store_true",
        help="if the user exists, give it a new token instead of failing (the old one stops "
        "working)",
    )

    s = sub.add_parser("serve", help="serve the API under gunicorn (gthread workers)")
    s.add_argument("--library", choices=LIBRARIES, default="ssh2")
    s.add_argument("--connections", choices=CONNECTION_MODES, default="per-request")
    s.add_argument("--db", default=None, help=DB_HELP)
    s.add_argument("--bind", type=_bind, default="127.0.0.1:8080", help="HOST:PORT")
    s.add_argument("--workers", type=_positive(int), default=1)
    s.add_argument("--threads", type=_positive(int), default=64)
    s.add_argument("--pidfile", type=Path, help="gunicorn master's PID file")
    s.add_argument("--log", type=Path, help="log file (default: stderr)")
    s.add_argument("--access-log", type=Path, help="one line per HTTP request (default: none)")
    s.add_argument("--connect-timeout", type=_positive(float), default=10.0, metavar="S")
    s.add_argument("--command-timeout", type=_positive(float), default=30.0, metavar="S")
    s.add_argument(
        "--request-timeout",
        type=_positive(float),
        metavar="S",
        help="one deadline per request, across connect, auth, exec, read and close "
        "(default: connect + command timeout)",
    )
    s.add_argument(
        "--max-output-bytes",
        type=_positive(int),
        default=MIB,
        metavar="N",
        help="stdout + stderr of one command; more answers 502 output_too_large "
        "(default %(default)s)",
    )
    s.add_argument(
        "--max-user-requests",
        type=_positive(int),
        metavar="N",
        help="SSH requests one API user may have running in the whole server (all workers); "
        "more answer 429 "
        "(default: half the threads of all workers)",
    )
    s.add_argument(
        "--max-credentials",
        type=_positive(int),
        default=100,
        metavar="N",
        help="credentials one API user may store (default %(default)s)",
    )
    s.add_argument(
        "--allow-network",
        action="append",
        default=[],
        metavar="CIDR",
        help="connect only to addresses in these networks (repeatable; default: anywhere)",
    )
    s.add_argument(
        "--deny-network",
        action="append",
        default=[],
        metavar="CIDR",
        help="never connect to addresses in these networks, even inside --allow-network "
        "(repeatable; 'self': this machine's own addresses)",
    )
    s.add_argument(
        "--uniform-connect-errors",
        action="store_true",
        help="answer refused, unreachable and timed-out connects alike (502 ssh_error), "
        "the detail in the log only",
    )
    s.add_argument(
        "--max-connections",
        type=_positive(int),
        default=50,
        metavar="N",
        help="pooled: open SSH connections per worker",
    )
    s.add_argument(
        "--max-user-connections",
        type=_positive(int),
        metavar="N",
        help="pooled: connections one API user may hold per worker (default: all of them)",
    )
    s.add_argument(
        "--max-sessions-per-connection",
        type=_positive(int),
        default=10,
        metavar="N",
        help="pooled: concurrent commands per SSH connection",
    )
    s.add_argument(
        "--key-file",
        type=Path,
        help="data key file (default $SSHAPI_KEY_FILE or ~/.config/sshapi/secret.key;"
        " SSHAPI_SECRET_KEY overrides)",
    )
    return p


def add_user(args: argparse.Namespace) -> int:
    from sshapi import store
    from sshapi.errors import ApiError

    if not _USER_NAME_RE.fullmatch(args.name):
        print(f"sshapi add-user: name {args.name[:80]!r} must be 1-64 of A-Z a-z 0-9 . _ -",
              file=sys.stderr)  # fmt: skip
        return 2
    engine = store.make_engine(args.db or default_db_url())
    try:
        token = store.add_user(engine, args.name, new_token_if_exists=args.new_token)
    except ApiError as e:
        print(f"sshapi add-user: {e.message}", file=sys.stderr)
        return 1
    print(f"user {args.name!r}: its new API token (shown once):")
    print(token)
    return 0


def serve(args: argparse.Namespace) -> int:
    from sshapi.server import run_gunicorn

    settings = Settings(
        library=args.library,
        connections=args.connections,
        db_url=args.db or default_db_url(),
        key_file=args.key_file,
        connect_timeout=args.connect_timeout,
        command_timeout=args.command_timeout,
        request_timeout=args.request_timeout,
        max_connections=args.max_connections,
        max_sessions_per_connection=args.max_sessions_per_connection,
        max_user_connections=args.max_user_connections,
        max_output_bytes=args.max_output_bytes,
        max_user_requests=args.max_user_requests or max(1, args.workers * args.threads // 2),
        max_credentials=args.max_credentials,
        allowed_networks=tuple(args.allow_network),
        denied_networks=tuple(args.deny_network),
        uniform_connect_errors=args.uniform_connect_errors,
    )
    return run_gunicorn(
        settings,
        bind=args.bind,
        workers=args.workers,
        threads=args.threads,
        pidfile=args.pidfile,
        log=args.log,
        access_log=args.access_log,
    )


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        if args.cmd == "add-user":
            return add_user(args)
        return serve(args)
    except ValueError as e:  # bad settings, bad key: one line, no traceback
        print(f"sshapi {args.cmd}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
