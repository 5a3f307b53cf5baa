"""The only commands the API runs.

sshd runs every command through the account's login shell, which need not be a POSIX shell
(fish, csh, tcsh...). So a caller's path must be made of a conservative alphabet in which
nothing is special to any of them (letters, digits, space and `._-/+,:=@`); anything else is
refused with 400. The path is then passed single-quoted after `--`: one argument in sh, bash,
zsh, fish and csh alike, and never an option."""

from __future__ import annotations

import re

from sshapi.errors import BadRequest

UPTIME = "uptime"
MAX_PATH = 4096
PATH_ALPHABET = "A-Z a-z 0-9 space . _ - / + , : = @"
_PATH_RE = re.compile(r"[A-Za-z0-9 ._/+,:=@-]+")


def ls_command(path: str | None) -> str:
    """`ls -- 'PATH'`: `--` so a path starting with `-` is a path, not an option."""
    return f"ls -- '{check_path(path, 'ls')}'"


def check_path(path: object, what: str) -> str:
    """A caller's path, refused with 400 unless it is 1-MAX_PATH characters of the alphabet
    (the command endpoints and the file endpoints share this one rule)."""
    if not isinstance(path, str) or path == "":
        raise BadRequest(f"{what} needs a non-empty path: ?path=P", "bad_path")
    if len(path) > MAX_PATH:
        raise BadRequest(f"path is longer than {MAX_PATH} characters", "bad_path")
    if not _PATH_RE.fullmatch(path):
        raise BadRequest(f"path may contain only {PATH_ALPHABET}", "bad_path")
    return path
