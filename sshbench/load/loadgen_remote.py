"""Locust workers on other machines (a sweep's ``loadgen.hosts``), started and collected
over SSH by the ``loadgen_worker`` role.

Worker n runs on ``hosts[n % len(hosts)]``. ``start`` starts them, pointed at the master's
port on the controller, and returns the controller's address as the load machines see it
(their SSH connection's source), which is where the master binds. ``stop`` stops what is
left of them and fetches their rows (``requests-<n>.csv``), counters (``pacing-<n>.json``),
logs and CPU samples into the point's directory; the point's files on the host are removed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sshbench import paths
from sshbench.testbed import ansible_run, testbed

PLAYBOOK = "loadgen_workers.yml"


class RemoteLoadError(RuntimeError):
    """The workers could not be started or collected; the message names the step."""


def placement(hosts: list[str], processes: int) -> dict[str, list[int]]:
    """Worker numbers per host: worker n on hosts[n % len(hosts)]."""
    out: dict[str, list[int]] = {h: [] for h in hosts}
    for n in range(processes):
        out[hosts[n % len(hosts)]].append(n)
    return {h: ns for h, ns in out.items() if ns}


def _run(inventory: str, extravars: dict[str, Any], label: str) -> ansible_run.RunResult:
    runs = paths.testbed_dir() / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    try:
        return ansible_run.run_playbook(
            PLAYBOOK, testbed.inventory_path(inventory), extravars, runs, label
        )
    except ansible_run.PlaybookError as exc:
        raise RemoteLoadError(f"Locust workers {label}: {exc}") from None


def _common(hosts: dict[str, list[int]], point: str) -> dict[str, Any]:
    return {
        "loadgen_worker_hosts": ",".join(hosts),
        "loadgen_worker_numbers": hosts,
        "loadgen_worker_point": point,
    }


def start(
    inventory: str,
    hosts: dict[str, list[int]],
    point: str,
    port: int,
    args: list[str],
    token: str,
) -> str:
    """Start the workers; return the controller's address as the load machines reach it."""
    result = _run(
        inventory,
        {
            **_common(hosts, point),
            "loadgen_worker_state": "started",
            "loadgen_worker_master_port": port,
            "loadgen_worker_args": args,
            "loadgen_worker_token": token,
        },
        "workers-start",
    )
    seen = set(ansible_run.facts_by_host(result, "loadgen_worker_master_host").values())
    if len(seen) != 1:
        raise RemoteLoadError(
            f"the load machines reach the controller at {sorted(seen) or 'no address'}: "
            "the master can bind one address only"
        )
    return seen.pop()


def stop(inventory: str, hosts: dict[str, list[int]], point: str, out: Path) -> list[dict]:
    """Stop and collect the workers into ``out``; one record per worker: ``name``
    (host-n), ``pid`` and ``ended`` (``exited`` by itself, or ``stopped`` here)."""
    result = _run(
        inventory,
        {
            **_common(hosts, point),
            "loadgen_worker_state": "stopped",
            "loadgen_worker_fetch_to": str(out.resolve()),
        },
        "workers-stop",
    )
    workers = []
    for lines in ansible_run.facts_by_host(result, "loadgen_worker_ends").values():
        for line in lines:
            _, name, pid, ended = line.split()
            workers.append({"name": name, "pid": int(pid), "ended": ended})
    return sorted(workers, key=lambda w: w["name"])


def cpu_series(out: Path, name: str) -> list[tuple[float, float]]:
    """A worker's CPU samples (epoch, cumulative CPU seconds) as its sampler wrote them."""
    try:
        text = (out / f"cpu-worker-{name}.tsv").read_text()
    except FileNotFoundError:
        return []
    rows = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            rows.append((float(parts[0]), float(parts[1])))
    return rows
