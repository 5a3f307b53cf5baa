"""Deploy the SSH API under test for one (library, connection mode), through Ansible.

The `ssh_api` role (ansible/roles/ssh_api) stops the previous deployment by its PID file,
starts `sshapi serve` (gunicorn) with a fresh database, creates the benchmark user and
checks /healthz. Then this module registers one credential per testbed host through the
API's own HTTP interface. `ensure` redeploys only when something changed: another library
or connection mode, other API settings, a dead server, or a rebuilt testbed (new keys).
"""

from __future__ import annotations

import hashlib
import json
import socket
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import requests

from sshbench import paths
from sshbench.redact import redact
from sshbench.testbed import ansible_run


class DeployError(RuntimeError):
    """The API could not be deployed or did not answer."""


LOCAL = "localhost"
# The API's port on a client VM when neither the inventory nor the sweep names one.
DEFAULT_PORT = 8080
# The inventory group of the client VM (the study's: API and load generator), if it has one.
CLIENT_GROUP = "testbed_client"


def _files() -> dict[str, Path]:
    d = paths.api_dir()
    return {
        "dir": d,
        "pid": d / "sshapi.pid",
        "log": d / "api.log",
        "db": d / "sshapi.db",
        "key": d / "secret.key",
        "token": d / "token",
        "record": d / "deployment.json",
        "runs": d / "runs",
    }


def log_file() -> Path:
    """The running deployment's log (the point runner copies each point's slice of it)."""
    return _files()["log"]


def run_playbook(
    playbook: str, extravars: dict[str, Any], label: str, inventory: str = "local"
) -> ansible_run.RunResult:
    """Run one playbook of ansible/playbooks (each run keeps its own log directory)."""
    from sshbench.testbed import testbed

    runs = _files()["runs"]
    runs.mkdir(parents=True, exist_ok=True)
    try:
        return ansible_run.run_playbook(
            playbook, testbed.inventory_path(inventory), extravars, runs, label
        )
    except ansible_run.PlaybookError as exc:
        raise DeployError(f"SSH API {label} failed: {exc}") from None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pid_is_api(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        return "sshapi" in " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return False


def testbed_fingerprint(status: dict[str, Any]) -> str:
    """Hash of what the credentials depend on: addresses, users, host keys, client keys."""
    parts = []
    for name, h in sorted(status["hosts"].items()):
        key = Path(h["private_key"])
        key_hash = hashlib.sha256(key.read_bytes()).hexdigest() if key.exists() else "missing"
        parts.append([name, h["address"], h["port"], h["user"], h["host_key"], key_hash])
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def healthz(url: str, timeout: float = 3.0, token: str | None = None) -> dict[str, Any] | None:
    """The API's /healthz answer, or None when it does not answer ok. With the token, the
    full answer (versions, settings, pool); without, liveness, library and mode only."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        r = requests.get(f"{url}/healthz", timeout=timeout, headers=headers)
        body = r.json()
    except (requests.RequestException, ValueError):
        return None
    return body if r.status_code == 200 and body.get("status") == "ok" else None


def current() -> dict[str, Any] | None:
    """The recorded deployment, if any."""
    rec = _files()["record"]
    try:
        return json.loads(rec.read_text())
    except (OSError, ValueError):
        return None


def _wanted(library: str, connections: str, api: dict[str, Any]) -> dict[str, Any]:
    """What a deployment is for, as recorded in deployment.json and point.json: credentials
    masked (redact.py), so a changed database password alone does not redeploy."""
    return redact(
        {
            "library": library,
            "connections": connections,
            **{k: v for k, v in sorted(api.items()) if k != "port"},
        }
    )


def target(api: dict[str, Any], inventory: str) -> str:
    """Where the API runs: the sweep's ``api.target``, else the inventory's client VM (its
    ``testbed_client`` group), else this machine (``localhost``)."""
    from sshbench.sweep import sweep
    from sshbench.testbed import testbed

    if api.get("target"):
        return str(api["target"])
    clients = sweep.inventory_hosts(testbed.inventory_path(inventory), CLIENT_GROUP)
    return CLIENT_GROUP if clients else LOCAL


def _still_good(rec: dict[str, Any] | None, wanted: dict[str, Any], fingerprint: str) -> bool:
    if not rec or rec.get("wanted") != wanted or rec.get("testbed") != fingerprint:
        return False
    local = rec.get("target", LOCAL) == LOCAL
    if local and wanted.get("mode", "process") == "process" and not _pid_is_api(rec.get("pid")):
        return False
    h = healthz(rec["url"])
    return bool(h and h.get("library") == wanted["library"])


def _serving(rec: dict[str, Any], wanted: dict[str, Any], token: str) -> dict[str, Any] | None:
    """The running API's full /healthz answer when it serves what `wanted` asks for (library,
    connection mode, and the settings it answered with when it was deployed), else None.
    A reused deployment is recorded from this answer, so a point's provenance says what
    served it, not what was asked for."""
    live = healthz(rec["url"], token=token)
    if not live:
        return None
    then = rec.get("healthz") or {}
    same = (
        live.get("library") == wanted["library"]
        and live.get("connections") == wanted["connections"]
        and live.get("settings") == then.get("settings")
        and live.get("sshapi") == then.get("sshapi")
    )
    return live if same else None


def _reusable_db(f: dict[str, Path], api: dict[str, Any]) -> bool:
    """A local SQLite database of an earlier deployment, with its key and the benchmark
    user's token beside it."""
    if api.get("db", "sqlite") != "sqlite":
        return False
    return all(f[k].is_file() and f[k].stat().st_size > 0 for k in ("db", "key", "token"))


