"""Parsing and checking of the keys a caller sends: host keys (known_hosts lines) and
private keys (OpenSSH or PEM). Error messages never quote the private key."""

from __future__ import annotations

import base64
import binascii
import struct
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from sshapi.errors import BadRequest

CODE = "bad_credential"

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
        if self.key_type == "ssh-rsa":
            return ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]
        return [self.key_type]


def parse_host_key(line: str) -> HostKey:
    """Parse `[host] TYPE BASE64 [comment]`; the host field, if any, is ignored (the
    credential's own host and port say where to connect)."""
    if not isinstance(line, str) or "\n" in line.strip() or "\x00" in line:
        raise BadRequest("host_key must be one known_hosts line: [host] TYPE BASE64", CODE)
    fields = line.split()
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


def check_private_key(text: str) -> None:
    """Refuse anything that is not an unencrypted OpenSSH or PEM private key."""
    if not isinstance(text, str) or not text.strip():
        raise BadRequest("private_key must be a non-empty string (an OpenSSH or PEM key)", CODE)
    data = text.encode()
    loaders = (serialization.load_ssh_private_key, serialization.load_pem_private_key)
    for loader in loaders:
        try:
            loader(data, password=None)
            return
        except TypeError:
            raise BadRequest(
                "private_key is encrypted with a passphrase; store an unencrypted key", CODE
            ) from None
        except (ValueError, UnsupportedAlgorithm):
            continue
    raise BadRequest("private_key is not a readable OpenSSH or PEM private key", CODE)
