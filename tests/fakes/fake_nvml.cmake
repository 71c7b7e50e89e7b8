# Fake NVML: libnvidia-ml.so.1 plus variants (no _v2 symbols; no nvmlDeviceGetUtilizationRates;
# no _v3 process lists; only the v1 process lists), and a fake nvidia-smi script, all in
# ${CMAKE_BINARY_DIR}/lib. Built without sanitizers so that sanitized test binaries can dlopen
# them.
foreach(variant "" "-nov2" "-nosym" "-procv2" "-procv1")
  set(tgt fake_nvml${variant})
  string(REPLACE "-" "_" tgt ${tgt})
  add_library(${tgt} SHARED ${CMAKE_CURRENT_LIST_DIR}/fake_nvml.c
              ${CMAKE_CURRENT_LIST_DIR}/fake_nvml_state.c ${CMAKE_CURRENT_LIST_DIR}/fake_nvml_health.c)
  set_target_properties(${tgt} PROPERTIES
    OUTPUT_NAME nvidia-ml${variant}
    PREFIX "lib"
    SUFFIX ".so.1"
    C_VISIBILITY_PRESET hidden
    LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/lib)
  target_compile_options(${tgt} PRIVATE -fno-sanitize=all)
  target_link_options(${tgt} PRIVATE -fno-sanitize=all)
  target_link_libraries(${tgt} PRIVATE Threads::Threads)
  mon_target_warnings(${tgt})
endforeach()
target_compile_definitions(fake_nvml_nov2 PRIVATE FAKE_NO_V2)
target_compile_definitions(fake_nvml_nosym PRIVATE FAKE_MISSING_SYMBOL)
target_compile_definitions(fake_nvml_procv2 PRIVATE FAKE_PROC_NO_V3)
target_compile_definitions(fake_nvml_procv1 PRIVATE FAKE_PROC_V1_ONLY)

# configure_file re-copies the script whenever it changes.
configure_file(${CMAKE_CURRENT_LIST_DIR}/nvidia-smi ${CMAKE_BINARY_DIR}/lib/nvidia-smi COPYONLY
  FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
  WORLD_READ WORLD_EXECUTE)
