"""Encryption at rest of private keys (Fernet: AES-128-CBC + HMAC-SHA256).

The data key comes from `SSHAPI_SECRET_KEY` (a Fernet key) or from a key file that is
created with mode 0600 on first use.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken


def load_or_create_key(path: Path) -> bytes:
    """Read the key file, creating it (0600, parent 0700) if it does not exist yet."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "wb") as f:
            f.write(Fernet.generate_key() + b"\n")
    key = path.read_bytes().strip()
    _check_key(key, f"key file {path}")
    return key


def _check_key(key: bytes, where: str) -> None:
    try:
        Fernet(key)
    except ValueError:
        raise ValueError(
            f"{where} is not a Fernet key (44 url-safe base64 characters); "
            "make one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'"
        ) from None


def data_key(key_file: Path) -> bytes:
    """The data key: `SSHAPI_SECRET_KEY` if set, else the key file."""
    env = os.environ.get("SSHAPI_SECRET_KEY")
    if env:
        _check_key(env.encode(), "SSHAPI_SECRET_KEY")
        return env.encode()
    return load_or_create_key(key_file)


class Box:
    """Encrypts and decrypts secrets with one data key."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def seal(self, plaintext: bytes) -> bytes:
        return self._fernet.encrypt(plaintext)

    def open(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken:
            raise ValueError(
                "stored private key cannot be decrypted with this data key "
                "(SSHAPI_SECRET_KEY or key file changed?)"
            ) from None
