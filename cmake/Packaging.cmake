# Packages (included last by the top-level CMakeLists.txt, after every install()):
#
#   cd <build> && cpack            # or: cpack --config <build>/CPackConfig.cmake
#
# writes into <build> (or cpack -B DIR):
#   libsockkit-X.Y.Z-linux-<arch>.tar.gz   everything `cmake --install` installs, in one
#                                          top folder, relocatable: unpack it anywhere
#   libsockkitN_X.Y.Z_<arch>.deb           runtime: libsockkit.so.N and libsockkit.so.X.Y.Z
#                                          (component Runtime; N is the SONAME's number)
#   libsockkit-dev_X.Y.Z_<arch>.deb        development: headers, libsockkit.so link,
#                                          libsockkit.a, sockkit.pc, the CMake package and
#                                          the man pages when `docs` was built (component
#                                          Development); depends on libsockkitN (= X.Y.Z)
# The .deb files install under /usr. For Debian's multiarch library directory
# (/usr/lib/x86_64-linux-gnu), configure the build with -DCMAKE_INSTALL_PREFIX=/usr;
# otherwise the libraries go to /usr/lib, which works as well.
# With tests, package.deb (tests/packaging/deb.sh) builds the packages and a program
# against their extracted contents.

set(CPACK_PACKAGE_NAME "libsockkit")
set(CPACK_PACKAGE_VENDOR "libsockkit")
set(CPACK_PACKAGE_CONTACT "libsockkit maintainers <maintainers@libsockkit.invalid>")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_DESCRIPTION
"libsockkit is a small C library for TCP and UDP sockets that does the fiddly parts
of the BSD socket API right: connecting to every address a name has, transfers that
move every byte or say exactly how many moved, one timeout per call, no SIGPIPE, and
errors as negative SK_E* codes with errno kept.")
set(CPACK_RESOURCE_FILE_LICENSE "${PROJECT_SOURCE_DIR}/LICENSE")
set(CPACK_STRIP_FILES OFF)
set(CPACK_VERBATIM_VARIABLES ON)

if(NOT CPACK_GENERATOR)
  set(CPACK_GENERATOR "TGZ")
  if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
    list(APPEND CPACK_GENERATOR "DEB")
  endif()
