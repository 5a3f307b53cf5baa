"""The testbed: hosts (network namespaces or real VMs) with their sshd, provisioned through
Ansible (``testbed``: up, switch, status, down; ``live``: the kernel side, cgroups and
routes; ``ansible_run``: the playbook runner; ``vms_local``: the emulated cloud)."""
