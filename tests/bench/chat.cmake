# The chat server's benchmark and its checks, included by tests/bench/CMakeLists.txt
# (Linux only, like everything in this folder). See docs/CHAT-PERFORMANCE.md.
#
#   chat_raw_epoll           examples/chat-server's I/O half written by hand on raw
#                            epoll, without the library, driving the same engine
#                            (chat_engine, from examples/chat.cmake): the anchor of the
#                            comparison
#   chat_plain_epoll         a plain hand-written epoll broadcast server: no engine,
#                            no TCP_NOTSENT_LOWAT, no hold (issue 15's anchor)
#   chat-server-pollbackend  examples/chat-server linked to the poll() backend of the
#                            poller (sockkit_pollbackend, from tests/CMakeLists.txt)
#   chat_bench.sh            the three servers interleaved under chat_load (built by
#                            CMakeLists.txt here), best of several rounds:
#     tests/bench/chat_bench.sh build-rel      (a Release build; a few minutes)
#
# CTest runs:
#   chat.bench_smoke                  chat_bench.sh --smoke: a few seconds, the three
#                                     servers, every delivery checked, nothing timed
#   chat_raw_epoll.<scenario>         tests/examples/chat_test.py against the raw twin:
#                                     the comparison means something only while the twin
#                                     behaves exactly like the server
#   example.<scenario>.pollbackend    the same scenarios against the server on poll()
#   example.chat_load_checks_every_delivery_under_load.shared / .static
#                                     chat_load's smoke mode against chat-server and
#                                     chat-server-static: a small load, every delivery
#                                     checked (here, not in examples/chat.cmake, because
#                                     chat_load is built in this folder)
if(NOT TARGET chat-server)
  return() # examples not built (SOCKKIT_BUILD_EXAMPLES=OFF)
endif()

add_executable(chat_raw_epoll "${CMAKE_CURRENT_LIST_DIR}/chat_raw_epoll.c")
target_link_libraries(chat_raw_epoll PRIVATE chat_engine)
set_target_properties(chat_raw_epoll PROPERTIES
  C_STANDARD 11
  C_STANDARD_REQUIRED ON
  C_EXTENSIONS OFF
  RUNTIME_OUTPUT_DIRECTORY "${CMAKE_BINARY_DIR}/tests/bench")

add_executable(chat_plain_epoll "${CMAKE_CURRENT_LIST_DIR}/chat_plain_epoll.c")
set_target_properties(chat_plain_epoll PROPERTIES
  C_STANDARD 11
  C_STANDARD_REQUIRED ON
  C_EXTENSIONS OFF
  RUNTIME_OUTPUT_DIRECTORY "${CMAKE_BINARY_DIR}/tests/bench")

if(TARGET sockkit_pollbackend)
  add_executable(chat-server-pollbackend "${PROJECT_SOURCE_DIR}/examples/chat/server.c")
  target_link_libraries(chat-server-pollbackend PRIVATE chat_engine sockkit_pollbackend)
  set_target_properties(chat-server-pollbackend PROPERTIES
    C_STANDARD 11
    C_STANDARD_REQUIRED ON
    C_EXTENSIONS OFF
    RUNTIME_OUTPUT_DIRECTORY "${CMAKE_BINARY_DIR}/tests/bench")
endif()

if(NOT SOCKKIT_BUILD_TESTS)
  return()
endif()

# The load generator's smoke mode: a small load, every delivery checked. It measures
# nothing here; its figures come from runs by hand.
foreach(_sk_suffix "" "-static")
  if(_sk_suffix STREQUAL "")
    set(_sk_kind shared)
  else()
    set(_sk_kind static)
  endif()
  add_test(NAME "example.chat_load_checks_every_delivery_under_load.${_sk_kind}"
    COMMAND chat_load -c 20 -n 50 -x -t 60 "$<TARGET_FILE:chat-server${_sk_suffix}>")
  set_tests_properties("example.chat_load_checks_every_delivery_under_load.${_sk_kind}" PROPERTIES
    TIMEOUT 120
    LABELS examples)
endforeach()

find_program(SK_CHAT_BASH bash)
if(SK_CHAT_BASH)
  add_test(NAME chat.bench_smoke
    COMMAND "${SK_CHAT_BASH}" "${CMAKE_CURRENT_LIST_DIR}/chat_bench.sh" --smoke
            --ours "$<TARGET_FILE:chat-server>"
            --raw "$<TARGET_FILE:chat_raw_epoll>"
            --plain "$<TARGET_FILE:chat_plain_epoll>"
            --load "$<TARGET_FILE:chat_load>")
  set_tests_properties(chat.bench_smoke PROPERTIES TIMEOUT 120 LABELS bench)
endif()

find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND AND TARGET chat-client)
  set(_sk_chat_driver "${PROJECT_SOURCE_DIR}/tests/examples/chat_test.py")
  execute_process(
    COMMAND "${Python3_EXECUTABLE}" "${_sk_chat_driver}" --list
    OUTPUT_VARIABLE _sk_chat_cases
    RESULT_VARIABLE _sk_chat_rc
    OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT _sk_chat_rc EQUAL 0)
    message(FATAL_ERROR "${_sk_chat_driver} --list failed: ${_sk_chat_rc}")
  endif()
  string(REPLACE "\n" ";" _sk_chat_cases "${_sk_chat_cases}")
  foreach(_sk_case IN LISTS _sk_chat_cases)
    if(NOT _sk_case MATCHES "^chat_server_")
      continue() # the chat-client scenarios are about the client
    endif()
    if(NOT _sk_case MATCHES "_unix_") # the raw twin listens on TCP only
      add_test(NAME "chat_raw_epoll.${_sk_case}"
        COMMAND "${Python3_EXECUTABLE}" "${_sk_chat_driver}"
                "--server=$<TARGET_FILE:chat_raw_epoll>"
                "--client=$<TARGET_FILE:chat-client>"
                "${_sk_case}")
      set_tests_properties("chat_raw_epoll.${_sk_case}" PROPERTIES
        TIMEOUT 180 SKIP_RETURN_CODE 77 LABELS bench)
    endif()
    if(TARGET chat-server-pollbackend)
      add_test(NAME "example.${_sk_case}.pollbackend"
        COMMAND "${Python3_EXECUTABLE}" "${_sk_chat_driver}"
                "--server=$<TARGET_FILE:chat-server-pollbackend>"
                "--client=$<TARGET_FILE:chat-client>"
                "${_sk_case}")
      set_tests_properties("example.${_sk_case}.pollbackend" PROPERTIES
        TIMEOUT 180 SKIP_RETURN_CODE 77 LABELS examples)
    endif()
  endforeach()
endif()
