#!/bin/bash
# CPU and memory limits for one emulated host, through cgroups v1 or v2, and the group that
# counts the host's CPU time (v1: cpuacct, separate or co-mounted with cpu; v2: cpu.stat).
#   cgroup.sh apply NAME CPU_CORES MEMORY_MB   create the groups if missing, set the limits;
#                                              prints one "changed ..." line per change
#   cgroup.sh show NAME                        JSON: version, group paths, limits in force
# Groups are made under this process's own cgroup (a container may not allow more), and an
# existing group of that NAME elsewhere in the hierarchy is reused (so reruns from another
# cgroup change nothing) only if this script made it: its path is in the marker file
# $CGROUP_MARKERS/NAME (written at creation, removed by teardown.sh) and it is owned by us.
# A group of that name that someone else made is never reused, nor its limits changed.
set -euo pipefail
action=$1 name=$2
markers=${CGROUP_MARKERS:-/run/sshbench-cgroups}
marker=$markers/$name

# v1 controllers are found by mount (cpu and cpuacct are separate here, "cpu,cpuacct" on
# most distributions); v2 is one tree at /sys/fs/cgroup.
mount_of() {
  awk -v c="$1" '$3 == "cgroup" { n = split($4, o, ","); for (i = 1; i <= n; i++) if (o[i] == c) { print $2; exit } }' /proc/self/mounts
}

version() {
  if [ -f /sys/fs/cgroup/cgroup.controllers ]; then echo 2
  elif [ -n "$(mount_of cpu)" ] && [ -n "$(mount_of memory)" ]; then echo 1
  else echo none; fi
}

# own_path CONTROLLER: this process's group for a v1 controller ("" for v2's single tree).
own_path() {
  if [ "$1" = "" ]; then sed -n 's/^0:://p' /proc/self/cgroup
  else awk -F: -v c="$1" '{ n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == c) print $3 }' /proc/self/cgroup
  fi
}

# group_dir MOUNT CONTROLLER: the group NAME this script made under MOUNT (marker, owner),
# else the path under our own group.
group_dir() {
  local found own
  own="$1$(own_path "$2" | sed 's:/$::')/$name"
  while IFS= read -r found; do
    if grep -qxF -- "$found" "$marker" 2>/dev/null && [ "$(stat -c %u -- "$found")" = "$(id -u)" ]; then
      echo "$found"; return
    fi
  done < <(find "$1" -maxdepth 8 -type d -name "$name" 2>/dev/null || true)
  echo "$own"
}

# put FILE VALUE: write VALUE unless FILE already holds it.
put() {
  if [ "$(cat "$1")" != "$2" ]; then echo "$2" > "$1"; echo "changed $1 = $2"; fi
}

ver=$(version)
case "$ver" in
  1)
    cpu_dir=$(group_dir "$(mount_of cpu)" cpu); mem_dir=$(group_dir "$(mount_of memory)" memory)
    acct_dir=""; [ -n "$(mount_of cpuacct)" ] && acct_dir=$(group_dir "$(mount_of cpuacct)" cpuacct)
    ;;
  2) cpu_dir=$(group_dir /sys/fs/cgroup ""); mem_dir=$cpu_dir acct_dir=$cpu_dir ;;
  *) cpu_dir="" mem_dir="" acct_dir="" ;;
esac

# enable_v2 DIR: make the cpu and memory controllers available to DIR's children. Fails in a
# group that holds processes itself (cgroup v2's "no internal processes" rule).
enable_v2() {
  local c
  for c in cpu memory; do
    grep -qw "$c" "$1/cgroup.subtree_control" && continue
    echo "+$c" 2>/dev/null > "$1/cgroup.subtree_control" || return 1
    echo "changed enabled $c in $1"
    # remembered, so teardown.sh can turn it off again (the kernel refuses while in use)
    (umask 077; mkdir -p "$markers"; echo "$1 $c" >> "$marker.enabled")
  done
}

