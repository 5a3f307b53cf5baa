"""Run the app under gunicorn through its Python API: a threaded server process of its own
(gthread workers; ssh2-python does not mix with gevent)."""

from __future__ import annotations

import logging
from pathlib import Path

from gunicorn.app.base import BaseApplication

from sshapi import broadcast, store, usercap
from sshapi.crypto import data_key
from sshapi.settings import Settings, default_key_file


class _Gunicorn(BaseApplication):
    def __init__(self, settings: Settings, options: dict) -> None:
        self._settings = settings
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            if key in self.cfg.settings:  # e.g. control_socket_disable exists only in newer
                self.cfg.set(key, value)

    def load(self):
        from sshapi.app import create_app

        return create_app(self._settings)


def _log_to(path: Path | None) -> None:
    """Workers log the app's lines where gunicorn logs its own."""
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.FileHandler(path) if path else logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter("%(asctime)s [%(process)d] %(name)s %(levelname)s %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def run_gunicorn(
    settings: Settings,
    bind: str,
    workers: int = 1,
    threads: int = 64,
    pidfile: Path | None = None,
    log: Path | None = None,
    access_log: Path | None = None,
) -> int:
    # Create the data key and the tables once in the master, so workers never race to
    # create them and a bad --db or key fails here, in one line, before gunicorn starts.
    data_key(settings.key_file or default_key_file())
    store.make_engine(settings.db_url).dispose()
    usercap.make_shared(workers)  # per-user request counts shared by every worker
    broadcast.make_shared()  # deleted credentials, told to every worker's pool
    _log_to(log)
    options = {
        "bind": bind,
        "workers": workers,
        "threads": threads,
        # gthread, with lingering closes moved off its event loop (see worker.py)
        "worker_class": "sshapi.worker.Worker",
        # a request ends by its deadline (request_timeout); never kill a worker earlier
        "timeout": int(settings.request_timeout + 30),
        "graceful_timeout": 10,
        "keepalive": 5,
        "backlog": 2048,
        "errorlog": str(log) if log else "-",
        "accesslog": str(access_log) if access_log else None,
        # method, path (no query string: it may hold a path), status, bytes, microseconds
        "access_log_format": '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(B)s %(D)s',
        "loglevel": "info",
        # gunicorn >= 24 opens a control socket at one shared default path; several API
        # servers on one machine would fight over it, and we do not use it
        "control_socket_disable": True,
        "proc_name": f"sshapi-{settings.library}-{settings.connections}",
    }
    if pidfile:
        options["pidfile"] = str(pidfile)
    _Gunicorn(settings, options).run()
    return 0
