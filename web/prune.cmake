# Removes from the web root (OUT) the files web/src/ no longer has: everything outside vendor/
# that is not listed in MANIFEST (the web/src/ files, relative paths, ';'-separated). Run at
# every build by the web_assets target:
#   cmake -DMANIFEST=<build>/web-cmake/web-files.txt -DOUT=<build>/web -P prune.cmake
file(READ "${MANIFEST}" keep)
file(GLOB_RECURSE present RELATIVE "${OUT}" "${OUT}/*")
foreach(f ${present})
  if(f MATCHES "^vendor/")
    continue()
  endif()
  list(FIND keep "${f}" i)
  if(i EQUAL -1)
    message(STATUS "web: removing ${f} (no longer in web/src)")
    file(REMOVE "${OUT}/${f}")
  endif()
endforeach()
