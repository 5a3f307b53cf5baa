#!/bin/bash
# Starts one emulated host's own sshd inside its namespace and cgroups, unless it runs already.
# Usage: SSHD_ALIVE=/path/to/sshd_alive.sh sshd_start.sh NAMESPACE SSHD CONFIG LOG PIDFILE [CGROUP_PROCS_FILE...]
# Prints "running PID", "started PID" or "moved PID into FILE" (a running sshd missing from
# one of the groups, e.g. a group added since it started). sshd's children (sessions) inherit
# the namespace and the cgroups, so the limits and the CPU count cover the host's sshd and
# everything it runs.
set -euo pipefail
ns=$1 sshd=$2 config=$3 log=$4 pidfile=$5
shift 5
: "${SSHD_ALIVE:?SSHD_ALIVE must name roles/sshd/files/sshd_alive.sh}"

ours() { "$SSHD_ALIVE" "$pidfile" "$config" >/dev/null; }

pid=$(cat "$pidfile" 2>/dev/null || true)
if ours; then
  for f in "$@"; do
    grep -qx "$pid" "$f" || { echo "$pid" > "$f"; echo "moved $pid into $f"; }
  done
  echo "running $pid"
  exit 0
fi
rm -f "$pidfile"
mkdir -p /run/sshd
(
  for f in "$@"; do echo "$BASHPID" > "$f"; done
  exec ip netns exec "$ns" "$sshd" -f "$config" -E "$log"
)
for _ in $(seq 100); do
  if ours && grep -q "Server listening" "$log" 2>/dev/null; then echo "started $(cat "$pidfile")"; exit 0; fi
  sleep 0.1
done
echo "sshd in $ns did not start within 10 s; last log lines: $(tail -n 3 "$log" 2>/dev/null | tr '\n' ' ')" >&2
exit 1