def register_credentials(url: str, token: str, status: dict[str, Any]) -> dict[str, str]:
    """POST one credential per testbed host (named after the host); return host -> name.
    The benchmark user's credentials from an earlier deployment (a kept database) are
    deleted first: each deployment registers exactly this testbed's hosts, as if fresh."""
    creds = {}
    headers = {"Authorization": f"Bearer {token}"}
    r = requests.get(f"{url}/credentials", headers=headers, timeout=10)
    if r.status_code != 200:
        raise DeployError(f"GET /credentials answered {r.status_code}: {r.text[:200]}")
    for old in r.json()["credentials"]:
        d = requests.delete(f"{url}/credentials/{old['name']}", headers=headers, timeout=10)
        if d.status_code not in (204, 404):
            raise DeployError(
                f"DELETE /credentials/{old['name']} answered {d.status_code}: {d.text[:200]}"
            )
    for name, h in sorted(status["hosts"].items()):
        body = {
            "name": name,
            "host": h["address"],
            "port": h["port"],
            "username": h["user"],
            "private_key": Path(h["private_key"]).read_text(),
            "host_key": h["host_key"],
        }
        r = requests.post(f"{url}/credentials", json=body, headers=headers, timeout=10)
        if r.status_code != 201:
            raise DeployError(
                f"POST /credentials for host {name} answered {r.status_code}: {r.text[:200]}"
            )
        creds[name] = name
    return creds


