# Toolchain of the portable monitor-agent (scripts/portable-build): the host's gcc (x86_64) or
# Debian's aarch64-linux-gnu-gcc, both compiling and linking against a Debian 11 sysroot
# (glibc 2.31) so that the binary binds glibc symbols no newer than 2.28 once
# cmake/portable/glibc-compat.h (forced into every compile) pins the few 2.29+ ones.
# Set by the script: MON_PORTABLE_ARCH (x86_64|aarch64), MON_PORTABLE_SYSROOT (the extracted
# Debian 11 packages) and MON_PORTABLE_PREFIX (static libmicrohttpd, libyaml, cJSON).
set(CMAKE_SYSTEM_NAME Linux)
# try_compile projects (compiler checks) see these too.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES MON_PORTABLE_ARCH MON_PORTABLE_SYSROOT
     MON_PORTABLE_PREFIX)
set(CMAKE_SYSTEM_PROCESSOR ${MON_PORTABLE_ARCH})
set(MON_PORTABLE ON CACHE BOOL "Portable agent build (glibc >= 2.28, static libraries)")
set(MON_PORTABLE_TRIPLET ${MON_PORTABLE_ARCH}-linux-gnu)

if(MON_PORTABLE_ARCH STREQUAL "x86_64")
  set(CMAKE_C_COMPILER gcc)
elseif(MON_PORTABLE_ARCH STREQUAL "aarch64")
  set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
  set(CMAKE_AR aarch64-linux-gnu-ar CACHE FILEPATH "ar")
  set(CMAKE_RANLIB aarch64-linux-gnu-ranlib CACHE FILEPATH "ranlib")
  set(CMAKE_STRIP aarch64-linux-gnu-strip CACHE FILEPATH "strip")
  set(CMAKE_OBJDUMP aarch64-linux-gnu-objdump CACHE FILEPATH "objdump")
  find_program(MON_QEMU_AARCH64 qemu-aarch64-static)
  if(MON_QEMU_AARCH64)
    set(CMAKE_CROSSCOMPILING_EMULATOR ${MON_QEMU_AARCH64} -L ${MON_PORTABLE_SYSROOT})
  endif()
else()
  message(FATAL_ERROR "MON_PORTABLE_ARCH must be x86_64 or aarch64, not '${MON_PORTABLE_ARCH}'")
endif()

set(CMAKE_SYSROOT ${MON_PORTABLE_SYSROOT})
set(CMAKE_FIND_ROOT_PATH ${MON_PORTABLE_PREFIX})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Only the sysroot's headers and libraries: -nostdinc drops the include directories the
# compiler adds on its own (for the cross compiler, Debian's newer libc6-dev-arm64-cross), -B
# and -L put the sysroot's crt*.o and libc.so before the compiler's (this machine's) own.
execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=include
                OUTPUT_VARIABLE MON_PORTABLE_GCC_INCLUDE OUTPUT_STRIP_TRAILING_WHITESPACE)
set(CMAKE_C_FLAGS_INIT "-nostdinc -isystem ${MON_PORTABLE_GCC_INCLUDE} \
-isystem ${MON_PORTABLE_SYSROOT}/usr/include/${MON_PORTABLE_TRIPLET} \
-isystem ${MON_PORTABLE_SYSROOT}/usr/include \
-include ${CMAKE_CURRENT_LIST_DIR}/portable/glibc-compat.h")
# --as-needed: no DT_NEEDED for a library nothing uses; --gc-sections drops the unused parts of
# the static libraries; -rpath-link makes the linker follow GnuTLS's own DT_NEEDED entries
# (libc.so.6, libp11-kit...) inside the sysroot, not to this machine's newer libraries.
set(MON_PORTABLE_LIBDIRS
    "${MON_PORTABLE_SYSROOT}/lib/${MON_PORTABLE_TRIPLET}:${MON_PORTABLE_SYSROOT}/usr/lib/${MON_PORTABLE_TRIPLET}")
set(CMAKE_EXE_LINKER_FLAGS_INIT
    "-B${MON_PORTABLE_SYSROOT}/usr/lib/${MON_PORTABLE_TRIPLET}/ \
-L${MON_PORTABLE_SYSROOT}/lib/${MON_PORTABLE_TRIPLET} \
-L${MON_PORTABLE_SYSROOT}/usr/lib/${MON_PORTABLE_TRIPLET} \
-Wl,--as-needed -Wl,--gc-sections -Wl,-O1 -Wl,-rpath-link,${MON_PORTABLE_LIBDIRS}")
