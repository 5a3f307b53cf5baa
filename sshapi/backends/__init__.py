"""SSH backends behind one interface (see base.py); chosen by name."""

from __future__ import annotations

from types import ModuleType


def load(name: str) -> ModuleType:
    """Import only the chosen library, so e.g. a paramiko server never loads libssh2."""
    if name == "ssh2":
        from sshapi.backends import ssh2_backend as mod
    elif name == "paramiko":
        from sshapi.backends import paramiko_backend as mod
    elif name == "openssh":
        from sshapi.backends import openssh_backend as mod
    elif name == "asyncssh":
        from sshapi.backends import asyncssh_backend as mod
    elif name == "ssh-python":
        from sshapi.backends import sshpython_backend as mod
    else:
        from sshapi.settings import LIBRARIES

        raise ValueError(f"unknown SSH library {name!r}: use one of {', '.join(LIBRARIES)}")
    return mod
