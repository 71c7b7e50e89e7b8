# Cross-compiling for 64-bit Windows with Debian's mingw-w64 -posix compiler (winpthreads; the
# win32-thread variant lacks clock_gettime). Executables are linked fully static, so the .exe
# needs no mingw DLLs. MON_MINGW_PREFIX (optional) is where scripts/windows-build installs the
# static libraries; pkg-config is pointed there and asked for --static link flags.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(MON_MINGW_TRIPLE x86_64-w64-mingw32)

set(CMAKE_C_COMPILER ${MON_MINGW_TRIPLE}-gcc-posix)
set(CMAKE_CXX_COMPILER ${MON_MINGW_TRIPLE}-g++-posix)
set(CMAKE_RC_COMPILER ${MON_MINGW_TRIPLE}-windres)
set(CMAKE_AR ${MON_MINGW_TRIPLE}-ar CACHE FILEPATH "mingw ar")
set(CMAKE_RANLIB ${MON_MINGW_TRIPLE}-ranlib CACHE FILEPATH "mingw ranlib")

if(NOT MON_MINGW_PREFIX AND DEFINED ENV{MON_MINGW_PREFIX})
  set(MON_MINGW_PREFIX $ENV{MON_MINGW_PREFIX})
endif()
set(CMAKE_FIND_ROOT_PATH /usr/${MON_MINGW_TRIPLE} ${MON_MINGW_PREFIX})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

if(MON_MINGW_PREFIX)
  set(ENV{PKG_CONFIG_LIBDIR} ${MON_MINGW_PREFIX}/lib/pkgconfig)
  set(ENV{PKG_CONFIG_PATH} "")
endif()
# Static libraries: their private dependencies (ws2_32, crypt32, ...) must be linked too.
set(PKG_CONFIG_ARGN --static)

set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")

if(NOT CMAKE_CROSSCOMPILING_EMULATOR)
  find_program(MON_WINE NAMES wine wine64)
  if(MON_WINE)
    set(CMAKE_CROSSCOMPILING_EMULATOR ${MON_WINE})
  endif()
endif()

# GCC checks format(printf) attributes against the Microsoft runtime on mingw (no %zu) while
# the code prints through mingw's C99 stdio (__USE_MINGW_ANSI_STDIO, on under _POSIX_C_SOURCE):
# formats are checked by the Linux builds; here -Wno-format goes last so it overrides -Wformat=2.
set(CMAKE_C_COMPILE_OBJECT
    "<CMAKE_C_COMPILER> <DEFINES> <INCLUDES> <FLAGS> -Wno-format -o <OBJECT> -c <SOURCE>")

# Winsock (sockets, inet_pton) and psapi (process memory) for the portability layer.
set(CMAKE_C_STANDARD_LIBRARIES
    "-lws2_32 -lpsapi -lkernel32 -luser32 -lshell32 -lole32 -loleaut32 -luuid -ladvapi32"
    CACHE STRING "Libraries linked into every executable")
