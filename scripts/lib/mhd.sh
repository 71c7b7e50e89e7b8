# shellcheck shell=bash
# Sourced by scripts/mhd-build and scripts/lib/portable-libs.sh: the libmicrohttpd every build
# links. Debian 12's 0.9.75 cuts a header value at a NUL byte and answers a malformed
# Content-Length with its status line twice on the requests the front door does not parse itself
# (the second and later ones of a kept-alive connection, every one over TLS); 1.0 refuses both
# cleanly (tests/integration/test_security_mhd.py). The source is Debian 13 (trixie)'s package,
# fetched with `apt-get source` through a scratch apt configuration (scripts/lib/debian-apt.sh),
# into $MHD_CACHE/src; the native static build (HTTPS through the system's GnuTLS) goes to
# $MHD_CACHE/<version>-<key>, where key is a hash of this file: cmake/mhd.cmake computes the same
# path. Needs: set -euo pipefail in the caller, scripts/lib/debian-apt.sh sourced.
MHD_VERSION=1.0.1 # upstream version; the Debian suite below must carry it
MHD_SUITE=trixie
MHD_CACHE=${LANMON_MHD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lanmon-mhd}
MHD_KEY=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)
MHD_PREFIX="$MHD_CACHE/$MHD_VERSION-$MHD_KEY"

# The configure options every build shares: HTTPS through GnuTLS, no features the daemons never
# use (authentication helpers, the POST parser, protocol upgrades, tools and docs).
MHD_CONFIGURE_OPTS=(--disable-shared --enable-static --enable-https --with-gnutls --disable-doc
  --disable-examples --disable-tools --disable-curl --disable-dauth --disable-bauth
  --disable-postprocessor --disable-httpupgrade)

# Fetches and extracts the source package once; prints its source tree.
mhd_source_dir() {
  local src="$MHD_CACHE/src" d
  DEBIAN_SRC_SUITE=$MHD_SUITE debian_fetch_sources "$MHD_CACHE/apt" "$src" libmicrohttpd >&2
  d=$(debian_source_dir "$src" libmicrohttpd)
  case "$(basename "$d")" in
  "libmicrohttpd-$MHD_VERSION") echo "$d" ;;
  *)
    echo "mhd: $MHD_SUITE's libmicrohttpd is $(basename "$d"), not $MHD_VERSION: update" \
      "MHD_VERSION in scripts/lib/mhd.sh (and check the security tests)" >&2
    return 1
    ;;
  esac
}

# The native static library in $MHD_PREFIX, built when missing. Progress on stderr.
mhd_build_native() {
  [ -f "$MHD_PREFIX/.complete" ] && return 0
  local s b="$MHD_CACHE/build-$MHD_KEY" log="$MHD_CACHE/build-$MHD_KEY.log"
  mkdir -p "$MHD_CACHE"
  s=$(mhd_source_dir)
  echo "mhd: building libmicrohttpd $MHD_VERSION (static, HTTPS) into $MHD_PREFIX (log $log)" >&2
  rm -rf "$b" "$MHD_PREFIX"
  mkdir -p "$b"
  if ! (cd "$b" && "$s/configure" --prefix="$MHD_PREFIX" "${MHD_CONFIGURE_OPTS[@]}" \
    CFLAGS="-O2 -g -fPIC" &&
    grep -q '^#define HTTPS_SUPPORT 1' MHD_config.h &&
    make -j"${JOBS:-2}" -C src/microhttpd && make -C src/microhttpd install &&
    make -C src/include install && make install-pkgconfigDATA) > "$log" 2>&1; then
    tail -40 "$log" >&2
    echo "mhd: building libmicrohttpd failed (log $log)" >&2
    return 1
  fi
  rm -rf "$b"
  touch "$MHD_PREFIX/.complete"
}
