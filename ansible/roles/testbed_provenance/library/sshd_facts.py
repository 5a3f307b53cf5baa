#!/usr/bin/python
"""Ansible module: read what one sshd runs with, in one step (version, sshd -T, config)."""

from __future__ import annotations

import hashlib
import os

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: sshd_facts
short_description: Read an sshd's version, resolved config, rendered config, PID and host key
description:
  - Runs C(sshd -V) and C(sshd -T -f CONFIG), hashes and reads CONFIG, reads the PID file and
    the first public host key. Changes nothing.
options:
  binary:
    description: The sshd executable.
    type: path
    default: /usr/sbin/sshd
  config:
    description: The sshd_config to resolve and hash.
    type: path
    required: true
  pid_file:
    description: sshd's PID file.
    type: path
    required: true
  host_key:
    description: A public host key file.
    type: path
    required: true
author: sshapi-bench
"""

RETURN = r"""
version: {description: sshd -V output, type: str, returned: always}
resolved: {description: sshd -T output lines, type: list, returned: always}
config_text: {description: the rendered config, type: str, returned: always}
config_sha256: {description: sha256 of the config file, type: str, returned: always}
pid: {description: PID in the PID file, or null, type: int, returned: always}
pid_alive: {description: whether that PID exists, type: bool, returned: always}
host_key: {description: "TYPE BASE64 of the public host key", type: str, returned: always}
kernel: {description: kernel release of the host, type: str, returned: always}
"""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "binary": {"type": "path", "default": "/usr/sbin/sshd"},
            "config": {"type": "path", "required": True},
            "pid_file": {"type": "path", "required": True},
            "host_key": {"type": "path", "required": True},
        },
        supports_check_mode=True,
    )
    p = module.params
    _, out, err = module.run_command([p["binary"], "-V"])
    version = (err + out).strip()
    rc, resolved, err = module.run_command([p["binary"], "-T", "-f", p["config"]])
    if rc != 0:
        module.fail_json(msg=f"sshd -T -f {p['config']} failed: {err.strip()}")
    with open(p["config"], "rb") as f:
        raw = f.read()
    pid = None
    try:
        with open(p["pid_file"]) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        pass
    with open(p["host_key"]) as f:
        host_key = " ".join(f.read().split()[:2])
    module.exit_json(
        changed=False,
        version=version,
        resolved=resolved.splitlines(),
        config_text=raw.decode(),
        config_sha256=hashlib.sha256(raw).hexdigest(),
        pid=pid,
        pid_alive=pid is not None and os.path.exists(f"/proc/{pid}"),
        host_key=host_key,
        kernel=os.uname().release,
    )


if __name__ == "__main__":
    main()
