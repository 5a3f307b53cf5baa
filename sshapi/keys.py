"""Parsing and checking of the keys a caller sends: host keys (known_hosts lines) and
private keys (OpenSSH or PEM). Error messages never quote the private key."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import shutil
import stat
import struct
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from sshapi.errors import BadRequest

CODE = "bad_credential"
MAX_HOST_KEY = 8192  # one known_hosts line; a 16384-bit RSA key is ~2.8 KB
MAX_PRIVATE_KEY = 16384  # a 16384-bit RSA key in PEM is ~12.6 KB
MIN_RSA_BITS = 1024  # OpenSSH 9.2's RequiredRSASize: ssh refuses smaller keys
# OpenSSL's RSA key check (primality of p and q), which `cryptography` runs on every load
# while holding the GIL, grows steeply with the size: ~0.1 s at 2048 bits, 19 s at 8192 and
# 57 s at 12288 on the 2-core test machine. Keys are therefore loaded without it (structure
# only, ~0.1 ms) and checked here with cheap arithmetic instead (_check_rsa), and nothing
# above MAX_RSA_BITS is accepted.
MAX_RSA_BITS = 8192
KEY_CACHE_SIZE = 1024  # parsed stored keys kept per process (load_once)
EC_CURVES = {"secp256r1": "nistp256", "secp384r1": "nistp384", "secp521r1": "nistp521"}
# The PEM/OpenSSH armours all three backends read (Paramiko reads no PKCS#8 "PRIVATE KEY")
PRIVATE_KEY_HEADERS = (
    "-----BEGIN OPENSSH PRIVATE KEY-----",
    "-----BEGIN RSA PRIVATE KEY-----",
    "-----BEGIN EC PRIVATE KEY-----",
)

KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
)


@dataclass(frozen=True)
class HostKey:
    """A server's public host key: its type name and its wire-format blob."""

    key_type: str
    blob: bytes

    @property
    def base64(self) -> str:
        return base64.b64encode(self.blob).decode()

    def algorithms(self) -> list[str]:
        """Host key algorithms to offer so the server presents exactly this key."""
        if self.key_type == "ssh-rsa":  # SHA-2 signatures only: no SHA-1 "ssh-rsa"
            return ["rsa-sha2-512", "rsa-sha2-256"]
        return [self.key_type]


def parse_host_key(line: str) -> HostKey:
    """Parse `[host] TYPE BASE64 [comment]`; the host field, if any, is ignored (the
    credential's own host and port say where to connect)."""
    if (
        not isinstance(line, str)
        or len(line) > MAX_HOST_KEY
        or not line.strip().isascii()
        or not all(c.isprintable() or c == "\t" for c in line.strip())
    ):
        raise BadRequest(
            f"host_key must be one known_hosts line of printable ASCII, at most {MAX_HOST_KEY} "
            "characters: [host] TYPE BASE64",
            CODE,
        )
    fields = line.split()
    if fields and fields[0].startswith("@"):
        raise BadRequest(
            f"host_key has the marker {fields[0][:20]!r}: @revoked and @cert-authority lines "
            "are not host keys; give the server's own key line",
            CODE,
        )
    for i, field in enumerate(fields[:-1]):
        if field in KEY_TYPES:
            key_type, encoded = field, fields[i + 1]
            break
    else:
        raise BadRequest(
            f"host_key has no supported key type (one of {', '.join(KEY_TYPES)}) "
            "followed by a base64 key",
            CODE,
        )
    try:
        blob = base64.b64decode(encoded, validate=True)
        (n,) = struct.unpack(">I", blob[:4])
        inner = blob[4 : 4 + n].decode("ascii")
    except (binascii.Error, struct.error, UnicodeDecodeError):
        raise BadRequest("host_key's base64 part is not a valid SSH public key", CODE) from None
    if inner != key_type:
        raise BadRequest(f"host_key says {key_type} but its key data is {inner[:40]!r}", CODE)
    return HostKey(key_type, blob)


