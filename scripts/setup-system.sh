#!/usr/bin/env bash
# Installs the Debian packages the project needs, once, when any is missing.
# Run as root (make does this for you). Idempotent: a second run installs nothing.
#   scripts/setup-system.sh          what `make reproduce` needs
#   scripts/setup-system.sh --test   also what only `make test` needs
# Every run ends by recording the versions of the system packages the measurements depend on
# (and the kernel) in .stamps/system-packages.tsv, one `name<TAB>version` a line; every point's
# provenance carries them (`provenance.system_packages`, sshbench/sweep/provenance.py).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

packages=(openssh-server openssh-client iproute2 mariadb-server procps python3-venv)
# Only the tests need these (about 570 MB): a real browser to check the report's layout
# (tests/test_report_browser.py, headless, driven over its DevTools pipe), pdflatex with
# booktabs to compile the LaTeX tables (tests/analysis/test_latex.py), and fish, a
# non-POSIX login shell for the `ls` path tests (tests/sshapi), and a JRE with Debian's JSch
# for the Java client of benchmarks/bench_libraries.py (run with `java File.java`: no JDK), and
# sudo, which the emulated VMs' admin account uses as a cloud image's does (tests/vms), and
# systemd for systemd-analyze, which checks the API's service unit (tests/vms): installed, not
# booted (nothing here runs an init system).
test_packages=(chromium texlive-latex-base texlive-latex-recommended fish default-jre-headless
  libjsch-java sudo systemd)
# What the measurements depend on, recorded whatever was installed now.
recorded=(openssh-server openssh-client iproute2 mariadb-server libc6 python3)

record() {
  local out="$root/.stamps/system-packages.tsv"
  mkdir -p "$root/.stamps"
  {
    dpkg-query -W -f='${Package}\t${Version}\n' "${recorded[@]}" 2>/dev/null || true
    printf 'kernel\t%s\n' "$(uname -r)"
    printf 'os\t%s\n' "$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-unknown}")"
  } >"$out.tmp"
  mv "$out.tmp" "$out"
}

case "${1:-}" in
  "") ;;
  --test) packages+=("${test_packages[@]}") ;;
  *) echo "setup-system: unknown option '$1' (expected nothing or --test)" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  record
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "setup-system: missing Debian packages (${missing[*]}); run as root or install them" >&2
  exit 1
fi
echo "setup-system: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# apt's and debconf's chatter goes to a log, shown only if something fails.
log=$(mktemp /tmp/setup-system.XXXXXX.log)
# No service is started for us (there is no init system here); the project starts sshd and
# mariadbd itself, by hand, with its own configs and PID files.
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
    >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  echo "setup-system: apt-get failed (whole log: $log)" >&2
  exit 1
fi
rm -f "$log"
record
