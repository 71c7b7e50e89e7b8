# Packages of the agent. Every build tree makes the Debian package (`cpack -G DEB`):
# monitor-agent in /usr/bin, its unit in /lib/systemd/system, the default config as a conffile,
# maintainer scripts from deploy/agent/. The portable trees (scripts/portable-build, `make
# package`) also make the .rpm (unit in /usr/lib/systemd/system, %config(noreplace) config,
# scriptlets from deploy/agent/rpm/) and the .tar.gz (binary, unit, example config, install.sh),
# and declare their dependencies by hand: glibc >= 2.28 and GnuTLS (checked by
# scripts/check-portable-abi), adduser/useradd for the scripts. Each package is one install
# component (agent, agent-rpm, agent-tgz); cmake/cpack-project.cmake.in picks it per generator.
if(NOT TARGET monitor-agent OR NOT CMAKE_SYSTEM_NAME STREQUAL "Linux")
  return()
endif()

set(MON_DEPLOY_AGENT ${CMAKE_SOURCE_DIR}/deploy/agent)
set(MON_DEB_RELEASE 1)
set(MON_DEB_VERSION ${PROJECT_VERSION}-${MON_DEB_RELEASE})
set(MON_PKG_GEN ${CMAKE_BINARY_DIR}/pkg-gen)
file(MAKE_DIRECTORY ${MON_PKG_GEN})

# The .deb postinst and the .rpm %post share deploy/agent/setup-common.sh (pasted in).
file(READ ${MON_DEPLOY_AGENT}/setup-common.sh MON_AGENT_SETUP_COMMON)
configure_file(${MON_DEPLOY_AGENT}/postinst.in ${MON_PKG_GEN}/postinst @ONLY
               FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
               WORLD_READ WORLD_EXECUTE)
configure_file(${MON_DEPLOY_AGENT}/rpm/post.in ${MON_PKG_GEN}/rpm-post @ONLY)

# --- .deb (component agent) ---
install(TARGETS monitor-agent RUNTIME DESTINATION bin COMPONENT agent)
install(FILES ${MON_DEPLOY_AGENT}/monitor-agent.service DESTINATION /lib/systemd/system
        COMPONENT agent)
install(FILES ${MON_DEPLOY_AGENT}/config.yaml DESTINATION /etc/monitor-agent COMPONENT agent)

# The copyright file: ours and libmicrohttpd's (linked in by every build); the portable builds
# also link cJSON and LibYAML in (deploy/agent/copyright-embedded).
if(MON_PORTABLE)
  file(READ ${MON_DEPLOY_AGENT}/copyright mon_copyright_own)
  file(READ ${MON_DEPLOY_AGENT}/copyright-embedded mon_copyright_embedded)
  file(WRITE ${MON_PKG_GEN}/copyright "${mon_copyright_own}${mon_copyright_embedded}")
  set(MON_AGENT_COPYRIGHT ${MON_PKG_GEN}/copyright)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${MON_DEPLOY_AGENT}/copyright
                                                                 ${MON_DEPLOY_AGENT}/copyright-embedded)
else()
  set(MON_AGENT_COPYRIGHT ${MON_DEPLOY_AGENT}/copyright)
endif()

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
install(FILES ${MON_AGENT_COPYRIGHT} DESTINATION share/doc/monitor-agent COMPONENT agent)
install(FILES ${MON_DEPLOY_AGENT}/lintian-overrides DESTINATION share/lintian/overrides
        RENAME monitor-agent COMPONENT agent)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64)$")
  set(MON_DEB_ARCH arm64)
  set(MON_RPM_ARCH aarch64)
else()
  set(MON_DEB_ARCH amd64)
  set(MON_RPM_ARCH x86_64)
endif()
set(MON_TGZ_NAME monitor-agent-${PROJECT_VERSION}-linux-${MON_RPM_ARCH})

set(CPACK_PACKAGE_NAME monitor-agent)
set(CPACK_PACKAGE_VENDOR "lanmon")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "lanmon team <lanmon@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "LAN server monitor agent (CPU, memory, disks, GPUs, units)")
set(MON_PKG_DESCRIPTION
    "monitor-agent samples /proc, the configured mounts and the NVIDIA GPUs\n\
(NVML, falling back to nvidia-smi) once a second and serves the result over\n\
HTTP with a bearer token, together with the state of the systemd units it is\n\
allowed to report. The lanmon aggregator polls it.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
# One package per generator, made from that generator's component (cpack-project.cmake).
set(CPACK_INSTALL_CMAKE_PROJECTS "${CMAKE_BINARY_DIR};${PROJECT_NAME};agent;/")
configure_file(${CMAKE_SOURCE_DIR}/cmake/cpack-project.cmake.in
               ${CMAKE_BINARY_DIR}/cpack-project.cmake @ONLY)
set(CPACK_PROJECT_CONFIG_FILE ${CMAKE_BINARY_DIR}/cpack-project.cmake)

set(CPACK_DEBIAN_PACKAGE_NAME monitor-agent)
set(CPACK_DEBIAN_PACKAGE_RELEASE ${MON_DEB_RELEASE})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "lanmon team <lanmon@localhost>")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "${MON_PKG_DESCRIPTION}")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${MON_DEPLOY_AGENT}/conffiles ${MON_PKG_GEN}/postinst ${MON_DEPLOY_AGENT}/prerm
    ${MON_DEPLOY_AGENT}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

