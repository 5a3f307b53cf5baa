#!/bin/bash
# Network delay for one emulated host with tc netem, where the kernel has it.
#   netem.sh show NAMESPACE DEV          JSON: {"available": bool, "delay_ms_applied": N|null}
#   netem.sh apply NAMESPACE DEV DELAY   set the delay on DEV unless in force; prints "changed"
# Availability is probed on the namespace's loopback (added, then removed), so probing
# changes nothing.
set -euo pipefail
action=$1 ns=$2 dev=$3

available=false
if ip netns exec "$ns" tc qdisc add dev lo root netem delay 0ms 2>/dev/null; then
  ip netns exec "$ns" tc qdisc del dev lo root
  available=true
fi
current=$(ip netns exec "$ns" tc qdisc show dev "$dev" | sed -n 's/.*netem.* delay \([0-9.]*\)ms.*/\1/p' | head -n 1)

if [ "$action" = show ]; then
  printf '{"available": %s, "delay_ms_applied": %s}\n' "$available" "${current:-null}"
  exit 0
fi
delay=$4
if [ "$available" != true ]; then
  echo "tc netem is not available in this kernel: delay ${delay} ms not applied" >&2
  exit 0
fi
if [ -z "$current" ] || ! awk -v a="$current" -v b="$delay" 'BEGIN { exit !(a == b) }'; then
  ip netns exec "$ns" tc qdisc replace dev "$dev" root netem delay "${delay}ms"
  echo "changed delay ${delay}ms on $dev"
fi
