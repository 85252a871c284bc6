# API documentation (included by the top-level CMakeLists.txt):
#
#   cmake --build <build> --target docs
#
# runs Doxygen on the public headers, the guide (docs/guide.md), the ABI promise
# (docs/ABI.md) and the examples, into <build>/docs: html/index.html, man/man3/*.3
# (one page per group and header, and one link page per name: man 3 sk_tcp_send_all),
# and xml/. Any Doxygen warning fails it (cmake/RunDoxygen.cmake).
# cmake --install installs the man pages (component Development) when they were built.
# With tests, the docs.doxygen test does the same into <build>/docs-test, and is
# skipped where Doxygen is missing.

find_package(Doxygen QUIET)
find_package(Python3 QUIET COMPONENTS Interpreter)

set(SOCKKIT_DOCS_DIR "${PROJECT_BINARY_DIR}/docs")
# FAIL_ON_WARNINGS (Doxygen 1.9) reports every warning, then fails; YES stops at the first.
if(DOXYGEN_FOUND AND DOXYGEN_VERSION VERSION_LESS 1.9.0)
  set(SK_DOXYGEN_WARN_AS_ERROR YES)
else()
  set(SK_DOXYGEN_WARN_AS_ERROR FAIL_ON_WARNINGS)
endif()
set(SK_DOCS_BINARY_DIR "${SOCKKIT_DOCS_DIR}")
configure_file("${PROJECT_SOURCE_DIR}/docs/Doxyfile.in" "${SOCKKIT_DOCS_DIR}/Doxyfile" @ONLY)

set(_sk_docs_args
  "-DDOXYFILE=${SOCKKIT_DOCS_DIR}/Doxyfile"
  "-DHEADERS_DIR=${PROJECT_SOURCE_DIR}/include"
  "-DCOVERAGE_SCRIPT=${PROJECT_SOURCE_DIR}/docs/doc_coverage.py")
if(Python3_Interpreter_FOUND)
  list(APPEND _sk_docs_args "-DPYTHON=${Python3_EXECUTABLE}")
endif()

if(DOXYGEN_FOUND)
  file(GLOB _sk_docs_inputs CONFIGURE_DEPENDS
    "${PROJECT_SOURCE_DIR}/include/*.h"
    "${PROJECT_SOURCE_DIR}/include/sockkit/*.h"
    "${PROJECT_SOURCE_DIR}/docs/*.md"
    "${PROJECT_SOURCE_DIR}/docs/*.dox"
    "${PROJECT_SOURCE_DIR}/examples/*.c")
  add_custom_target(docs
    COMMAND "${CMAKE_COMMAND}" "-DDOXYGEN=${DOXYGEN_EXECUTABLE}" "-DOUTPUT_DIR=${SOCKKIT_DOCS_DIR}"
            ${_sk_docs_args} -P "${PROJECT_SOURCE_DIR}/cmake/RunDoxygen.cmake"
    DEPENDS ${_sk_docs_inputs} "${SOCKKIT_DOCS_DIR}/Doxyfile"
    COMMENT "API documentation (Doxygen ${DOXYGEN_VERSION}) into ${SOCKKIT_DOCS_DIR}"
    VERBATIM)
else()
  add_custom_target(docs
    COMMAND "${CMAKE_COMMAND}" -E echo "docs: Doxygen was not found (Debian: apt-get install doxygen; then reconfigure)"
    COMMAND "${CMAKE_COMMAND}" -E false
    VERBATIM)
endif()

# The man pages, when `docs` was built before installing (OPTIONAL: nothing otherwise).
install(DIRECTORY "${SOCKKIT_DOCS_DIR}/man/man3"
  DESTINATION "${CMAKE_INSTALL_MANDIR}"
  COMPONENT Development
  OPTIONAL)

if(SOCKKIT_BUILD_TESTS)
  # Doxygen is looked for when the test runs, so installing it needs no reconfigure.
  add_test(NAME docs.doxygen
    COMMAND "${CMAKE_COMMAND}" -DSKIP_IF_MISSING=ON "-DOUTPUT_DIR=${PROJECT_BINARY_DIR}/docs-test"
            ${_sk_docs_args} -P "${PROJECT_SOURCE_DIR}/cmake/RunDoxygen.cmake")
  set_tests_properties(docs.doxygen PROPERTIES
    SKIP_REGULAR_EXPRESSION "SKIPPED:"
    TIMEOUT 300
    LABELS docs)
endif()
