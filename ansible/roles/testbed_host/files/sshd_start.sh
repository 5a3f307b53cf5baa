#!/bin/bash
# Starts one emulated host's own sshd inside its namespace and cgroups, unless it runs already.
# Usage: sshd_start.sh NAMESPACE SSHD CONFIG LOG PIDFILE [CGROUP_PROCS_FILE...]
# Prints "running PID" or "started PID". sshd's children (sessions) inherit the namespace and
# the cgroups, so the limits cover the host's sshd and everything it runs.
set -euo pipefail
ns=$1 sshd=$2 config=$3 log=$4 pidfile=$5
shift 5

ours() { [ -n "$1" ] && tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null | grep -qF -- "-f $config"; }

pid=$(cat "$pidfile" 2>/dev/null || true)
if ours "$pid"; then echo "running $pid"; exit 0; fi
rm -f "$pidfile"
mkdir -p /run/sshd
(
  for f in "$@"; do echo "$BASHPID" > "$f"; done
  exec ip netns exec "$ns" "$sshd" -f "$config" -E "$log"
)
for _ in $(seq 100); do
  pid=$(cat "$pidfile" 2>/dev/null || true)
  if ours "$pid" && grep -q "Server listening" "$log" 2>/dev/null; then echo "started $pid"; exit 0; fi
  sleep 0.1
done
echo "sshd in $ns did not start within 10 s; last log lines: $(tail -n 3 "$log" 2>/dev/null | tr '\n' ' ')" >&2
exit 1
