"""A real, hostile SSH server for tests: Paramiko's server side on 127.0.0.1, one listening
port per behaviour. Any public key is accepted; what happens next is the behaviour:

- `stream`: the command's stdout never ends (32 KiB writes, as fast as the window allows);
- `drip`: the command's stdout is one byte every `interval` seconds, for ever;
- `noexec`: the exec request is never answered;
- `cut`: the connection is closed mid-handshake (banner, then half a packet);
- `drip_banner`: the version banner comes one byte every `interval` seconds.

SFTP behaviours (issue 21; not in BEHAVIOURS, which the command tests iterate), for any path:

- `sftp_flood`: every file is 1 TiB and reads are answered in full, as fast as they come;
- `sftp_stall`: stat and open answer, reads and writes are never answered;
- `sftp_drip`: reads are answered with one byte every `interval` seconds.

Every loop here is bounded in time (`max_s`), and `close()` ends them all.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from pathlib import Path

import paramiko

BEHAVIOURS = ("stream", "drip", "noexec", "cut", "drip_banner")
SFTP_BEHAVIOURS = ("sftp_flood", "sftp_stall", "sftp_drip")
FLOOD_SIZE = 2**40
BANNER = b"SSH-2.0-OpenSSH_9.2p1 hostile\r\n"

logging.getLogger("paramiko").setLevel(logging.CRITICAL)


class _Interface(paramiko.ServerInterface):
    def __init__(self, server: HostileServer) -> None:
        self.server = server

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        return paramiko.AUTH_SUCCESSFUL

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        server = self.server
        with server.lock:
            server.exec_requests += 1
        if server.behaviour == "noexec":
            # blocks this connection's transport thread: nothing is answered, not even close
            server.stopped.wait(server.max_s)
            return False
        writer = server.stream if server.behaviour == "stream" else server.drip
        threading.Thread(target=writer, args=(channel,), daemon=True).start()
        return True


class HostileServer:
    def __init__(
        self, behaviour: str, host_key: Path, interval: float = 1.0, max_s: float = 60.0
    ) -> None:
        known = BEHAVIOURS + SFTP_BEHAVIOURS
        if behaviour not in known:
            raise ValueError(f"unknown behaviour {behaviour!r}: one of {', '.join(known)}")
        self.behaviour = behaviour
        self.key = paramiko.Ed25519Key.from_private_key_file(str(host_key))
        self.interval = interval
        self.max_s = max_s
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.connections = 0
        self.exec_requests = 0
        self.bytes_sent = 0
        self._socks: list[socket.socket] = []
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def known_hosts_line(self) -> str:
        return f"[127.0.0.1]:{self.port} {self.key.get_name()} {self.key.get_base64()}"

    def close(self) -> None:
        self.stopped.set()
        self._thread.join(timeout=5)
        self._listener.close()
        with self.lock:
            socks = list(self._socks)
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def __enter__(self) -> HostileServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self.lock:
                self.connections += 1
                self._socks.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self.behaviour == "cut":
                self._cut(conn)
            elif self.behaviour == "drip_banner":
                self._drip_banner(conn)
            else:
                t = paramiko.Transport(conn)
                t.add_server_key(self.key)
                t.set_subsystem_handler("sftp", paramiko.SFTPServer, _Sftp, self)
                t.start_server(server=_Interface(self))
                deadline = time.monotonic() + self.max_s
                while t.is_active() and not self.stopped.is_set():
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.1)
                t.close()
        except (OSError, EOFError, paramiko.SSHException):
            pass

    def _cut(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        conn.sendall(BANNER)
        conn.recv(4096)  # the client's banner (and maybe its KEXINIT)
        # a packet header announcing 1000 bytes, 5 of them, then the connection ends
        conn.sendall(b"\x00\x00\x03\xe8\x06\x14\x00\x00\x00")
        conn.shutdown(socket.SHUT_RDWR)
        conn.close()

    def _drip_banner(self, conn: socket.socket) -> None:
        deadline = time.monotonic() + self.max_s
        for i in range(200):  # a banner line may be 255 bytes: never finish it
            if self.stopped.wait(self.interval) or time.monotonic() > deadline:
                return
            conn.sendall(BANNER[i : i + 1] if i < 8 else b"x")

    def _sent(self, n: int) -> None:
        with self.lock:
            self.bytes_sent += n

    def stream(self, chan: paramiko.Channel) -> None:
        time.sleep(0.05)  # let the exec reply go first
        chunk = b"y" * 32768
        deadline = time.monotonic() + self.max_s
        try:
            while not chan.closed and not self.stopped.is_set() and time.monotonic() < deadline:
                chan.sendall(chunk)
                self._sent(len(chunk))
        except (OSError, EOFError, paramiko.SSHException):
            pass

    def drip(self, chan: paramiko.Channel) -> None:
        deadline = time.monotonic() + self.max_s
        try:
            while not chan.closed and time.monotonic() < deadline:
                if self.stopped.wait(self.interval):
                    return
                chan.sendall(b".")
                self._sent(1)
        except (OSError, EOFError, paramiko.SSHException):
            pass


class _Handle(paramiko.SFTPHandle):
    def __init__(self, server: HostileServer) -> None:
        super().__init__()
        self.server = server

    def stat(self):
        return _attrs(self.server)

    def read(self, offset: int, length: int):
        server = self.server
        if server.behaviour == "sftp_stall":
            server.stopped.wait(server.max_s)  # blocks this SFTP session's only thread
            return b""
        if server.behaviour == "sftp_drip":
            server.stopped.wait(server.interval)
            server._sent(1)
            return b"."
        server._sent(length)
        return b"z" * length

    def write(self, offset: int, data: bytes) -> int:
        if self.server.behaviour == "sftp_stall":
            self.server.stopped.wait(self.server.max_s)
        return paramiko.SFTP_OK


def _attrs(server: HostileServer) -> paramiko.SFTPAttributes:
    a = paramiko.SFTPAttributes()
    a.st_size = FLOOD_SIZE
    a.st_mode = 0o100644
    a.st_uid = a.st_gid = 0
    a.st_atime = a.st_mtime = int(time.time())
    return a


class _Sftp(paramiko.SFTPServerInterface):
    def __init__(self, server_interface, server: HostileServer) -> None:
        super().__init__(server_interface)
        self.server = server

    def stat(self, path: str):
        return _attrs(self.server)

    lstat = stat

    def open(self, path: str, flags: int, attr):
        return _Handle(self.server)
