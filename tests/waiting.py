"""Waiting on observable state instead of a fixed sleep: a test goes on as soon as what it
needs is true, and fails naming it when it never becomes true."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

import requests


def wait_for(condition: Callable[[], object], what: str, timeout_s: float = 30.0) -> None:
    """Poll `condition` every 10 ms until it is true; AssertionError naming `what` after
    `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.01)


def wait_healthz(
    url: str, proc: subprocess.Popen, timeout_s: float = 30.0, get_timeout_s: float = 2.0
) -> None:
    """Poll `url`/healthz until it answers 2xx (a refused, reset or slow answer is "not up
    yet"); AssertionError when `proc` ended first or after `timeout_s`."""

    def up() -> bool:
        assert proc.poll() is None, (
            f"the server at {url} exited ({proc.returncode}) before /healthz answered"
        )
        try:
            return requests.get(f"{url}/healthz", timeout=get_timeout_s).ok
        except requests.RequestException:
            return False

    wait_for(up, f"{url}/healthz", timeout_s)
