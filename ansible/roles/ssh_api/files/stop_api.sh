#!/bin/sh
# Stop the deployment in PIDFILE in one step (one Ansible task instead of five: each task is
# a round-trip, and wait_for polls only once a second).
#   stop_api.sh PIDFILE TIMEOUT
# Only a process whose command line holds "sshapi" is signalled (PIDs get reused). Deployments
# change between sweep points, when no request is in flight: gunicorn's quick shutdown
# (SIGINT) is enough, a graceful one would wait for idle keep-alives. SIGKILL after TIMEOUT s.
# Prints "stopped PID", "killed PID" or "none"; removes PIDFILE in every case.
set -u
pidfile=$1 timeout=$2
pid=$(cat "$pidfile" 2>/dev/null || true)
case "$pid" in
  '' | *[!0-9]*) rm -f "$pidfile"; echo none; exit 0 ;;
esac
if ! grep -q sshapi "/proc/$pid/cmdline" 2>/dev/null; then
  rm -f "$pidfile"; echo none; exit 0
fi
kill -INT "$pid" 2>/dev/null || true
ticks=$((timeout * 10))
while [ -e "/proc/$pid" ] && [ "$ticks" -gt 0 ]; do
  sleep 0.1
  ticks=$((ticks - 1))
done
if [ -e "/proc/$pid" ]; then
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"; echo "killed $pid"; exit 0
fi
rm -f "$pidfile"; echo "stopped $pid"
