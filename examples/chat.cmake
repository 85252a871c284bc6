# The chat examples, included by examples/CMakeLists.txt: chat-server and chat-client,
# each built against both libraries (NAME and NAME-static), and their tests.
sk_add_example(chat-server chat-server.c)
sk_add_example(chat-client chat-client.c)

# chat_load (tests/bench/chat_load.c): the load generator that measures the chat server
# (clients held, lines delivered per second, peak memory) and checks every delivery.
# It uses raw sockets and epoll, not the library, so it is built once, Linux only, into
# the build tree's tests/bench/ folder:
#   build/tests/bench/chat_load -c 1000 -n 20 -x build/examples/chat-server
# tests/bench/chat.cmake adds the server's raw-epoll twin and chat_bench.sh, which
# compares the two (docs/CHAT-PERFORMANCE.md).
if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
  add_executable(chat_load "${PROJECT_SOURCE_DIR}/tests/bench/chat_load.c")
  set_target_properties(chat_load PROPERTIES
    C_STANDARD 11
    C_STANDARD_REQUIRED ON
    C_EXTENSIONS OFF
    RUNTIME_OUTPUT_DIRECTORY "${CMAKE_BINARY_DIR}/tests/bench")
endif()

# End-to-end tests (tests/examples/chat_test.py, Python 3 standard library), one CTest
# test per scenario and build: "example.<scenario>.shared" / ".static". Loopback only,
# ephemeral ports, bounded waits; the nc scenario is skipped (status 77) without nc.
if(SOCKKIT_BUILD_TESTS)
  if(NOT Python3_Interpreter_FOUND)
    find_package(Python3 COMPONENTS Interpreter)
  endif()
endif()
if(SOCKKIT_BUILD_TESTS AND NOT Python3_Interpreter_FOUND)
  message(WARNING "no Python 3 found: the chat examples' end-to-end tests are left out")
elseif(SOCKKIT_BUILD_TESTS)
  set(_sk_chat_driver "${PROJECT_SOURCE_DIR}/tests/examples/chat_test.py")
  execute_process(
    COMMAND "${Python3_EXECUTABLE}" "${_sk_chat_driver}" --list
    OUTPUT_VARIABLE _sk_chat_cases
    RESULT_VARIABLE _sk_chat_rc
    OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT _sk_chat_rc EQUAL 0)
    message(FATAL_ERROR "${_sk_chat_driver} --list failed: ${_sk_chat_rc}")
  endif()
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${_sk_chat_driver}")
  string(REPLACE "\n" ";" _sk_chat_cases "${_sk_chat_cases}")

  foreach(_sk_kind shared static)
    if(_sk_kind STREQUAL "shared")
      set(_sk_suffix "")
    else()
      set(_sk_suffix "-static")
    endif()
    foreach(_sk_case IN LISTS _sk_chat_cases)
      add_test(NAME "example.${_sk_case}.${_sk_kind}"
        COMMAND "${Python3_EXECUTABLE}" "${_sk_chat_driver}"
                "--server=$<TARGET_FILE:chat-server${_sk_suffix}>"
                "--client=$<TARGET_FILE:chat-client${_sk_suffix}>"
                "${_sk_case}")
      set_tests_properties("example.${_sk_case}.${_sk_kind}" PROPERTIES
        TIMEOUT 180
        SKIP_RETURN_CODE 77
        LABELS examples)
    endforeach()

    # The load generator's smoke mode: a small load, every delivery checked. It
    # measures nothing here; its figures come from runs by hand.
    if(TARGET chat_load)
      add_test(NAME "example.chat_load_checks_every_delivery_under_load.${_sk_kind}"
        COMMAND chat_load -c 20 -n 50 -x -t 60 "$<TARGET_FILE:chat-server${_sk_suffix}>")
      set_tests_properties("example.chat_load_checks_every_delivery_under_load.${_sk_kind}" PROPERTIES
        TIMEOUT 120
        LABELS examples)
    endif()
  endforeach()
endif()
