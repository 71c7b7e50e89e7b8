# The portable agent's libraries (MON_PORTABLE, set by cmake/portable-toolchain.cmake):
# libmicrohttpd, cJSON and libyaml as static archives from MON_PORTABLE_PREFIX (built by
# scripts/portable-build from Debian source packages), GnuTLS as the sysroot's shared library
# (libmicrohttpd's HTTPS), libsystemd not linked at all (dlopen, src/agent/collect/sd_dl.c).
# Defined under the names the pkg-config targets have in a normal build.
foreach(lib microhttpd cjson yaml)
  find_library(MON_PORTABLE_LIB_${lib} NAMES lib${lib}.a PATHS ${MON_PORTABLE_PREFIX}/lib
               NO_DEFAULT_PATH NO_CMAKE_FIND_ROOT_PATH REQUIRED)
endforeach()
find_library(MON_PORTABLE_GNUTLS gnutls REQUIRED)

add_library(PkgConfig::MHD INTERFACE IMPORTED)
set_target_properties(PkgConfig::MHD PROPERTIES
  INTERFACE_INCLUDE_DIRECTORIES ${MON_PORTABLE_PREFIX}/include
  INTERFACE_LINK_LIBRARIES "${MON_PORTABLE_LIB_microhttpd};${MON_PORTABLE_GNUTLS};Threads::Threads")
add_library(PkgConfig::CJSON INTERFACE IMPORTED)
set_target_properties(PkgConfig::CJSON PROPERTIES
  INTERFACE_INCLUDE_DIRECTORIES "${MON_PORTABLE_PREFIX}/include;${MON_PORTABLE_PREFIX}/include/cjson"
  INTERFACE_LINK_LIBRARIES "${MON_PORTABLE_LIB_cjson};m")
add_library(PkgConfig::YAML INTERFACE IMPORTED)
set_target_properties(PkgConfig::YAML PROPERTIES
  INTERFACE_INCLUDE_DIRECTORIES ${MON_PORTABLE_PREFIX}/include
  INTERFACE_LINK_LIBRARIES ${MON_PORTABLE_LIB_yaml})
add_library(PkgConfig::GNUTLS INTERFACE IMPORTED)
set_target_properties(PkgConfig::GNUTLS PROPERTIES INTERFACE_LINK_LIBRARIES ${MON_PORTABLE_GNUTLS})
