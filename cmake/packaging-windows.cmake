# Windows package of the aggregator (`make package-windows` / `cpack -G ZIP` in the mingw build
# dir): lanmon-aggregator-<version>-win64.zip with monitor-aggregator.exe (static: no DLLs),
# the dashboard in web/, the example config, install-service.ps1, nssm/service.json and
# README-windows.txt in one top-level folder, and licenses/ with the copyright and license texts of
# the libraries linked into the .exe (gathered by scripts/windows-build from their sources).
if(NOT WIN32 OR NOT TARGET monitor-aggregator)
  return()
endif()

set(MON_DEPLOY_WINDOWS ${CMAKE_SOURCE_DIR}/deploy/windows)
install(TARGETS monitor-aggregator RUNTIME DESTINATION . COMPONENT aggregator)
install(DIRECTORY ${CMAKE_BINARY_DIR}/web/ DESTINATION web COMPONENT aggregator)
install(FILES ${MON_DEPLOY_WINDOWS}/config.example.yaml ${MON_DEPLOY_WINDOWS}/install-service.ps1
              ${MON_DEPLOY_WINDOWS}/README-windows.txt
        DESTINATION . COMPONENT aggregator)
install(FILES ${MON_DEPLOY_WINDOWS}/nssm/service.json DESTINATION nssm COMPONENT aggregator)
if(EXISTS ${CMAKE_BINARY_DIR}/licenses)
  install(DIRECTORY ${CMAKE_BINARY_DIR}/licenses/ DESTINATION licenses COMPONENT aggregator)
endif()

set(CPACK_GENERATOR ZIP)
set(CPACK_PACKAGE_NAME lanmon-aggregator)
set(CPACK_PACKAGE_VENDOR "lanmon")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_FILE_NAME lanmon-aggregator-${PROJECT_VERSION}-win64)
set(CPACK_INCLUDE_TOPLEVEL_DIRECTORY ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_INSTALL_CMAKE_PROJECTS "${CMAKE_BINARY_DIR};${PROJECT_NAME};aggregator;/")
include(CPack)
