"""CPU counters of everything a point runs on, sampled while the point runs.

Raw facts only: cumulative counters with their sample times. The analysis (analysis.collect)
interpolates them at the measured window's edges and computes CPU seconds, utilisation and
service demand per answered request; nothing is computed here.

Per sample:
- machine: busy and total CPU seconds of every core (/proc/stat through psutil);
- api: CPU seconds of the SSH API's whole process tree (gunicorn master, workers, `ssh`
  children; children that exited are counted through their parent's children_* times);
- generator: the same for every Locust process, and the busiest single Locust process
  (one process uses one core at most: that is its ceiling);
- host: the host's cgroup counters (CPU seconds, CFS periods and throttled periods), when
  the testbed can read them (a local namespace host; not a real VM), and the memory its
  group uses now, ``host_mem_bytes`` (cgroup v1 ``memory.usage_in_bytes``, page cache
  included; v2 ``memory.current``), beside the group's limit in the record
  (``host_mem_limit_bytes``).
"""

from __future__ import annotations

import json
import resource
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

HostReader = Callable[[], dict[str, float] | None]

# Memory in use and the limit, per cgroup version.
_MEM_FILES = {
    "1": ("memory.usage_in_bytes", "memory.limit_in_bytes"),
    "2": ("memory.current", "memory.max"),
}


class HostMemory:
    """A host's cgroup memory (in use now, and its limit), from the ``cgroup`` block of the
    host's provenance.json (cgroup.sh show: ``version``, ``memory_path``)."""

    def __init__(self, version: str, path: Path) -> None:
        self.used_file, self.limit_file = (path / f for f in _MEM_FILES[version])

    @classmethod
    def of_provenance(cls, provenance_file: str | Path | None) -> HostMemory | None:
        """None when the host has no memory group here (a real VM, no cgroups)."""
        try:
            facts = json.loads(Path(provenance_file).read_text())["host_facts"]["cgroup"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        version, path = str(facts.get("version")), facts.get("memory_path")
        if version not in _MEM_FILES or not path or not Path(path).is_dir():
            return None
        return cls(version, Path(path))

    def used(self) -> int | None:
        try:
            return int(self.used_file.read_text())
        except (OSError, ValueError):
            return None

    def limit(self) -> int | None:
        """Bytes, or None for no limit (v2 "max"; v1's huge "unlimited" number)."""
        try:
            text = self.limit_file.read_text().strip()
        except OSError:
            return None
        if not text.isdigit() or int(text) >= 2**62:
            return None
        return int(text)


def self_cpu_seconds() -> float:
    """This process's CPU seconds (every thread) plus its reaped children's (a benchmark
    calling a library in threads, or the `ssh` client as a child)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def tree_cpu_seconds(pid: int | None) -> float | None:
    """CPU seconds of a process and its live descendants, plus what their waited-for
    children used. None if the process is gone."""
    if not pid:
        return None
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def _own_cpu_seconds(pid: int) -> float | None:
    try:
        t = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return None
    return t.user + t.system


class Sampler:
    """Samples the counters of one point; `samples` is what goes into point.json."""

    def __init__(
        self,
        api_pid: int | None,
        generator_pids: list[int],
        host: str | None = None,
        host_reader: HostReader | None = None,
        host_memory: HostMemory | None = None,
    ) -> None:
        self.api_pid = api_pid
        self.host_memory = host_memory
        self.generator_pids = list(generator_pids)
        self.host = host
        self.host_reader = host_reader
        self.samples: list[dict[str, Any]] = []
        self._last_gen: dict[int, float] = {}  # last CPU seconds seen per Locust process
        self._gen_base: dict[int, float] = {}
        self.remote: list[str] = []  # Locust processes on other machines (add_remote)

    def sample(self) -> None:
        t = time.time()
        cpu = psutil.cpu_times()
        total = sum(cpu)
        idle = cpu.idle + getattr(cpu, "iowait", 0.0)
        row: dict[str, Any] = {
            "t": round(t, 4),
            "machine_busy_s": round(total - idle, 3),
            "machine_total_s": round(total, 3),
        }
        api = tree_cpu_seconds(self.api_pid)
        if api is not None:
            row["api_cpu_s"] = round(api, 4)
        gen_total = 0.0
        for pid in self.generator_pids:
            used = tree_cpu_seconds(pid)
            if used is None:  # exited: keep its last reading, so the sum stays monotonic
                used = self._last_gen.get(pid, 0.0)
            self._last_gen[pid] = used
            gen_total += used
        row["generator_cpu_s"] = round(gen_total, 4)
        # The busiest process's own counter (one process cannot use more than one core).
        own = {pid: _own_cpu_seconds(pid) for pid in self.generator_pids}
        for pid, used in own.items():
            if used is not None:
                self._gen_base[pid] = used
        if self._gen_base:
            row["generator_busiest_cpu_s"] = round(max(self._gen_base.values()), 4)
        if self.host_reader is not None:
            try:
                counters = self.host_reader()
            except OSError:
                counters = None
            for key, val in (counters or {}).items():
                row[f"host_{key}"] = val
        if self.host_memory is not None:
            row["host_mem_bytes"] = self.host_memory.used()
        self.samples.append(row)

    def add_remote(self, name: str, series: list[tuple[float, float]]) -> None:
        """Count a Locust process on another machine like a local one: its cumulative CPU
        seconds (sampled there, ``(epoch, cpu_s)``) at each sample's time, added to
        ``generator_cpu_s`` and taken into ``generator_busiest_cpu_s``."""
        self.remote.append(name)
        for row in self.samples:
            used = 0.0
            for t, cpu_s in series:
                if t > row["t"]:
                    break
                used = cpu_s
            row["generator_cpu_s"] = round(row.get("generator_cpu_s", 0.0) + used, 4)
            row["generator_busiest_cpu_s"] = max(row.get("generator_busiest_cpu_s", 0.0), used)

    def record(self, interval_s: float, host_cpus: float | None) -> dict[str, Any]:
        """The point.json `resources` block."""
        return {
            "interval_s": interval_s,
            "host": self.host,
            "host_cpus": host_cpus,
            "machine_cores": psutil.cpu_count(),
            "generator_processes": len(self.generator_pids) + len(self.remote),
            "remote_generators": self.remote,
            "host_mem_limit_bytes": self.host_memory.limit() if self.host_memory else None,
            "samples": self.samples,
        }

    @contextmanager
    def every(self, interval_s: float) -> Iterator[Sampler]:
        """Sample in a background thread every `interval_s` while the block runs (and once
        at its start and end): for a point whose load runs in this process (auth)."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(interval_s):
                self.sample()

        self.sample()
        thread = threading.Thread(target=loop, name="sampler", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join()
            self.sample()
