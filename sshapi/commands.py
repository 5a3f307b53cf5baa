"""The only commands the API runs. A caller's input reaches the host only as one
shell-quoted argument, so nothing it sends can make the host run anything else."""

from __future__ import annotations

import shlex

from sshapi.errors import BadRequest

UPTIME = "uptime"
MAX_PATH = 4096


def ls_command(path: str | None) -> str:
    """`ls -- 'PATH'`: `--` so a path starting with `-` is a path, not an option."""
    if path is None or path == "":
        raise BadRequest("ls needs a non-empty path: ?path=P", "bad_path")
    if "\x00" in path or "\n" in path or "\r" in path:
        raise BadRequest("path must not contain NUL, newline or carriage return", "bad_path")
    if len(path) > MAX_PATH:
        raise BadRequest(f"path is longer than {MAX_PATH} characters", "bad_path")
    return f"ls -- {shlex.quote(path)}"
