# sim-fleet: the simulated GPU servers `make run` adds to the demo (build/bin/sim-fleet).
add_executable(sim-fleet ${CMAKE_CURRENT_LIST_DIR}/sim_fleet.c ${CMAKE_CURRENT_LIST_DIR}/sim_model.c)
target_link_libraries(sim-fleet PRIVATE mon_common)
set_target_properties(sim-fleet PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
mon_target_warnings(sim-fleet)
