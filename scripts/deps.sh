#!/usr/bin/env bash
# Installs what building and testing need on Debian 12, only what is missing (idempotent).
# Debian packages with apt-get, web assets with npm ci, and the static libmicrohttpd 1.0 every
# native build links (scripts/mhd-build: Debian 13's source, built once into a cache outside the
# tree). Run as root (or with sudo available).
#   scripts/deps.sh [--quiet] [run|test]
# run: what `make run` needs (build the daemons, the dashboard and the demo's simulated
# servers); test (default): everything `make test` uses as well. --quiet prints nothing when
# nothing is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/debian-apt.sh
QUIET=no
PROFILE=test
for a in "$@"; do
  case "$a" in
  --quiet) QUIET=yes ;;
  run | test) PROFILE=$a ;;
  *) echo "usage: $0 [--quiet] [run|test]" >&2; exit 2 ;;
  esac
done

RUN_PKGS=(build-essential cmake ninja-build pkg-config
          libgnutls28-dev libcurl4-openssl-dev libcjson-dev libyaml-dev libsqlite3-dev
          libcmocka-dev libpq-dev curl python3 nodejs npm)
TEST_PKGS=(git sqlite3 python3-dbusmock dbus prometheus clang-format procps
           postgresql-15 python3-psycopg2
           valgrind cppcheck clang-tidy
           wrk nginx-light prometheus-node-exporter
           chromium fonts-wqy-microhei
           dpkg-dev lintian systemd passwd adduser gzip
           clang-14 libfuzzer-14-dev libclang-rt-14-dev
           debootstrap qemu-user-static rpm gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu
           file autoconf automake libtool)
PKGS=("${RUN_PKGS[@]}")
[ "$PROFILE" = run ] || PKGS+=("${TEST_PKGS[@]}")

debian_install_missing deps "${PKGS[@]}"
if [ "$DEBIAN_INSTALLED" -eq 0 ] && [ "$QUIET" = no ]; then
  echo "deps: all Debian packages present"
fi

if [ -f web/package-lock.json ]; then
  if [ ! -d web/node_modules ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
    echo "deps: npm ci (web)"
    (cd web && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi

# libmicrohttpd 1.0 (Debian 12 has 0.9.75): built once per recipe, a no-op afterwards.
scripts/mhd-build > /dev/null
