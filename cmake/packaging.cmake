# Debian package of the agent (`make package` / `cpack -G DEB` in a build dir): monitor-agent
# in /usr/bin, its unit in /lib/systemd/system, the default config as a conffile, maintainer
# scripts from deploy/agent/. Only the `agent` install component goes into the .deb.
if(NOT TARGET monitor-agent OR NOT CMAKE_SYSTEM_NAME STREQUAL "Linux")
  return()
endif()

set(MON_DEPLOY_AGENT ${CMAKE_SOURCE_DIR}/deploy/agent)
set(MON_DEB_RELEASE 1)
set(MON_DEB_VERSION ${PROJECT_VERSION}-${MON_DEB_RELEASE})

install(TARGETS monitor-agent RUNTIME DESTINATION bin COMPONENT agent)
install(FILES ${MON_DEPLOY_AGENT}/monitor-agent.service DESTINATION /lib/systemd/system
        COMPONENT agent)
install(FILES ${MON_DEPLOY_AGENT}/config.yaml DESTINATION /etc/monitor-agent COMPONENT agent)

# /usr/share/doc/monitor-agent: copyright and a max-compressed, timestamp-free changelog.
set(MON_DEB_DOC ${CMAKE_BINARY_DIR}/deb-doc)
file(MAKE_DIRECTORY ${MON_DEB_DOC})
configure_file(${MON_DEPLOY_AGENT}/changelog.in ${MON_DEB_DOC}/changelog.Debian @ONLY)
find_program(MON_GZIP gzip)
if(MON_GZIP)
  execute_process(COMMAND ${MON_GZIP} -9nc ${MON_DEB_DOC}/changelog.Debian
                  OUTPUT_FILE ${MON_DEB_DOC}/changelog.Debian.gz RESULT_VARIABLE mon_gzip_rc)
  if(mon_gzip_rc EQUAL 0)
    install(FILES ${MON_DEB_DOC}/changelog.Debian.gz DESTINATION share/doc/monitor-agent
            COMPONENT agent)
  endif()
endif()
install(FILES ${MON_DEPLOY_AGENT}/copyright DESTINATION share/doc/monitor-agent COMPONENT agent)
install(FILES ${MON_DEPLOY_AGENT}/lintian-overrides DESTINATION share/lintian/overrides
        RENAME monitor-agent COMPONENT agent)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME monitor-agent)
set(CPACK_PACKAGE_VENDOR "lanmon")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "lanmon team <lanmon@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "LAN server monitor agent (CPU, memory, disks, GPUs, units)")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
# Package only the agent component, as one non-component .deb.
set(CPACK_INSTALL_CMAKE_PROJECTS "${CMAKE_BINARY_DIR};${PROJECT_NAME};agent;/")

set(CPACK_DEBIAN_PACKAGE_NAME monitor-agent)
set(CPACK_DEBIAN_PACKAGE_RELEASE ${MON_DEB_RELEASE})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "lanmon team <lanmon@localhost>")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "monitor-agent samples /proc, the configured mounts and the NVIDIA GPUs\n\
(NVML, falling back to nvidia-smi) once a second and serves the result over\n\
HTTP with a bearer token, together with the state of the systemd units it is\n\
allowed to report. The lanmon aggregator polls it.")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${MON_DEPLOY_AGENT}/conffiles ${MON_DEPLOY_AGENT}/postinst ${MON_DEPLOY_AGENT}/prerm
    ${MON_DEPLOY_AGENT}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
