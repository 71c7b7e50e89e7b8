#!/usr/bin/env bash
# Installs what building and testing need on Debian 12, only what is missing (idempotent).
# Debian packages with apt-get, web assets with npm ci. Run as root (or with sudo available).
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential cmake ninja-build pkg-config git
      libmicrohttpd-dev libcurl4-openssl-dev libcjson-dev libyaml-dev libsqlite3-dev sqlite3
      libsystemd-dev libcmocka-dev
      python3-dbusmock dbus prometheus clang-format curl procps
      valgrind cppcheck clang-tidy
      wrk nginx-light prometheus-node-exporter
      chromium fonts-wqy-microhei nodejs npm
      dpkg-dev lintian systemd passwd adduser gzip
      clang-14 libfuzzer-14-dev libclang-rt-14-dev)

missing=()
for p in "${PKGS[@]}"; do
  # nodejs/npm are often preinstalled outside dpkg (e.g. /usr/local): accept any working binary.
  case "$p" in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "deps: all Debian packages present"
fi

if [ -f web/package-lock.json ]; then
  if [ ! -d web/node_modules ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
    echo "deps: npm ci (web)"
    (cd web && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
