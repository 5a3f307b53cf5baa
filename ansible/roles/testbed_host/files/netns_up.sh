#!/bin/sh
# Makes one emulated host's network, creating only what is missing, so a second run changes
# nothing. Prints one "created ..." line per change (Ansible's changed_when reads them).
# Usage: netns_up.sh NAMESPACE BRIDGE VETH_ROOT VETH_NS HOST_CIDR CLIENT_CIDR
set -eu
ns=$1 bridge=$2 veth_root=$3 veth_ns=$4 host_cidr=$5 client_cidr=$6

if [ ! -e "/sys/class/net/$bridge" ]; then
  ip link add "$bridge" type bridge
  echo "created bridge $bridge"
fi
if ! ip -o addr show dev "$bridge" | grep -qF " $client_cidr "; then
  ip addr add "$client_cidr" dev "$bridge"
  echo "created client address $client_cidr on $bridge"
fi
if ! ip -o link show dev "$bridge" | grep -q ",UP"; then
  ip link set "$bridge" up
  echo "created link up $bridge"
fi

if [ ! -e "/run/netns/$ns" ]; then
  ip netns add "$ns"
  echo "created namespace $ns"
fi
if [ ! -e "/sys/class/net/$veth_root" ]; then
  ip link add "$veth_root" type veth peer name "$veth_ns" netns "$ns"
  echo "created veth pair $veth_root / $veth_ns"
fi
if [ "$(basename "$(readlink "/sys/class/net/$veth_root/master" 2>/dev/null || echo none)")" != "$bridge" ]; then
  ip link set "$veth_root" master "$bridge"
  echo "created bridge port $veth_root"
fi
if ! ip -o link show dev "$veth_root" | grep -q ",UP"; then
  ip link set "$veth_root" up
  echo "created link up $veth_root"
fi

if ! ip -n "$ns" -o link show dev lo | grep -q ",UP"; then
  ip -n "$ns" link set lo up
  echo "created loopback up in $ns"
fi
if ! ip -n "$ns" -o addr show dev "$veth_ns" | grep -qF " $host_cidr "; then
  ip -n "$ns" addr add "$host_cidr" dev "$veth_ns"
  echo "created host address $host_cidr in $ns"
fi
if ! ip -n "$ns" -o link show dev "$veth_ns" | grep -q ",UP"; then
  ip -n "$ns" link set "$veth_ns" up
  echo "created link up $veth_ns in $ns"
fi
