# libstatvfs_hang.so: LD_PRELOAD shim whose statvfs() blocks for paths under $FAKE_STATVFS_HANG.
# Built without sanitizers so that it can be preloaded into sanitized binaries.
add_library(statvfs_hang SHARED ${CMAKE_CURRENT_LIST_DIR}/statvfs_hang.c)
set_target_properties(statvfs_hang PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/lib)
target_compile_options(statvfs_hang PRIVATE -fno-sanitize=all)
target_link_options(statvfs_hang PRIVATE -fno-sanitize=all)
target_link_libraries(statvfs_hang PRIVATE ${CMAKE_DL_LIBS})
mon_target_warnings(statvfs_hang)
