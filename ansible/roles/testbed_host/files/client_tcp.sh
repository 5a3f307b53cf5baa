#!/bin/bash
# The client's TCP mode towards the hosts: the quickack route attribute on the client's route
# to the hosts' network, which makes the kernel ACK at once instead of delaying ACKs (a
# delayed ACK stalls sshd's packets right after authentication by ~40 ms per connection).
#   client_tcp.sh show DEST         print the route(s) to DEST as `ip route show exact` does
#   client_tcp.sh apply DEST MODE   MODE default (no quickack) or quickack (quickack 1);
#                                   prints "changed ..." when it changed the route, then the route
# DEST is the route's destination as in the table (e.g. 198.18.7.0/24). `ip route change`
# replaces the whole route, so the route is rewritten from its own description (device,
# source, metric, other attributes kept); an address change on the link recreates the route
# without the attribute, so whoever owns it applies it again after bringing the link up.
set -euo pipefail
action=$1 dest=$2

route=$(ip route show exact "$dest" | head -n 1)
if [ "$action" = show ]; then
  echo "$route"
  exit 0
fi
mode=$3
case "$mode" in
  default | quickack) ;;
  *) echo "client TCP mode must be default or quickack, not '$mode'" >&2; exit 2 ;;
esac
if [ -z "$route" ]; then
  echo "no route to $dest on this machine: is the testbed up?" >&2
  exit 1
fi
has=default
[[ " $route " == *" quickack 1 "* ]] && has=quickack
if [ "$has" != "$mode" ]; then
  # Flags that `ip route show` prints but `ip route change` does not take.
  base=$(sed -E 's/ quickack [0-9]+//; s/ (linkdown|dead|onlink|pervasive|offload|trap|rt_offload|rt_trap)\b//g' <<< "$route")
  extra=(); [ "$mode" = quickack ] && extra=(quickack 1)
  # shellcheck disable=SC2086  # the route's words are the arguments
  ip route change $base "${extra[@]}"
  echo "changed $dest: $mode"
fi
ip route show exact "$dest" | head -n 1
