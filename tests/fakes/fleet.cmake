# fleet: one process serving N fake agents on loopback, plain HTTP or HTTPS (GnuTLS, as the
# agent), for bench/aggregator and the poller's TLS test (build/bin/fleet).
add_executable(fleet ${CMAKE_CURRENT_LIST_DIR}/fleet.c ${CMAKE_CURRENT_LIST_DIR}/fleet_reply.c
                     ${CMAKE_CURRENT_LIST_DIR}/fleet_tls.c)
target_link_libraries(fleet PRIVATE mon_common)
set_target_properties(fleet PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
mon_target_warnings(fleet)