def _key_type(key: object) -> str:
    """A private key's type as a person would name it."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    if isinstance(key, rsa.RSAPrivateKey):
        return f"RSA {key.key_size}-bit"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return f"ECDSA {key.curve.name}"
    if isinstance(key, dsa.DSAPrivateKey):
        return "DSA"
    if isinstance(key, ed448.Ed448PrivateKey):
        return "ed448"
    return type(key).__name__


def _usable(key: object) -> bool:
    """Keys every backend (libssh2, Paramiko, OpenSSH 9.2's ssh) can authenticate with."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return True
    if isinstance(key, rsa.RSAPrivateKey):
        return key.key_size >= MIN_RSA_BITS
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.curve.name in EC_CURVES
    return False


def _check_rsa(key: rsa.RSAPrivateKey) -> None:
    """The consistency OpenSSL's check would give, without its costly primality tests: the
    numbers fit together, so no library is handed a key that could make it misbehave."""
    n = key.private_numbers()
    pub = n.public_numbers
    p, q, d, e = n.p, n.q, n.d, pub.e
    ok = (
        p > 2
        and q > 2
        and p % 2 == 1
        and q % 2 == 1
        and e % 2 == 1
        and 3 <= e < pub.n
        and p * q == pub.n
        and (e * d) % (p - 1) == 1
        and (e * d) % (q - 1) == 1
        and n.dmp1 == d % (p - 1)
        and n.dmq1 == d % (q - 1)
        and (n.iqmp * q) % p == 1
    )
    if not ok:
        raise BadRequest("private_key is not a consistent RSA key", CODE)


def _load_unchecked(data: bytes):
    """Parse an unencrypted OpenSSH or PEM key without OpenSSL's RSA check (see
    MAX_RSA_BITS); TypeError: it is encrypted; ValueError: not readable."""
    try:
        return serialization.load_ssh_private_key(
            data, password=None, unsafe_skip_rsa_key_validation=True
        )
    except (ValueError, UnsupportedAlgorithm):
        pass
    try:
        return serialization.load_pem_private_key(
            data, password=None, unsafe_skip_rsa_key_validation=True
        )
    except UnsupportedAlgorithm:
        raise ValueError("unsupported key algorithm") from None


def check_private_key(text: str) -> str:
    """Refuse anything that is not an unencrypted private key every backend can use;
    returns its type (e.g. "ed25519"). Bounded in time: RSA keys above MAX_RSA_BITS are
    refused before any arithmetic on them, and OpenSSL's slow key check is never run."""
    if not isinstance(text, str) or not text.strip():
        raise BadRequest("private_key must be a non-empty string (an OpenSSH or PEM key)", CODE)
    if len(text) > MAX_PRIVATE_KEY or not text.isascii():
        raise BadRequest(
            f"private_key must be ASCII text of at most {MAX_PRIVATE_KEY} characters", CODE
        )
    try:
        key = _load_unchecked(text.encode())
    except TypeError:
        raise BadRequest(
            "private_key is encrypted with a passphrase; store an unencrypted key", CODE
        ) from None
    except ValueError:
        raise BadRequest("private_key is not a readable OpenSSH or PEM private key", CODE) from None
    kind = _key_type(key)
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size > MAX_RSA_BITS:
        raise BadRequest(
            f"private_key is {kind}: RSA keys of at most {MAX_RSA_BITS} bits are accepted",
            CODE,
        )
    if not _usable(key):
        raise BadRequest(
            f"private_key type {kind} is not supported: use ed25519, ECDSA "
            f"(nistp256/384/521) or RSA of at least {MIN_RSA_BITS} bits",
            CODE,
        )
    if not text.lstrip().startswith(PRIVATE_KEY_HEADERS) or (
        kind == "ed25519" and not text.lstrip().startswith(PRIVATE_KEY_HEADERS[0])
    ):
        raise BadRequest(
            f"private_key ({kind}) is in a format not every SSH library reads (e.g. PKCS#8 "
            "'BEGIN PRIVATE KEY'); convert it to OpenSSH format: ssh-keygen -p -f KEYFILE",
            CODE,
        )
    if isinstance(key, rsa.RSAPrivateKey):
        _check_rsa(key)
    return kind


T = TypeVar("T")
_cache: OrderedDict[tuple[str, bytes], object] = OrderedDict()
_cache_lock = threading.Lock()


def load_once(data: bytes, loader: Callable[[bytes], T]) -> T:
    """`loader(data)`, parsed once per process and key: a backend's parsed key object,
    cached by the loader's name and the key's SHA-256 (never the key itself as the index),
    at most KEY_CACHE_SIZE of them. Errors are not cached."""
    ident = (f"{loader.__module__}.{loader.__qualname__}", hashlib.sha256(data).digest())
    with _cache_lock:
        if ident in _cache:
            _cache.move_to_end(ident)
            return _cache[ident]  # type: ignore[return-value]
    value = loader(data)
    with _cache_lock:
        _cache[ident] = value
        while len(_cache) > KEY_CACHE_SIZE:
            _cache.popitem(last=False)
    return value


def rsa_key_unchecked(data: bytes) -> rsa.RSAPrivateKey | None:
    """A stored key as a `cryptography` RSA key, or None if it is not RSA. Stored keys passed
    check_private_key (size and consistency), so OpenSSL's slow check is skipped."""
    try:
        key = _load_unchecked(data)
    except (TypeError, ValueError):
        return None
    return key if isinstance(key, rsa.RSAPrivateKey) else None


_runtime: Path | None = None
_runtime_lock = threading.Lock()


def runtime_dir() -> Path:
    """A private (0700, ours, not a symlink) directory of this process for key files that a
    backend must hand to a program (the openssh backend's `ssh -i`): under systemd's
    $RUNTIME_DIRECTORY (RuntimeDirectory=, removed when the service stops), else
    TMPDIR/sshapi-UID. Made on first use, when the directories of dead processes left there
    (a crash) are removed."""
    global _runtime
    with _runtime_lock:
        if _runtime is not None and _runtime.name == f"pid-{os.getpid()}" and _runtime.is_dir():
            return _runtime  # (a forked child makes its own)
        fallback = Path(tempfile.gettempdir()) / f"sshapi-{os.getuid()}"
        base = Path(os.environ.get("RUNTIME_DIRECTORY") or fallback)
        with contextlib.suppress(FileExistsError):
            base.mkdir(mode=0o700)
        st = base.lstat()
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
            raise RuntimeError(f"{base} is not a private directory of uid {os.getuid()}")
        for d in base.glob("pid-*"):
            pid = d.name[4:]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                shutil.rmtree(d, ignore_errors=True)
        own = base / f"pid-{os.getpid()}"
        shutil.rmtree(own, ignore_errors=True)  # a dead process's of the same PID
        own.mkdir(mode=0o700)
        _runtime = own
        return own