def ensure(
    library: str,
    connections: str,
    api: dict[str, Any],
    status: dict[str, Any],
    log=print,
    inventory: str = "local",
) -> dict[str, Any]:
    """Make sure the API runs with this library and connection mode for this testbed.

    Returns the deployment record: url, token, pid, credentials per host, /healthz answer.
    """
    f = _files()
    wanted = _wanted(library, connections, api)
    fingerprint = testbed_fingerprint(status)
    rec = current()
    if _still_good(rec, wanted, fingerprint):
        token = f["token"].read_text().strip()
        live = _serving(rec, wanted, token)
        if live is not None:
            log(f"api: reusing deployment {library}/{connections} at {rec['url']}")
            return {**rec, "healthz": live, "reused": True, "token": token}
        log(
            f"api: the deployment at {rec['url']} does not serve {library}/{connections} "
            "with these settings: deploying again"
        )
    where = target(api, inventory)
    mode = api.get("mode", "process" if where == LOCAL else None)
    t0 = time.monotonic()
    extravars = {
        "ssh_api_state": "started",
        "ssh_api_target": where,
        "ssh_api_library": library,
        "ssh_api_connections": connections,
        "ssh_api_workers": api.get("workers", 1),
        "ssh_api_threads": api.get("threads", 64),
        "ssh_api_connect_timeout": api.get("connect_timeout", 10),
        "ssh_api_command_timeout": api.get("command_timeout", 30),
        "ssh_api_max_connections": api.get("max_connections", 50),
        "ssh_api_max_sessions_per_connection": api.get("max_sessions_per_connection", 10),
        "ssh_api_fresh_db": True,  # kept below when this machine holds a usable one
        # The analysis tells sshd's refusals from other failures (measure/saturation.py):
        # a service's default of one uniform connect error would hide them.
        "ssh_api_uniform_connect_errors": False,
        # where the benchmark user's token ends up on this machine (fetched from a client VM)
        "ssh_api_token_local": str(f["token"]),
    }
    if mode:
        extravars["ssh_api_mode"] = mode
    if where == LOCAL:
        port = api.get("port") or _free_port()
        extravars["ssh_api_bind"] = f"{api.get('address', '127.0.0.1')}:{port}"
    if where == LOCAL and mode == "process":  # runtime files in the state dir, venv's sshapi
        extravars |= {
            "ssh_api_dir": str(f["dir"]),
            "ssh_api_pid_file": str(f["pid"]),
            "ssh_api_log_file": str(f["log"]),
            "ssh_api_key_file": str(f["key"]),
            "ssh_api_db_file": str(f["db"]),
            "ssh_api_token_file": str(f["token"]),
            "ssh_api_bin": str(Path(sys.executable).with_name("sshapi")),
            # The last deployment's database, key and token (this state dir; removed by
            # `stop`): the benchmark user exists, so no add-user run (~2-5 s) and no token
            # copy; its credentials are replaced (register_credentials).
            "ssh_api_fresh_db": not _reusable_db(f, api),
        }
    elif api.get("address"):  # a client VM: the inventory's ssh_api_bind unless the sweep says
        extravars["ssh_api_bind"] = f"{api['address']}:{api.get('port') or DEFAULT_PORT}"
    if api.get("db", "sqlite") != "sqlite":
        extravars["ssh_api_db_url"] = api["db"]
    result = run_playbook(
        "ssh_api.yml", extravars, label=f"deploy-{library}-{connections}", inventory=inventory
    )
    url = ansible_run.fact(result, "ssh_api_url")
    token = f["token"].read_text().strip()
    health = healthz(url, token=token) if url else None
    if not health:
        raise DeployError(f"the API at {url} does not answer /healthz after deployment")
    creds = register_credentials(url, token, status)
    rec = {
        "wanted": wanted,
        "testbed": fingerprint,
        "url": url,
        # Its CPU is sampled from here only when it runs here.
        "pid": int(f["pid"].read_text().strip()) if where == LOCAL and mode == "process" else None,
        "inventory": inventory,
        "target": where,
        "credentials": creds,
        "healthz": health,
        "log": str(f["log"]),
        "deploy_s": round(time.monotonic() - t0, 2),
        "deployed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    tmp = f["record"].with_suffix(".tmp")
    tmp.write_text(json.dumps(rec, indent=1))
    tmp.replace(f["record"])
    log(f"api: deployed {library}/{connections} at {url} in {rec['deploy_s']} s")
    return {**rec, "reused": False, "token": token}


def stop(log=print) -> None:
    """Stop the deployed API (safe to run twice, and when nothing was deployed)."""
    f = _files()
    rec = current() or {}
    if not f["pid"].exists() and not rec:
        return
    where = rec.get("target", LOCAL)
    extravars: dict[str, Any] = {"ssh_api_target": where}
    if where == LOCAL:
        extravars |= {
            "ssh_api_dir": str(f["dir"]),
            "ssh_api_pid_file": str(f["pid"]),
            "ssh_api_mode": rec.get("wanted", {}).get("mode", "process"),
        }
    run_playbook(
        "ssh_api_stop.yml", extravars, label="stop", inventory=rec.get("inventory", "local")
    )
    f["record"].unlink(missing_ok=True)
    log("api: stopped")
