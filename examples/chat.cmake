# The chat examples, included by examples/CMakeLists.txt: chat-server and chat-client,
# each built against both libraries (NAME and NAME-static), and their tests.
#   chat_engine  chat/engine.c and chat/queue.c, the server's broadcast engine (no
#                socket calls), compiled once and linked into chat-server and into the
#                benchmark's raw-epoll twin (tests/bench/chat.cmake): one engine, two
#                I/O halves
#   chat-server  chat/server.c, its I/O half on libsockkit, + chat_engine
#   chat-client  chat/client.c
# The load generator chat_load and its test, example.chat_load_checks_every_delivery_
# under_load.*, are in tests/bench/ (docs/CHAT-PERFORMANCE.md).
add_library(chat_engine OBJECT chat/engine.c chat/queue.c)
target_include_directories(chat_engine INTERFACE "${CMAKE_CURRENT_SOURCE_DIR}/chat")
sk_add_example(chat-server chat/server.c)
foreach(_sk_target chat-server chat-server-static)
  target_link_libraries(${_sk_target} PRIVATE chat_engine)
endforeach()
sk_add_example(chat-client chat/client.c)
sk_install_examples(chat-server chat-client)

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
  endforeach()
endif()
