#!/usr/bin/env bash
# Installs the Debian packages the project needs, once, when any is missing.
# Run as root (make does this for you). Idempotent: a second run installs nothing.
set -euo pipefail

packages=(openssh-server openssh-client iproute2 mariadb-server procps python3-venv fish)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "setup-system: missing Debian packages (${missing[*]}); run as root or install them" >&2
  exit 1
fi
echo "setup-system: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d stops the packages from trying to start their services: the project starts
# sshd and mariadbd itself, by hand, with its own configs and PID files.
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
