"""Hold N unauthenticated TCP connections to an sshd at once and classify what each gets."""

from __future__ import annotations

import selectors
import socket
import time


def burst(address: str, port: int, n: int, timeout_s: float = 15.0) -> dict[str, int]:
    """Open n connections together, keep them all open, and count per connection:
    banner (an "SSH-2.0" line), refused ("Exceeded MaxStartups" or closed without a banner)
    or silent (nothing within timeout_s). Refused connections are counted by banner, not by
    TCP connect: sshd accepts them, then drops them."""
    sel = selectors.DefaultSelector()
    socks = []
    pending: dict[socket.socket, bytes] = {}
    counts = {"banner": 0, "refused": 0, "silent": 0}
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex((address, port))
            socks.append(s)
            pending[s] = b""
            sel.register(s, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout_s
        while pending and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=0.2):
                s = key.fileobj
                try:
                    data = s.recv(256)
                except OSError:
                    data = b""
                buf = pending[s] + data
                if b"SSH-2.0" in buf:
                    counts["banner"] += 1
                elif data and b"Exceeded MaxStartups" not in buf:
                    pending[s] = buf
                    continue
                else:
                    counts["refused"] += 1
                sel.unregister(s)
                del pending[s]
        counts["silent"] = len(pending)
    finally:
        sel.close()
        for s in socks:
            s.close()
    return counts
