"""Log lines of an analysis step: to its log file (a Snakemake rule's log:) and to stderr.

Its own light module, so a workflow script that only needs logging does not import (and
so does not depend on) the whole analysis.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger("analysis")


@contextlib.contextmanager
def logged(log_file: str | Path) -> Iterator[None]:
    """Send the analysis' log lines to LOG_FILE (a Snakemake rule's log:) and to stderr."""
    Path(log_file).parent.mkdir(parents=True, exist_ok=True)
    handlers: list[logging.Handler] = [
        logging.FileHandler(log_file, mode="w"),
        logging.StreamHandler(sys.stderr),
    ]
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    for h in handlers:
        h.setFormatter(fmt)
        root.addHandler(h)
    root.setLevel(logging.INFO)
    try:
        yield
    except Exception:
        log.exception("analysis step failed")
        raise
    finally:
        for h in handlers:
            root.removeHandler(h)
            h.close()
