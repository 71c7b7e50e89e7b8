# libmicrohttpd for the native builds (build/, build/asan, build/valgrind, build/fuzz): the static
# 1.0 that scripts/mhd-build makes from Debian 13's source into the cache outside the tree, as
# PkgConfig::MHD. Debian 12's 0.9.75 parses the requests the front door does not see itself and
# lets a NUL cut a token header or a bad Content-Length garble its answer
# (tests/integration/test_security_mhd.py). MON_MHD_PREFIX: another prefix holding that static
# build; MON_SYSTEM_MHD=ON: the system's libmicrohttpd through pkg-config, 1.0 or newer (Debian 13).
option(MON_SYSTEM_MHD "Link the system's libmicrohttpd (pkg-config, >= 1.0) instead of the cached static build" OFF)
set(MON_MHD_PREFIX "" CACHE PATH "Prefix of the static libmicrohttpd (empty: the one scripts/mhd-build makes)")

if(MON_SYSTEM_MHD)
  pkg_check_modules(MHD REQUIRED IMPORTED_TARGET libmicrohttpd>=1.0.0)
  return()
endif()

set(_mhd_recipe ${CMAKE_SOURCE_DIR}/scripts/lib/mhd.sh)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${_mhd_recipe})
if(MON_MHD_PREFIX)
  set(_mhd_prefix ${MON_MHD_PREFIX})
else()
  # The same path scripts/lib/mhd.sh computes: <cache>/<version>-<first 16 hex of its sha256>.
  file(STRINGS ${_mhd_recipe} _mhd_version_line REGEX "^MHD_VERSION=")
  string(REGEX REPLACE "^MHD_VERSION=([^ ]+).*" "\\1" _mhd_version "${_mhd_version_line}")
  file(SHA256 ${_mhd_recipe} _mhd_key)
  string(SUBSTRING ${_mhd_key} 0 16 _mhd_key)
  if(DEFINED ENV{LANMON_MHD_CACHE} AND NOT "$ENV{LANMON_MHD_CACHE}" STREQUAL "")
    set(_mhd_cache $ENV{LANMON_MHD_CACHE})
  elseif(DEFINED ENV{XDG_CACHE_HOME} AND NOT "$ENV{XDG_CACHE_HOME}" STREQUAL "")
    set(_mhd_cache $ENV{XDG_CACHE_HOME}/lanmon-mhd)
  else()
    set(_mhd_cache $ENV{HOME}/.cache/lanmon-mhd)
  endif()
  set(_mhd_prefix ${_mhd_cache}/${_mhd_version}-${_mhd_key})
  if(NOT EXISTS ${_mhd_prefix}/.complete)
    message(FATAL_ERROR
      "libmicrohttpd ${_mhd_version} is not built yet (expected in ${_mhd_prefix}).\n"
      "Run `make deps` (or scripts/mhd-build) once: it builds it from Debian's source package "
      "into that cache. Or pass -DMON_MHD_PREFIX=<prefix> or -DMON_SYSTEM_MHD=ON (a system "
      "libmicrohttpd >= 1.0).")
  endif()
endif()
if(NOT EXISTS ${_mhd_prefix}/lib/libmicrohttpd.a OR NOT EXISTS ${_mhd_prefix}/include/microhttpd.h)
  message(FATAL_ERROR "no static libmicrohttpd in ${_mhd_prefix} (lib/libmicrohttpd.a, "
                      "include/microhttpd.h): run scripts/mhd-build")
endif()
# HTTPS through the system's GnuTLS (found before this file is included).
add_library(PkgConfig::MHD INTERFACE IMPORTED)
set_target_properties(PkgConfig::MHD PROPERTIES
  INTERFACE_INCLUDE_DIRECTORIES ${_mhd_prefix}/include
  INTERFACE_LINK_LIBRARIES "${_mhd_prefix}/lib/libmicrohttpd.a;PkgConfig::GNUTLS;Threads::Threads")
message(STATUS "libmicrohttpd: static, ${_mhd_prefix}")
