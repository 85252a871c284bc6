# Install-time script (included by the install(CODE) in the top-level CMakeLists.txt):
# writes sockkit.pc for the prefix being installed to and installs it.
#
# In: SOCKKIT_PC_TEMPLATE, SOCKKIT_PC_OUTPUT, SOCKKIT_PC_LIBDIR, SOCKKIT_PC_INCLUDEDIR
# (as configured: relative to the prefix, or absolute), SOCKKIT_PC_VERSION,
# SOCKKIT_PC_DESCRIPTION; CMAKE_INSTALL_PREFIX as set by cmake --install [--prefix].
cmake_policy(VERSION 3.16) # include() gives this file its own policy scope

set(SOCKKIT_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
# A relocatable tree (the .tar.gz, cmake/Packaging.cmake): the prefix is found from
# the .pc file's own folder, <prefix>/<libdir>/pkgconfig, one ".." per level.
if(DEFINED ENV{SOCKKIT_PC_RELOCATABLE} AND NOT IS_ABSOLUTE "${SOCKKIT_PC_LIBDIR}"
   AND NOT IS_ABSOLUTE "${SOCKKIT_PC_INCLUDEDIR}")
  set(SOCKKIT_PC_PREFIX "\${pcfiledir}/..")
  string(REPLACE "/" ";" _sk_levels "${SOCKKIT_PC_LIBDIR}")
  foreach(_sk_level IN LISTS _sk_levels)
    if(NOT _sk_level STREQUAL "" AND NOT _sk_level STREQUAL ".")
      string(APPEND SOCKKIT_PC_PREFIX "/..")
    endif()
  endforeach()
endif()

# Relative directories are written relative to ${prefix}, so pkg-config's
# --define-variable=prefix=... relocates the whole file.
foreach(_sk_dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${SOCKKIT_PC_${_sk_dir}}")
    set(SOCKKIT_PC_${_sk_dir}_VALUE "${SOCKKIT_PC_${_sk_dir}}")
  elseif(_sk_dir STREQUAL "LIBDIR")
    set(SOCKKIT_PC_${_sk_dir}_VALUE "\${exec_prefix}/${SOCKKIT_PC_${_sk_dir}}")
  else()
    set(SOCKKIT_PC_${_sk_dir}_VALUE "\${prefix}/${SOCKKIT_PC_${_sk_dir}}")
  endif()
endforeach()

configure_file("${SOCKKIT_PC_TEMPLATE}" "${SOCKKIT_PC_OUTPUT}" @ONLY)

if(IS_ABSOLUTE "${SOCKKIT_PC_LIBDIR}")
  set(_sk_pc_destination "${SOCKKIT_PC_LIBDIR}/pkgconfig")
else()
  set(_sk_pc_destination "${CMAKE_INSTALL_PREFIX}/${SOCKKIT_PC_LIBDIR}/pkgconfig")
endif()
# file(INSTALL) is what install(FILES) runs: it honours DESTDIR and records the
# file in install_manifest.txt.
file(INSTALL DESTINATION "${_sk_pc_destination}" TYPE FILE FILES "${SOCKKIT_PC_OUTPUT}")
