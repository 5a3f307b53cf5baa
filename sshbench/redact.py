"""Credentials out of everything the harness writes under results/ and .state/ (issue 24):
the password of a URL (`mysql+pymysql://user:PASSWORD@host/db`) and the values of keys that
name a secret (token, password, secret) become `***`."""

from __future__ import annotations

import re
from typing import Any

MASK = "***"
# scheme://user:password@ ; the password runs to the last "@" before the host
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/:@\s]*:)(?P<pw>[^\s]*)@")
_SECRET_KEY = re.compile(r"(^|_)(token|password|passwd|secret)($|_)", re.I)


def redact_text(text: str) -> str:
    """`text` with the password of every URL in it masked."""
    return _URL_PASSWORD.sub(lambda m: f"{m.group('head')}{MASK}@", text)


def redact(value: Any) -> Any:
    """A copy of `value` (JSON-like: dicts, lists, strings) with credentials masked: URL
    passwords in every string, and the whole value of a key naming a secret (a path to a
    token file, `*_file`, is kept: it is not the secret)."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            secret = (
                isinstance(k, str)
                and _SECRET_KEY.search(k)
                and not k.endswith(("_file", "_local", "_path"))
            )
            out[k] = MASK if secret and v not in (None, "") else redact(v)
        return out
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value