endif()
# The .deb files are installed with DESTDIR into the staging tree and /usr as
# CMAKE_INSTALL_PREFIX, so that sockkit.pc (written at install time) names the prefix
# the files will really have. The .tar.gz unpacks anywhere: one top folder,
# libsockkit-X.Y.Z-<system>/, with include/ lib/ share/ beneath it; its sockkit.pc
# finds its prefix from its own place (prefix=${pcfiledir}/../..: SOCKKIT_PC_RELOCATABLE
# below, read by cmake/sockkitPkgConfig.cmake) and the CMake package from its own
# (PACKAGE_PREFIX_DIR), so `tar -xzf` into any folder, then PKG_CONFIG_PATH=<it>/lib/pkgconfig
# or CMAKE_PREFIX_PATH=<it>.
set(CPACK_PROJECT_CONFIG_FILE "${PROJECT_BINARY_DIR}/CPackProjectConfig.cmake")
file(WRITE "${CPACK_PROJECT_CONFIG_FILE}"
"# Written by cmake/Packaging.cmake; read by cpack once per generator.
if(CPACK_GENERATOR STREQUAL \"DEB\")
  set(CPACK_SET_DESTDIR ON)
  set(CPACK_INSTALL_PREFIX \"/usr\")
  set(CPACK_PACKAGING_INSTALL_PREFIX \"/usr\")
  unset(ENV{SOCKKIT_PC_RELOCATABLE})
else()
  set(CPACK_SET_DESTDIR OFF)
  set(CPACK_PACKAGING_INSTALL_PREFIX \"/\")
  set(CPACK_INCLUDE_TOPLEVEL_DIRECTORY ON)
  set(ENV{SOCKKIT_PC_RELOCATABLE} 1)
endif()
")

# The archive: one .tar.gz with every component.
set(CPACK_ARCHIVE_COMPONENT_INSTALL OFF)
string(TOLOWER "${CMAKE_SYSTEM_NAME}-${CMAKE_SYSTEM_PROCESSOR}" _sk_system)
set(CPACK_PACKAGE_FILE_NAME "libsockkit-${PROJECT_VERSION}-${_sk_system}")

# Debian: one package per install component.
set(CPACK_COMPONENTS_ALL Runtime Development)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${CPACK_PACKAGE_CONTACT}")
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(SOCKKIT_DEB_RUNTIME "libsockkit${PROJECT_VERSION_MAJOR}")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME "${SOCKKIT_DEB_RUNTIME}")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
set(CPACK_COMPONENT_RUNTIME_DISPLAY_NAME "libsockkit runtime")
# (CPack puts CPACK_PACKAGE_DESCRIPTION_SUMMARY first, as the synopsis.)
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION
"${CPACK_PACKAGE_DESCRIPTION}
.
This package holds the shared library, libsockkit.so.${PROJECT_VERSION_MAJOR}.")
set(CPACK_COMPONENT_RUNTIME_DESCRIPTION "The shared library, libsockkit.so.${PROJECT_VERSION_MAJOR}")
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_NAME "libsockkit-dev")
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_DEPENDS "${SOCKKIT_DEB_RUNTIME} (= ${PROJECT_VERSION})")
set(CPACK_COMPONENT_DEVELOPMENT_DISPLAY_NAME "libsockkit development files")
set(CPACK_DEBIAN_DEVELOPMENT_DESCRIPTION
"${CPACK_PACKAGE_DESCRIPTION}
.
This package holds the headers, the static library, the pkg-config file, the CMake
package (find_package(sockkit)) and, when they were built, the API man pages
(section 3: man 3 sk_tcp_send_all).")
set(CPACK_COMPONENT_DEVELOPMENT_DESCRIPTION
  "Headers, static library, pkg-config file, CMake package and man pages")
set(CPACK_COMPONENT_DEVELOPMENT_DEPENDS Runtime)

# The runtime package's dependencies (libc6 (>= ...)) and its shlibs file come from
# dpkg-shlibdeps (dpkg-dev) and file(1); without them it names libc6. (CPack adds the
# ldconfig calls, postinst and postrm, to a package with a shared library either way.)
find_program(SOCKKIT_DPKG_SHLIBDEPS dpkg-shlibdeps)
find_program(SOCKKIT_FILE_PROGRAM file)
if(SOCKKIT_DPKG_SHLIBDEPS AND SOCKKIT_FILE_PROGRAM)
  set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)
  # (not per component; only the runtime package has a shared library)
  set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
  set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
else()
  set(CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS "libc6")
endif()

set(CPACK_SOURCE_GENERATOR "TGZ")
set(CPACK_SOURCE_PACKAGE_FILE_NAME "libsockkit-${PROJECT_VERSION}")
set(CPACK_SOURCE_IGNORE_FILES "/\\.git/" "/build[^/]*/" "__pycache__" "\\.pyc$")

include(CPack)

if(SOCKKIT_BUILD_TESTS)
  find_program(SOCKKIT_PACKAGING_BASH bash)
  if(SOCKKIT_PACKAGING_BASH)
    list(JOIN SOCKKIT_SANITIZE_FLAGS " " _sk_pkg_flags)
    add_test(NAME package.deb
      COMMAND "${SOCKKIT_PACKAGING_BASH}" "${PROJECT_SOURCE_DIR}/tests/packaging/deb.sh"
              "--build-dir=${PROJECT_BINARY_DIR}"
              "--source-dir=${PROJECT_SOURCE_DIR}"
              "--cpack=${CMAKE_CPACK_COMMAND}"
              "--cmake=${CMAKE_COMMAND}"
              "--cc=${CMAKE_C_COMPILER}"
              "--flags=${_sk_pkg_flags}")
    # install.consumer and cpack both install this build, and the install step writes
    # sockkit.pc for its prefix into the build tree: one after the other.
    set_tests_properties(package.deb PROPERTIES
      SKIP_RETURN_CODE 77
      TIMEOUT 300
      DEPENDS install.consumer
      LABELS packaging)
  endif()
endif()
