# shellcheck shell=bash
# Sourced by scripts/portable-build: builds libmicrohttpd (HTTPS through the sysroot's GnuTLS),
# libyaml and cJSON as static libraries for one architecture from their Debian source packages
# (libyaml and cJSON in $SRC; libmicrohttpd 1.0 is the one every build links,
# scripts/lib/mhd.sh), with the sysroot's compiler setup, into $CACHE/prefix-<arch>. A change to
# this file, to mhd.sh or to the compat header rebuilds them. Needs CACHE, SRC, JOBS, COMPAT_H,
# log, now, triplet and cc_for from the caller, scripts/lib/debian-apt.sh sourced.
# shellcheck source=scripts/lib/mhd.sh
. "$(dirname "${BASH_SOURCE[0]}")/mhd.sh"
PORTABLE_LIBS=(libmicrohttpd libyaml cjson)
LIBS_KEY=$(cat "${BASH_SOURCE[0]}" "$(dirname "${BASH_SOURCE[0]}")/mhd.sh" "$COMPAT_H" |
  sha256sum | cut -c1-16)

# The compiler with only the sysroot's headers and libraries, as cmake/portable-toolchain.cmake
# sets it up: -nostdinc drops the directories the compiler adds on its own (the cross
# compiler's include newer glibc headers), -B/-L put the sysroot's crt*.o and libc.so first.
sysroot_cc() { # arch
  local arch=$1 s="$CACHE/sysroot-$1" t
  t=$(triplet "$arch")
  echo "$(cc_for "$arch") --sysroot=$s -nostdinc -isystem $("$(cc_for "$arch")" -print-file-name=include)" \
    "-isystem $s/usr/include/$t -isystem $s/usr/include -B$s/usr/lib/$t/ -L$s/lib/$t -L$s/usr/lib/$t" \
    "-Wl,-rpath-link,$s/lib/$t:$s/usr/lib/$t"
}
lib_cflags() { # arch
  echo "-O2 -g -fPIE -ffunction-sections -fdata-sections -include $COMPAT_H"
}

build_libmicrohttpd() { # arch prefix
  local arch=$1 prefix=$2 s sysroot="$CACHE/sysroot-$1"
  s=$(mhd_source_dir)
  local b="$CACHE/build-$arch/libmicrohttpd"
  rm -rf "$b" && mkdir -p "$b"
  [ -x "$s/configure" ] || (cd "$s" && autoreconf -fi)
  # HTTPS through the sysroot's GnuTLS (pkg-config there); features the daemons never use are
  # left out (mhd.sh), which keeps the binary and its resident pages small.
  (cd "$b" && PKG_CONFIG_LIBDIR="$sysroot/usr/lib/$(triplet "$arch")/pkgconfig:$sysroot/usr/share/pkgconfig" \
    PKG_CONFIG_SYSROOT_DIR="$sysroot" \
    "$s/configure" --host="$(triplet "$arch")" --build="$(gcc -dumpmachine)" --prefix="$prefix" \
    "${MHD_CONFIGURE_OPTS[@]}" \
    CC="$(sysroot_cc "$arch")" CFLAGS="$(lib_cflags "$arch")" &&
    grep -q '^#define HTTPS_SUPPORT 1' MHD_config.h &&
    make -j"$JOBS" -C src/microhttpd && make -C src/microhttpd install &&
    make -C src/include install && make install-pkgconfigDATA)
}

build_libyaml() { # arch prefix
  local arch=$1 prefix=$2 s sysroot="$CACHE/sysroot-$1"
  s=$(debian_source_dir "$SRC" libyaml)
  local b="$CACHE/build-$arch/libyaml"
  rm -rf "$b" && mkdir -p "$b"
  [ -x "$s/configure" ] || (cd "$s" && autoreconf -fi)
  (cd "$b" && "$s/configure" --host="$(triplet "$arch")" --build="$(gcc -dumpmachine)" \
    --prefix="$prefix" --disable-shared --enable-static \
    CC="$(sysroot_cc "$arch")" CFLAGS="$(lib_cflags "$arch")" &&
    make -j"$JOBS" -C src && make -C src install && make -C include install &&
    make install-pkgconfigDATA)
}

build_cjson() { # arch prefix
  local arch=$1 prefix=$2 s sysroot="$CACHE/sysroot-$1"
  s=$(debian_source_dir "$SRC" cjson)
  local b="$CACHE/build-$arch/cjson"
  rm -rf "$b" && mkdir -p "$b"
  # cJSON is one file: compiled directly, as its own build would, with the same flags.
  # shellcheck disable=SC2046 # word splitting of the flag lists is meant
  $(sysroot_cc "$arch") $(lib_cflags "$arch") -std=c89 -c "$s/cJSON.c" \
    -o "$b/cJSON.o"
  mkdir -p "$prefix/lib/pkgconfig" "$prefix/include/cjson"
  rm -f "$prefix/lib/libcjson.a"
  "$(triplet "$arch")-ar" rcs "$prefix/lib/libcjson.a" "$b/cJSON.o"
  cp "$s/cJSON.h" "$prefix/include/cjson/"
  local ver
  ver=$(sed -n 's/^#define CJSON_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)/\2/p' "$s/cJSON.h" |
    paste -sd.)
  cat > "$prefix/lib/pkgconfig/libcjson.pc" << PC
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: libcjson
Description: Ultralightweight JSON parser in ANSI C (static, portable agent)
Version: $ver
Libs: -L\${libdir} -lcjson
Cflags: -I\${includedir} -I\${includedir}/cjson
PC
}

build_libs() { # arch
  local arch=$1 prefix="$CACHE/prefix-$1" lib t
  if [ "$(cat "$prefix/.key" 2> /dev/null)" != "$LIBS_KEY" ]; then
    rm -rf "$prefix"
  fi
  mkdir -p "$prefix"
  for lib in "${PORTABLE_LIBS[@]}"; do
    [ -f "$prefix/.built-$lib" ] && continue
    log "building $lib (static, $arch; log $CACHE/build-$arch-$lib.log)"
    t=$(now)
    if ! "build_$lib" "$arch" "$prefix" > "$CACHE/build-$arch-$lib.log" 2>&1; then
      tail -40 "$CACHE/build-$arch-$lib.log" >&2
      log "building $lib for $arch failed"
      return 1
    fi
    touch "$prefix/.built-$lib"
    log "$lib ($arch) built in $(($(now) - t)) s"
  done
  echo "$LIBS_KEY" > "$prefix/.key"
}