if [ "$action" = apply ]; then
  cores=$3 mem_mb=$4
  [ "$ver" = none ] && { echo "no usable cgroup hierarchy: limits not applied" >&2; exit 0; }
  if [ "$ver" = 2 ] && [ ! -d "$cpu_dir" ] && ! enable_v2 "$(dirname "$cpu_dir")"; then
    # Our own group holds processes: fall back to a group at the top of the hierarchy.
    cpu_dir=/sys/fs/cgroup/$name mem_dir=/sys/fs/cgroup/$name acct_dir=/sys/fs/cgroup/$name
    enable_v2 /sys/fs/cgroup || {
      echo "cgroup v2: cannot enable the cpu and memory controllers: limits not applied" >&2
      exit 0
    }
  fi
  [ "$ver" = 1 ] && [ -z "$acct_dir" ] && echo "no cpuacct hierarchy: the host's CPU time is not counted" >&2
  for d in "$cpu_dir" "$acct_dir" "$mem_dir"; do
    if [ -n "$d" ] && [ ! -d "$d" ]; then mkdir -p "$d"; echo "changed created $d"; fi
    if [ -n "$d" ] && ! grep -qxF -- "$d" "$marker" 2>/dev/null; then
      (umask 077; mkdir -p "$markers"; echo "$d" >> "$marker")  # ours: made (or adopted) here
    fi
  done
  mem_bytes=$((mem_mb * 1024 * 1024))
  if [ "$ver" = 1 ]; then
    period=$(cat "$cpu_dir/cpu.cfs_period_us")
    quota=$(awk -v c="$cores" -v p="$period" 'BEGIN { printf "%d", c * p }')
    put "$cpu_dir/cpu.cfs_quota_us" "$quota"
    put "$mem_dir/memory.limit_in_bytes" "$mem_bytes"
  else
    period=100000
    quota=$(awk -v c="$cores" -v p="$period" 'BEGIN { printf "%d", c * p }')
    put "$cpu_dir/cpu.max" "$quota $period"
    put "$mem_dir/memory.max" "$mem_bytes"
  fi
  exit 0
fi

# show: what is in force now (read back from the kernel, not from the inventory).
procs=()
quota=null period=null mem=null
if [ "$ver" = 1 ] && [ -d "$cpu_dir" ]; then
  quota=$(cat "$cpu_dir/cpu.cfs_quota_us"); period=$(cat "$cpu_dir/cpu.cfs_period_us")
  [ -d "$mem_dir" ] && mem=$(cat "$mem_dir/memory.limit_in_bytes")
  # Co-mounted controllers share one group (and one procs file): list each file once.
  for d in "$cpu_dir" "$acct_dir" "$mem_dir"; do
    [ -n "$d" ] && [ -d "$d" ] && [[ " ${procs[*]} " != *" $d/cgroup.procs "* ]] && procs+=("$d/cgroup.procs")
  done
elif [ "$ver" = 2 ] && [ -d "$cpu_dir" ]; then
  read -r quota period < "$cpu_dir/cpu.max" 2>/dev/null || quota=-1 period=100000
  [ "$quota" = max ] && quota=-1
  mem=$(cat "$cpu_dir/memory.max" 2>/dev/null || echo max); [ "$mem" = max ] && mem=-1
  procs=("$cpu_dir/cgroup.procs")
fi
exists=false; [ -n "$cpu_dir" ] && [ -d "$cpu_dir" ] && exists=true
[ -n "$acct_dir" ] && [ ! -d "$acct_dir" ] && acct_dir=""
printf '{"version": "%s", "exists": %s, "cpu_path": "%s", "cpuacct_path": "%s", "memory_path": "%s", ' \
  "$ver" "$exists" "$cpu_dir" "$acct_dir" "$mem_dir"
printf '"cpu_quota_us": %s, "cpu_period_us": %s, "memory_limit_bytes": %s, "procs_files": [' "$quota" "$period" "$mem"
sep=""; for p in "${procs[@]}"; do printf '%s"%s"' "$sep" "$p"; sep=", "; done
printf ']}\n'
