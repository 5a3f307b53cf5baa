#!/bin/sh
# Is this our sshd? The one liveness check of the testbed's shell side (Python has
# sshbench.testbed.testbed.sshd_alive with the same rule). A PID alone is not enough: after a crash
# the number may belong to another process, or to another testbed's sshd.
#   sshd_alive.sh PID_OR_PIDFILE CONFIG
# Exit 0 and print "alive PID" when that process runs with "-f CONFIG" on its command line;
# exit 1 and print "not running ..." otherwise.
set -u
pid=$1 config=$2
case "$pid" in
  '' | *[!0-9]*) pid=$(cat "$pid" 2>/dev/null || true) ;;
esac
# sshd rewrites its process title ("sshd: /usr/sbin/sshd -f CONFIG ... [listener] ..."), so
# the arguments are matched as words of one string, not as separate argv entries.
cmdline=$( [ -n "$pid" ] && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null || true)
case " $cmdline " in
  *" -f $config "*) echo "alive $pid"; exit 0 ;;
esac
echo "not running: ${pid:-no PID} is not an sshd started with -f $config"
exit 1
