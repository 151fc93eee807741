#!/usr/bin/env bash
# Install the real clients and servers the tests drive, only those that are missing.
# Under CI=true a tool that is still missing afterwards is a failure.
set -euo pipefail

# command (or a header under /usr/include) -> Debian package
declare -A NEED=(
  [curl]=curl
  [ssh]=openssh-client
  [scp]=openssh-client
  [sshpass]=sshpass
  [nmap]=nmap
  [hydra]=hydra
  [wrk]=wrk
  [nginx]=nginx-light
  [redis-cli]=redis-tools
  [telnet]=telnet
  [nft]=nftables
  [ipset]=ipset
  [ip]=iproute2
  [named-checkzone]=bind9-utils
  [dig]=bind9-dnsutils
  [unbound]=unbound
  [taskset]=util-linux
  [crowdsec-custom-bouncer]=crowdsec-custom-bouncer
  [crowdsec-firewall-bouncer]=crowdsec-firewall-bouncer
  [git]=git
  [sshd]=openssh-server
  [pg_ctl]=postgresql  # server binaries live in /usr/lib/postgresql/<version>/bin
  [gcc]=build-essential  # builds the native flow-log reader (honeyguard.intel.flows._fastscan)
  [python3-config]=python3-dev  # Python headers for it
  [openssl/evp.h]=libssl-dev  # libcrypto headers: the SSH sensor's native cipher (honeyguard.sensor.sshd._sshcipher)
  [hs/hs.h]=libhyperscan-dev  # libhs: the detection engine's native scans (honeyguard.detect._hsnative)
)

missing=()
for cmd in "${!NEED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || compgen -G "/usr/lib/postgresql/*/bin/$cmd" >/dev/null || [ -f "/usr/include/$cmd" ] || missing+=("${NEED[$cmd]}")
done

if [ ${#missing[@]} -gt 0 ]; then
  mapfile -t pkgs < <(printf '%s\n' "${missing[@]}" | sort -u)
  echo "system-deps: installing ${pkgs[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
  # the packaged services must not hold our test ports
  for svc in nginx unbound ssh crowdsec-firewall-bouncer crowdsec-custom-bouncer postgresql; do $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true; done
  pkill -x nginx >/dev/null 2>&1 || true
  pkill -x unbound >/dev/null 2>&1 || true
  # a packaged sshd on port 22 must not stay (the ssh benchmark runs its own on loopback)
  if [ -f /run/sshd.pid ]; then $SUDO kill "$(cat /run/sshd.pid)" >/dev/null 2>&1 || true; fi
fi

still=()
for cmd in "${!NEED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || compgen -G "/usr/lib/postgresql/*/bin/$cmd" >/dev/null || [ -f "/usr/include/$cmd" ] || still+=("$cmd")
done
if [ ${#still[@]} -gt 0 ]; then
  echo "system-deps: still missing: ${still[*]}" >&2
  [ "${CI:-}" = "true" ] && exit 1
fi
exit 0
