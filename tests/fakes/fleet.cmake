# fleet: one process serving N fake agents on 127.0.0.1 for bench/aggregator (build/bin/fleet).
add_executable(fleet ${CMAKE_CURRENT_LIST_DIR}/fleet.c)
target_link_libraries(fleet PRIVATE mon_common)
set_target_properties(fleet PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
mon_target_warnings(fleet)
