#!/bin/bash
# Removes everything one local testbed made: sshd processes (by PID file), every process in its
# namespaces and cgroups, the namespaces, links, cgroups, /etc/netns entries, the test user and
# the testbed's files (its runs/ logs are kept). It finds objects by name (PREFIX-NAME-*), so
# it also cleans up after a crashed run, and it touches nothing of another testbed. Safe to run
# twice: prints one "removed ..." line per object it removed, nothing when all is gone.
# Usage: SSHD_ALIVE=/path/to/sshd_alive.sh teardown.sh PREFIX NAME TESTBED_DIR USER USER_HOME
# (TESTBED_DIR: STATE/testbed/NAME, or STATE/vms/NAME for the emulated cloud)
set -uo pipefail
: "${SSHD_ALIVE:?SSHD_ALIVE must name roles/sshd/files/sshd_alive.sh}"
tag="$1-$2-" dir=$3 user=$4 home=$5
# Only ever a testbed's or an emulated cloud's own directory: STATE/testbed/NAME or
# STATE/vms/NAME, with no ".." in it, and not a symlink.
real=$(realpath -m -s -- "$dir")
case "/$dir/" in */../*) real="" ;; esac
case "$(basename -- "$(dirname -- "$real")")" in testbed | vms) parent_ok=1 ;; *) parent_ok= ;; esac
if [ -z "$2" ] || [ -z "$real" ] || [ -z "$parent_ok" ] || [ "$(basename -- "$real")" != "$2" ] \
  || [ -L "$dir" ]; then
  echo "teardown.sh: refusing $dir: not a testbed directory (.../testbed/$2 or .../vms/$2)" >&2
  exit 2
fi

# kill_all PID...: TERM, wait up to 3 s, then KILL what is left.
kill_all() {
  [ $# -eq 0 ] && return 0
  kill -TERM "$@" 2>/dev/null
  for _ in $(seq 30); do
    alive=0; for p in "$@"; do [ -e "/proc/$p" ] && alive=1; done
    [ $alive = 0 ] && return 0
    sleep 0.1
  done
  kill -KILL "$@" 2>/dev/null; sleep 0.1
}

for pidfile in "$dir"/hosts/*/sshd.pid; do
  [ -f "$pidfile" ] || continue
  if alive=$("$SSHD_ALIVE" "$pidfile" "$(dirname "$pidfile")/sshd_config"); then
    pid=${alive#alive }
    kill_all "$pid"; echo "removed sshd $pid"
  fi
done

for ns in $(ip netns list | awk '{print $1}' | grep "^$tag"); do
  # shellcheck disable=SC2046
  pids=$(ip netns pids "$ns" 2>/dev/null); [ -n "$pids" ] && kill_all $pids && echo "removed processes in $ns: $pids" | tr '\n' ' ' && echo
  ip netns del "$ns" && echo "removed namespace $ns"
done

# Deepest first, so nested groups go before their parents.
for cg in $(find /sys/fs/cgroup -maxdepth 8 -type d -name "$tag*" 2>/dev/null | sort -r); do
  # shellcheck disable=SC2046
  pids=$(cat "$cg/cgroup.procs" 2>/dev/null); [ -n "$pids" ] && kill_all $pids
  rmdir "$cg" && echo "removed cgroup $cg"
done

# Controllers cgroup.sh enabled for its groups (cgroup v2): off again, newest first; the
# kernel refuses while another group still uses one, which then stays on.
for m in "${CGROUP_MARKERS:-/run/sshbench-cgroups}"/"$tag"*.enabled; do
  [ -e "$m" ] || continue
  tac "$m" | while read -r cgdir ctrl; do
    if grep -qw "$ctrl" "$cgdir/cgroup.subtree_control" 2>/dev/null \
      && echo "-$ctrl" 2>/dev/null > "$cgdir/cgroup.subtree_control"; then
      echo "restored $cgdir/cgroup.subtree_control (-$ctrl)"
    fi
  done
done
for m in "${CGROUP_MARKERS:-/run/sshbench-cgroups}"/"$tag"*; do
  [ -e "$m" ] && rm -f "$m" && echo "removed $m"
done

for link in $(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep "^$tag"); do
  ip link del "$link" 2>/dev/null && echo "removed link $link"
done

for d in /etc/netns/"$tag"*; do
  [ -e "$d" ] && rm -rf "$d" && echo "removed $d"
done

if id "$user" >/dev/null 2>&1; then userdel "$user" && echo "removed user $user"; fi
if [ -d "$home" ] && [ "$(basename "$home")" = "$user" ]; then rm -rf "$home" && echo "removed $home"; fi

if [ -d "$dir" ]; then
  for f in "$dir"/*; do
    [ -e "$f" ] || continue
    [ "$(basename "$f")" = runs ] && continue
    rm -rf "$f" && echo "removed $f"
  done
fi
exit 0
