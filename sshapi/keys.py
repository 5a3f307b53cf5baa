"""Parsing and checking of the keys a caller sends: host keys (known_hosts lines) and
private keys (OpenSSH or PEM). Error messages never quote the private key."""

from __future__ import annotations

import base64
import binascii
import struct
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from sshapi.errors import BadRequest

CODE = "bad_credential"
MAX_HOST_KEY = 8192  # one known_hosts line; a 16384-bit RSA key is ~2.8 KB
MAX_PRIVATE_KEY = 16384  # a 16384-bit RSA key in PEM is ~12.6 KB
MIN_RSA_BITS = 1024  # OpenSSH 9.2's RequiredRSASize: ssh refuses smaller keys
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


def check_private_key(text: str) -> str:
    """Refuse anything that is not an unencrypted private key every backend can use;
    returns its type (e.g. "ed25519")."""
    if not isinstance(text, str) or not text.strip():
        raise BadRequest("private_key must be a non-empty string (an OpenSSH or PEM key)", CODE)
    if len(text) > MAX_PRIVATE_KEY or not text.isascii():
        raise BadRequest(
            f"private_key must be ASCII text of at most {MAX_PRIVATE_KEY} characters", CODE
        )
    data = text.encode()
    loaders = (serialization.load_ssh_private_key, serialization.load_pem_private_key)
    for loader in loaders:
        try:
            key = loader(data, password=None)
            break
        except TypeError:
            raise BadRequest(
                "private_key is encrypted with a passphrase; store an unencrypted key", CODE
            ) from None
        except (ValueError, UnsupportedAlgorithm):
            continue
    else:
        raise BadRequest("private_key is not a readable OpenSSH or PEM private key", CODE)
    kind = _key_type(key)
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
    return kind
