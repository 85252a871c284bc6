# The system calls libsockkit uses where the system has them, each with a POSIX
# fallback (lib/compat.h): found by feature checks here, never by the system's name.
#
#   SOCKKIT_FORCE_FALLBACKS=ON   take every fallback even where the faster call exists
#                                (Linux), so that the paths a BSD or macOS build takes
#                                are built and tested here; also the poll() poller.
#
# Sets SOCKKIT_FEATURE_DEFINITIONS: the SK_HAVE_* compile definitions for every target
# that compiles lib/ (the libraries, the tests' copies, the fuzzers) and for the tests,
# which adapt their expectations to them (a fallback cannot report what the system
# does not tell: the real length of a truncated datagram, for one).
include(CheckSymbolExists)
include(CMakePushCheckState)

option(SOCKKIT_FORCE_FALLBACKS "Use the POSIX fallback of every Linux-only call (to test those paths on Linux)" OFF)

# name       header(s), comma-separated   symbol
set(_sk_features
  ACCEPT4          "sys/socket.h"           accept4
  SOCK_CLOEXEC     "sys/socket.h"           SOCK_CLOEXEC
  SOCK_NONBLOCK    "sys/socket.h"           SOCK_NONBLOCK
  MSG_NOSIGNAL     "sys/socket.h"           MSG_NOSIGNAL
  MSG_CMSG_CLOEXEC "sys/socket.h"           MSG_CMSG_CLOEXEC
  RECV_MSG_TRUNC   "sys/socket.h"           MSG_TRUNC
  SENDMMSG         "sys/socket.h"           sendmmsg
  RECVMMSG         "sys/socket.h"           recvmmsg
  EVENTFD          "sys/eventfd.h"          eventfd
  SENDFILE         "sys/sendfile.h"         sendfile
  SPLICE           "fcntl.h"                splice
  SO_PEERCRED      "sys/socket.h"           SO_PEERCRED
  UDP_SEGMENT      "netinet/udp.h"          UDP_SEGMENT
  UDP_GRO          "netinet/udp.h"          UDP_GRO
  GETPEEREID       "sys/types.h,unistd.h"   getpeereid)

set(SOCKKIT_FEATURE_DEFINITIONS SK_HAVE_CONFIGURED=1)
set(SOCKKIT_FEATURES_USED "")
set(SOCKKIT_FEATURES_FALLBACK "")
cmake_push_check_state(RESET)
set(CMAKE_REQUIRED_DEFINITIONS -D_GNU_SOURCE)
set(CMAKE_REQUIRED_QUIET ON)
list(LENGTH _sk_features _sk_n)
math(EXPR _sk_last "${_sk_n} - 1")
foreach(_sk_i RANGE 0 ${_sk_last} 3)
  math(EXPR _sk_h "${_sk_i} + 1")
  math(EXPR _sk_s "${_sk_i} + 2")
  list(GET _sk_features ${_sk_i} _sk_name)
  list(GET _sk_features ${_sk_h} _sk_headers)
  string(REPLACE "," ";" _sk_headers "${_sk_headers}")
  list(GET _sk_features ${_sk_s} _sk_symbol)
  check_symbol_exists(${_sk_symbol} "${_sk_headers}" SOCKKIT_SYSTEM_HAS_${_sk_name})
  # MSG_TRUNC is POSIX as a flag the system returns; as a flag given to recv (the
  # result is then the datagram's real length) it is Linux's, which no header tells.
  if(_sk_name STREQUAL "RECV_MSG_TRUNC" AND NOT CMAKE_SYSTEM_NAME STREQUAL "Linux")
    set(SOCKKIT_SYSTEM_HAS_${_sk_name} "")
  endif()
  # The peer's credentials have no POSIX form: SO_PEERCRED or getpeereid() is all
  # there is, so forcing the fallbacks leaves them as they are.
  if(SOCKKIT_SYSTEM_HAS_${_sk_name} AND (NOT SOCKKIT_FORCE_FALLBACKS OR _sk_name MATCHES "PEERCRED|PEEREID"))
    list(APPEND SOCKKIT_FEATURE_DEFINITIONS SK_HAVE_${_sk_name}=1)
    list(APPEND SOCKKIT_FEATURES_USED ${_sk_name})
  else()
    list(APPEND SOCKKIT_FEATURE_DEFINITIONS SK_HAVE_${_sk_name}=0)
    list(APPEND SOCKKIT_FEATURES_FALLBACK ${_sk_name})
  endif()
endforeach()
cmake_pop_check_state()
if(SOCKKIT_FORCE_FALLBACKS)
  list(APPEND SOCKKIT_FEATURE_DEFINITIONS SK_FORCED_FALLBACKS=1)
endif()
string(REPLACE ";" " " _sk_used "${SOCKKIT_FEATURES_USED}")
string(REPLACE ";" " " _sk_fallback "${SOCKKIT_FEATURES_FALLBACK}")
message(STATUS "libsockkit: system calls used: ${_sk_used}")
message(STATUS "libsockkit: not used (fallbacks instead, or absent): ${_sk_fallback}")
