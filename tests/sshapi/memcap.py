"""A memory-capped cgroup for a process a test starts (cgroup v1 or v2), so a process that
runs away with memory is stopped by the kernel instead of taking the machine down (NOTES.md:
an uncapped API once reached 22.9 GB against a server that streams without end).

The group is made under this process's own cgroup (see /proc/self/cgroup), named
`sshapi-memcap-<pid of the test process>-<n>`; groups of test processes that are gone are
removed by `remove_stale()`.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import time
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PREFIX = "sshapi-memcap-"
_counter = itertools.count()


def own_memory_cgroup() -> tuple[int, Path]:
    """(cgroup version, directory of this process's memory cgroup)."""
    v2 = None
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        num, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return 1, ROOT / "memory" / path.lstrip("/")
        if num == "0" and controllers == "":
            v2 = ROOT / path.lstrip("/")
    if v2 is not None and (ROOT / "cgroup.controllers").exists():
        return 2, v2
    raise RuntimeError("no memory cgroup controller found in /proc/self/cgroup")


def remove_stale() -> None:
    """Remove memcap groups left by test processes that no longer exist."""
    _, base = own_memory_cgroup()
    if not base.is_dir():
        return
    for d in base.glob(f"{PREFIX}*"):
        m = re.fullmatch(rf"{PREFIX}(\d+)-\d+", d.name)
        if m and not Path(f"/proc/{m.group(1)}").exists():
            with contextlib.suppress(OSError):
                d.rmdir()


class MemoryCap:
    def __init__(self, limit_bytes: int) -> None:
        self.version, base = own_memory_cgroup()
        self.limit = limit_bytes
        self.path = base / f"{PREFIX}{os.getpid()}-{next(_counter)}"
        self.path.mkdir()
        if self.version == 1:
            (self.path / "memory.limit_in_bytes").write_text(str(limit_bytes))
        else:
            if "memory" not in (self.path / "cgroup.controllers").read_text().split():
                self.path.rmdir()
                raise RuntimeError(
                    f"the memory controller is not enabled for children of {base} "
                    f"(add +memory to {base / 'cgroup.subtree_control'})"
                )
            (self.path / "memory.max").write_text(str(limit_bytes))
            swap = self.path / "memory.swap.max"
            if swap.exists():
                swap.write_text("0")
        self._sampled = 0

    def wrap(self, argv: list[str]) -> list[str]:
        """`argv`, started inside the group (the shell joins it, then execs the command), so
        the process and every child it forks are capped from their first byte."""
        procs = self.path / "cgroup.procs"
        return ["sh", "-c", 'echo $$ > "$0" && exec "$@"', str(procs), *argv]

    def _read(self, name: str) -> str:
        return (self.path / name).read_text()

    def usage(self) -> int:
        n = int(self._read("memory.usage_in_bytes" if self.version == 1 else "memory.current"))
        self._sampled = max(self._sampled, n)
        return n

    def peak(self) -> int:
        """Highest usage the kernel saw (v2 kernels without memory.peak: highest sampled)."""
        if self.version == 1:
            return int(self._read("memory.max_usage_in_bytes"))
        if (self.path / "memory.peak").exists():
            return int(self._read("memory.peak"))
        self.usage()
        return self._sampled

    def oom_kills(self) -> int:
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        m = re.search(r"^oom_kill (\d+)", self._read(name), re.M)
        return int(m.group(1)) if m else 0

    def remove(self) -> None:
        """rmdir the group once its processes are gone (the caller stopped them)."""
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.1)