if(NOT MON_PORTABLE)
  # A local build: dpkg-shlibdeps derives the libraries this machine's build links.
  set(CPACK_GENERATOR DEB)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
  include(CPack)
  return()
endif()

# --- The portable packages --------------------------------------------------------------------
# The binary needs glibc >= 2.28 and libgnutls.so.30 with GNUTLS_3_6_3 symbols (the newest
# versions scripts/check-portable-abi allows are 2.28 and 3.6.13); on trixie and Ubuntu 24.04
# libgnutls30t64 provides libgnutls30.
set(CPACK_GENERATOR "DEB;RPM;TGZ")
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE ${MON_DEB_ARCH})
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS OFF)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libc6 (>= 2.28), libgnutls30 (>= 3.6.3), adduser")

# --- .rpm (component agent-rpm): same files, the unit where Red Hat systems keep units ---
install(TARGETS monitor-agent RUNTIME DESTINATION bin COMPONENT agent-rpm)
# Relative destinations: CPack marks files installed to an absolute one as %config.
install(FILES ${MON_DEPLOY_AGENT}/monitor-agent.service DESTINATION lib/systemd/system
        COMPONENT agent-rpm)
install(FILES ${MON_DEPLOY_AGENT}/config.yaml DESTINATION /etc/monitor-agent COMPONENT agent-rpm)
install(FILES ${MON_AGENT_COPYRIGHT} DESTINATION share/doc/monitor-agent
        COMPONENT agent-rpm)

set(CPACK_RPM_PACKAGE_NAME monitor-agent)
set(CPACK_RPM_PACKAGE_RELEASE ${MON_DEB_RELEASE})
set(CPACK_RPM_FILE_NAME RPM-DEFAULT)
set(CPACK_RPM_PACKAGE_ARCHITECTURE ${MON_RPM_ARCH})
set(CPACK_RPM_PACKAGE_LICENSE "MIT and LGPL-2.1-or-later")
set(CPACK_RPM_PACKAGE_RELOCATABLE OFF)
set(CPACK_RPM_PACKAGE_GROUP "System Environment/Daemons")
set(CPACK_RPM_PACKAGE_DESCRIPTION "${MON_PKG_DESCRIPTION}")
configure_file(${MON_DEPLOY_AGENT}/rpm/changelog.in ${MON_PKG_GEN}/rpm-changelog @ONLY)
set(CPACK_RPM_CHANGELOG_FILE ${MON_PKG_GEN}/rpm-changelog)
# rpm's own dependency generator adds the exact library and symbol versions the binary needs
# (libc.so.6(GLIBC_2.17)(64bit), libgnutls.so.30(GNUTLS_3_6_3)(64bit), ...); these are the
# packages the scriptlets use.
set(CPACK_RPM_PACKAGE_AUTOREQ ON)
set(CPACK_RPM_PACKAGE_AUTOPROV OFF)
set(CPACK_RPM_PACKAGE_REQUIRES "glibc >= 2.28, gnutls >= 3.6.3")
set(CPACK_RPM_PACKAGE_REQUIRES_POST "shadow-utils, coreutils, sed, grep, gawk")
set(CPACK_RPM_POST_INSTALL_SCRIPT_FILE ${MON_PKG_GEN}/rpm-post)
set(CPACK_RPM_PRE_UNINSTALL_SCRIPT_FILE ${MON_DEPLOY_AGENT}/rpm/preun)
set(CPACK_RPM_POST_UNINSTALL_SCRIPT_FILE ${MON_DEPLOY_AGENT}/rpm/postun)
set(CPACK_RPM_USER_FILELIST "%config(noreplace) /etc/monitor-agent/config.yaml"
    "%dir /etc/monitor-agent")
# Directories the distribution's own packages own.
set(CPACK_RPM_EXCLUDE_FROM_AUTO_FILELIST_ADDITION
    /usr/lib/systemd /usr/lib/systemd/system /usr/share/doc)
# The binary is stripped already (CPACK_STRIP_FILES); no debuginfo package, and no host
# post-processing (strip, build-id links) of a possibly foreign-architecture binary.
set(CPACK_RPM_SPEC_MORE_DEFINE "%define __os_install_post %{nil}
%define debug_package %{nil}
%define _build_id_links none")

# --- .tar.gz (component agent-tgz): everything install.sh needs, in one directory ---
install(TARGETS monitor-agent RUNTIME DESTINATION . COMPONENT agent-tgz)
install(FILES ${MON_DEPLOY_AGENT}/monitor-agent.service ${MON_DEPLOY_AGENT}/config.yaml
              ${MON_AGENT_COPYRIGHT}
        DESTINATION . COMPONENT agent-tgz)
install(PROGRAMS ${MON_DEPLOY_AGENT}/install.sh DESTINATION . COMPONENT agent-tgz)

include(CPack)
