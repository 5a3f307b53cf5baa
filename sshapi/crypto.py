"""Encryption at rest of private keys (Fernet: AES-128-CBC + HMAC-SHA256).

The data key comes from `SSHAPI_SECRET_KEY` (a Fernet key; set but empty is an error) or
from a key file that is created with mode 0600 on first use and refused if group or others
may read it. Children (`ssh`) never see SSHAPI_* variables (openssh_backend.child_env).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken


def load_or_create_key(path: Path) -> bytes:
    """Read the key file, creating it (0600, parent 0700) if it does not exist yet.

    A new key is written to a temporary file beside it, fsynced, then linked into place:
    a crash never leaves a half-written key, and two processes starting at once cannot
    replace each other's key (a rename would), so both end up using the one that won."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        fd, tmp = tempfile.mkstemp(prefix=".sshapi-key-", dir=path.parent)  # 0600
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(Fernet.generate_key() + b"\n")
                f.flush()
                os.fsync(f.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ValueError(
            f"key file {path} is open to group or others (mode {mode:04o}); run: chmod 600 {path}"
        )
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
    if env is not None:
        if not env.strip():  # a template that lost its value: never fall back silently
            raise ValueError(
                "SSHAPI_SECRET_KEY is set but empty; set it to a Fernet key or unset it "
                "to use the key file"
            )
        _check_key(env.strip().encode(), "SSHAPI_SECRET_KEY")
        return env.strip().encode()
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
