"""gunicorn's gthread worker, with two fixes: a request is read on the event loop before
any thread is given to it, and lingering closes happen off the event loop.

Slow clients (issue 24). gthread hands a connection to a thread as soon as its first byte
arrives, and the thread then blocks reading the rest: a client that sends one byte and then
nothing holds a thread forever, and as many such clients as threads stop the API (measured:
100 of them, and a normal request got no answer in 20 s). Here the event loop reads each
request's head and body itself (non-blocking, at most MAX_HEAD + MAX_BODY bytes) and gives
it to a thread only once complete, so a silent or slow client costs a file descriptor and a
buffer, never a thread. A request must arrive within READ_TIMEOUT of its first wait; at most
MAX_WAITING connections per worker may be waiting for theirs (no token has been seen on any
of them yet), and beyond that the oldest is closed. In a thread, the socket's kernel
timeouts (SOCKET_TIMEOUT) bound any read or write that still blocks (a client that does not
read its answer, a pipelined second request).

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

import contextlib
import re
import selectors
import socket
import struct
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from gunicorn.workers.gthread import ThreadWorker

LINGER_THREADS = 4
MAX_PENDING = 64  # lingering closes waiting or running; beyond this, close at once
READ_TIMEOUT = 10.0  # seconds for a request's head and body to arrive, from its first wait
MAX_WAITING = 256  # connections per worker waiting for a complete request; beyond: oldest closed
MAX_HEAD = 16 * 1024  # a larger head goes to gunicorn at once, which refuses it (its limits)
MAX_BODY = 64 * 1024  # the app's body limit (app.MAX_BODY); a larger one is refused unread
SOCKET_TIMEOUT = 30  # seconds: SO_RCVTIMEO / SO_SNDTIMEO once a thread has the connection
_RECV = 64 * 1024
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d{1,12})[ \t]*(?=\r\n|$)")
_CONTINUE = re.compile(rb"\r\nexpect:[ \t]*100-continue", re.I)


def request_complete(buf: bytes | bytearray) -> bool:
    """Whether `buf` holds a whole request (head, and a body of its Content-Length or up to
    its final chunk), or more than the API would ever read of one."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return len(buf) > MAX_HEAD
    body = len(buf) - end - 4
    head = bytes(buf[:end]).lower()
    if b"\r\ntransfer-encoding:" in head:
        return buf.endswith(b"0\r\n\r\n") or body > MAX_BODY
    m = _CONTENT_LENGTH.search(head)
    if m is None:
        return True
    length = int(m.group(1))
    return length > MAX_BODY or body >= length


class Worker(ThreadWorker):
    def init_process(self) -> None:
        # made here, in the worker process: threads do not survive gunicorn's fork
        self._closer = ThreadPoolExecutor(LINGER_THREADS, thread_name_prefix="sshapi-linger")
        self._pending = 0
        self._pending_lock = threading.Lock()
        self._reading: OrderedDict = OrderedDict()  # connection -> its request's deadline
        super().init_process()

    # -- reading requests on the event loop ----------------------------------------------

    def accept(self, listener) -> None:
        try:
            sock, addr = listener.accept()
        except OSError:  # EAGAIN, ECONNABORTED: another worker took it, or it left
            return
        self.nr_conns += 1
        timeout = struct.pack("ll", SOCKET_TIMEOUT, 0)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeout)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeout)
        from gunicorn.workers.gthread import TConn

        self._wait_for_request(TConn(self.cfg, sock, addr, listener.getsockname()))

    def on_client_socket_readable(self, conn, client) -> None:
        """A kept-alive connection's next request begins: read it here too."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._wait_for_request(conn)
        self._on_request_bytes(conn, client)

    def _wait_for_request(self, conn) -> None:
        conn.sock.setblocking(False)
        conn.request_bytes = bytearray()
        conn.continued = False
        self._reading[conn] = time.monotonic() + READ_TIMEOUT
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_request_bytes, conn))
        while len(self._reading) > MAX_WAITING:
            self._drop(next(iter(self._reading)))

    def _drop(self, conn) -> None:
        del self._reading[conn]
        with contextlib.suppress(OSError, KeyError, ValueError):
            self.poller.unregister(conn.sock)
        self.nr_conns -= 1
        conn.close()

    def _on_request_bytes(self, conn, _sock) -> None:
        if conn not in self._reading:
            return
        buf = conn.request_bytes
        try:
            while not request_complete(buf):
                data = conn.sock.recv(_RECV)
                if not data:  # the client left before its request was whole
                    self._drop(conn)
                    return
                buf += data
        except BlockingIOError:
            if not conn.continued and _CONTINUE.search(buf[: buf.find(b"\r\n\r\n") + 2]):
                # the client waits for this before it sends its body (a second one from
                # gunicorn later is allowed: any number of 1xx may precede the answer)
                conn.continued = True
                with contextlib.suppress(OSError):
                    conn.sock.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            return
        except OSError:
            self._drop(conn)
            return
        del self._reading[conn]
        self.poller.unregister(conn.sock)
        conn.data_ready = True
        self.enqueue_req(conn)

    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        while self._reading:  # in deadline order: all were given the same READ_TIMEOUT
            conn, by = next(iter(self._reading.items()))
            if by > now and self.alive:
                break
            self._drop(conn)

    def handle(self, conn):
        buf = getattr(conn, "request_bytes", None)
        if buf:
            conn.request_bytes = None
            conn.sock.setblocking(True)
            conn.init()
            conn.parser.unreader.unread(bytes(buf))
        return super().handle(conn)

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
