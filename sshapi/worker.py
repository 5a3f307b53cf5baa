"""gunicorn's gthread worker, with one fix: lingering closes happen off its event loop.

gunicorn (27.0) closes a connection it will not keep alive "gracefully" (RFC 9112 9.6: send
FIN, then read until the client closes, for up to 2 s) on the worker's event-loop thread,
which accepts and dispatches every connection. So one client that sends a body the API
refuses (413) or "Connection: close", and then keeps its socket open, stops the whole
worker from serving anyone for 2 s per request (measured: a 70 KB POST, then every other
request waited 2.0 s). Here those closes run on a few threads of their own; when too many
are pending, the connection is closed at once instead (no linger), so a flood of them costs
neither the event loop nor unbounded threads or file descriptors.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from gunicorn.workers.gthread import ThreadWorker

LINGER_THREADS = 4
MAX_PENDING = 64  # lingering closes waiting or running; beyond this, close at once


class Worker(ThreadWorker):
    def init_process(self) -> None:
        # made here, in the worker process: threads do not survive gunicorn's fork
        self._closer = ThreadPoolExecutor(LINGER_THREADS, thread_name_prefix="sshapi-linger")
        self._pending = 0
        self._pending_lock = threading.Lock()
        super().init_process()

    def finish_request(self, conn, fs) -> None:
        close = conn.close

        def close_off_loop(graceful: bool = False) -> None:
            if not graceful:
                close()
                return
            with self._pending_lock:
                busy = self._pending >= MAX_PENDING
                if not busy:
                    self._pending += 1
            if busy:
                close()
                return
            self._closer.submit(self._linger, close)

        conn.close = close_off_loop
        super().finish_request(conn, fs)

    def _linger(self, close) -> None:
        try:
            close(graceful=True)
        finally:
            with self._pending_lock:
                self._pending -= 1
