"""Ctrl-C reaches Snakemake's own process even while it writes a log line.

Snakemake's console log handler (snakemake/logging.py, the handler's `emit`) catches
KeyboardInterrupt and ignores it. A Ctrl-C that lands while Snakemake writes a line (a job
starting or finishing: several times per point) is dropped, the point's own process keeps its
record as it should, and the sweep runs on to its end as if nothing was pressed. On a busy
machine that is often enough to see: tests/sweep/test_interrupt.py hit it with a second pytest
process beside it.

`install()` (called by workflow/rules/common.smk in Snakemake's process) puts a SIGINT
handler in place that raises KeyboardInterrupt, as Python's own does, except while a logging
handler is emitting: then it sends SIGINT to this process again a moment later, when the line
is written, and Snakemake's scheduler gets the KeyboardInterrupt it stops on.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType

AGAIN_AFTER_S = 0.05  # a log line takes microseconds to milliseconds to write


def _in_log_emit(frame: FrameType | None) -> bool:
    while frame is not None:
        code = frame.f_code
        if code.co_name == "emit" and "logging" in os.path.basename(code.co_filename):
            return True
        frame = frame.f_back
    return False


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    if _in_log_emit(frame):
        timer = threading.Timer(AGAIN_AFTER_S, os.kill, (os.getpid(), signal.SIGINT))
        timer.daemon = True
        timer.start()
        return
    raise KeyboardInterrupt


def install() -> None:
    """Replace this process's SIGINT handler (only the main thread may set one)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _on_sigint)
