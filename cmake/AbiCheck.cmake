# The ABI check (included by the top-level CMakeLists.txt; the promise is docs/ABI.md):
#
#   abi.shared    (test) libsockkit.so against the ABI recorded in docs/abi/ for its
#                 SONAME: abidiff for functions and the types they reach, plus the
#                 values compiled into programs (error codes, macros, struct sizes);
#                 fails on a break, passes additions
#   abi.checker   (test) the check itself, on deliberate breaks and additions made to
#                 a scratch copy of the library
#   abi-baseline  (target) records the current libsockkit.so as the baseline, for a
#                 deliberate release: cmake --build <build> --target abi-baseline
#
# All of it is tests/abi/check.sh. The tests are skipped (status 77) where libabigail
# (Debian: abigail-tools) is missing or the library has no debugging information.

find_program(SOCKKIT_ABI_BASH bash)
if(NOT SOCKKIT_ABI_BASH)
  message(STATUS "no bash: the ABI check (abi.*, abi-baseline) is left out")
  return()
endif()

set(_sk_abi_script "${PROJECT_SOURCE_DIR}/tests/abi/check.sh")

add_custom_target(abi-baseline
  COMMAND "${SOCKKIT_ABI_BASH}" "${_sk_abi_script}" --update
          "--library=$<TARGET_FILE:sockkit_shared>"
          "--source-dir=${PROJECT_SOURCE_DIR}"
          "--cc=${CMAKE_C_COMPILER}"
  DEPENDS sockkit_shared
  COMMENT "Recording the ABI of libsockkit.so in ${PROJECT_SOURCE_DIR}/docs/abi (commit it with the release)"
  VERBATIM)

if(SOCKKIT_BUILD_TESTS)
  add_test(NAME abi.shared
    COMMAND "${SOCKKIT_ABI_BASH}" "${_sk_abi_script}"
            "--library=$<TARGET_FILE:sockkit_shared>"
            "--source-dir=${PROJECT_SOURCE_DIR}"
            "--cc=${CMAKE_C_COMPILER}")
  add_test(NAME abi.checker
    COMMAND "${SOCKKIT_ABI_BASH}" "${_sk_abi_script}" --self-test
            "--source-dir=${PROJECT_SOURCE_DIR}"
            "--cc=${CMAKE_C_COMPILER}"
            "--work-dir=${PROJECT_BINARY_DIR}/abi-selftest")
  set_tests_properties(abi.shared abi.checker PROPERTIES
    SKIP_RETURN_CODE 77
    TIMEOUT 300
    LABELS abi)
endif()
