# cmake -DDOXYFILE=<build>/docs/Doxyfile -DOUTPUT_DIR=<dir> [-DDOXYGEN=<doxygen>]
#       [-DHEADERS_DIR=<include>] [-DPYTHON=<python3>] [-DCOVERAGE_SCRIPT=<docs/doc_coverage.py>]
#       [-DSKIP_IF_MISSING=ON] -P RunDoxygen.cmake
#
# Builds the API documentation (the `docs` target, and the docs.doxygen test with its
# own OUTPUT_DIR) and fails on any Doxygen warning:
#   1. runs Doxygen with the configured Doxyfile, writing into OUTPUT_DIR (html/, man/,
#      xml/), its warnings into OUTPUT_DIR/doxygen-warnings.log;
#   2. fails when Doxygen failed or wrote any warning (WARN_AS_ERROR makes Doxygen fail
#      too; the log is counted as well, and printed, so the count is always reported);
#   3. renames the man pages whose names are generic (tcp.3, error.3: the group and
#      header pages) to sockkit_tcp.3, sockkit_error.3, so that installed they shadow
#      neither tcp(7) nor glibc's error(3), and points the per-name links at them;
#   4. checks that every function declared in HEADERS_DIR has its man page
#      (`man 3 sk_tcp_send_all`), and, with PYTHON, counts the documented public names
#      in the XML output (COVERAGE_SCRIPT), failing if one is missing.
# With SKIP_IF_MISSING and no Doxygen, prints "SKIPPED: ..." and stops (the test
# registers that text as a skip).
cmake_minimum_required(VERSION 3.16)

# A failed run leaves no man pages behind, so that `cmake --install` cannot install
# pages that were not checked (or not renamed).
macro(sk_docs_fail _message)
  file(REMOVE_RECURSE "${OUTPUT_DIR}/man")
  message(FATAL_ERROR "${_message}")
endmacro()

foreach(_var DOXYFILE OUTPUT_DIR)
  if(NOT ${_var})
    message(FATAL_ERROR "RunDoxygen.cmake: -D${_var}=... is required")
  endif()
endforeach()

if(NOT DOXYGEN)
  find_program(DOXYGEN NAMES doxygen)
endif()
if(NOT DOXYGEN)
  if(SKIP_IF_MISSING)
    message("SKIPPED: doxygen is not installed (Debian: apt-get install doxygen)")
    return()
  endif()
  message(FATAL_ERROR "doxygen is not installed (Debian: apt-get install doxygen)")
endif()

# 1. Doxygen, into a clean output directory (renamed man pages must not linger).
file(REMOVE_RECURSE "${OUTPUT_DIR}/html" "${OUTPUT_DIR}/man" "${OUTPUT_DIR}/xml")
file(MAKE_DIRECTORY "${OUTPUT_DIR}")
set(_log "${OUTPUT_DIR}/doxygen-warnings.log")
file(REMOVE "${_log}")
file(WRITE "${OUTPUT_DIR}/Doxyfile.run"
"@INCLUDE = \"${DOXYFILE}\"
OUTPUT_DIRECTORY = \"${OUTPUT_DIR}\"
WARN_LOGFILE = \"${_log}\"
")
execute_process(COMMAND "${DOXYGEN}" "${OUTPUT_DIR}/Doxyfile.run"
  WORKING_DIRECTORY "${OUTPUT_DIR}"
  RESULT_VARIABLE _rc
  OUTPUT_VARIABLE _out
  ERROR_VARIABLE _err)

# 2. Warnings.
# Doxygen reports a problem once per output format: each distinct line counts once.
set(_warnings "")
if(EXISTS "${_log}")
  file(STRINGS "${_log}" _warnings)
  list(REMOVE_DUPLICATES _warnings)
endif()
list(LENGTH _warnings _n_warnings)
if(_out)
  message("${_out}")
endif()
if(_err)
  message("${_err}")
endif()
if(_n_warnings GREATER 0)
  list(JOIN _warnings "\n" _text)
  message("${_text}")
endif()
message(STATUS "doxygen: ${_n_warnings} warning(s)")
if(NOT _rc EQUAL 0 OR _n_warnings GREATER 0)
  sk_docs_fail("the API documentation has ${_n_warnings} warning(s) (doxygen exit status ${_rc}): every public name, parameter and reference must be documented")
endif()

# 3. Man pages. Link pages are kept for sk_/SK_ names only (MAN_LINKS also writes
# len.3, buf.3... for struct members); pages with generic names get the sockkit_
# prefix (the ABI page, md_docs_ABI.3, becomes sockkit_abi.3).
set(_man "${OUTPUT_DIR}/man/man3")
if(NOT IS_DIRECTORY "${_man}")
  sk_docs_fail("doxygen wrote no man pages in ${_man}")
endif()
file(GLOB _pages RELATIVE "${_man}" "${_man}/*.3")
set(_links "")
set(_renamed "")
set(_renamed_to "")
foreach(_page IN LISTS _pages)
  file(READ "${_man}/${_page}" _head LIMIT 64)
  if(_head MATCHES "^\\.so ")
    if(_page MATCHES "^(sk_|SK_)")
      list(APPEND _links "${_page}")
    else()
      file(REMOVE "${_man}/${_page}")
    endif()
    continue()
  endif()
  file(READ "${_man}/${_page}" _text)
  set(_orig "${_text}")
  # Doxygen writes a literal backslash as \\, which troff reads again inside the
  # quoted arguments of its .RI lines ('\\n' shows as '0); \(rs is the same glyph
  # in both places.
  string(REPLACE "\\\\" "\\(rs" _text "${_text}")
  string(REGEX REPLACE "\\.3$" "" _name "${_page}")
  set(_new "${_name}")
  if(NOT _page MATCHES "^(sk_|SK_|sockkit)")
    if(_name MATCHES "^md_(docs_)?(.*)$")
      string(TOLOWER "sockkit_${CMAKE_MATCH_2}" _new)
    else()
      set(_new "sockkit_${_name}")
    endif()
    # The title and the NAME line (what whatis and apropos show) take the new name.
    string(REPLACE ".TH \"${_name}\" " ".TH \"${_new}\" " _text "${_text}")
    string(REPLACE ".SH NAME\n${_name} \\- " ".SH NAME\n${_new} \\- " _text "${_text}")
    if(_name MATCHES "^md_")
      # A page's first paragraph follows its title without a break: keep NAME one line.
      string(REGEX REPLACE "(\\.SH NAME\n[^\n]*\n)([^.])" "\\1.SH DESCRIPTION\n\\2" _text "${_text}")
    endif()
    list(APPEND _renamed "${_name}")
    list(APPEND _renamed_to "${_new}")
  endif()
  if(NOT _new STREQUAL _name OR NOT _text STREQUAL _orig)
    file(WRITE "${_man}/${_new}.3" "${_text}")
  endif()
  if(NOT _new STREQUAL _name)
    file(REMOVE "${_man}/${_page}")
  endif()
endforeach()
foreach(_page IN LISTS _links)
  file(READ "${_man}/${_page}" _text)
  set(_orig "${_text}")
  list(LENGTH _renamed _n_renamed)
  if(_n_renamed GREATER 0)
    math(EXPR _last "${_n_renamed} - 1")
    foreach(_i RANGE ${_last})
      list(GET _renamed ${_i} _name)
      list(GET _renamed_to ${_i} _new)
      string(REPLACE ".so man3/${_name}.3\n" ".so man3/${_new}.3\n" _text "${_text}")
    endforeach()
  endif()
  if(NOT _text STREQUAL _orig)
    file(WRITE "${_man}/${_page}" "${_text}")
  endif()
  if(_text MATCHES "^\\.so (man3/[^\n]+)")
    if(NOT EXISTS "${OUTPUT_DIR}/man/${CMAKE_MATCH_1}")
      sk_docs_fail("man page ${_page} points to ${CMAKE_MATCH_1}, which does not exist")
    endif()
  endif()
endforeach()
file(GLOB _pages RELATIVE "${_man}" "${_man}/*.3")
list(LENGTH _pages _n_pages)
list(LENGTH _links _n_links)
math(EXPR _n_real "${_n_pages} - ${_n_links}")
list(JOIN _renamed_to " " _renamed_text)
message(STATUS "man pages: ${_n_real} pages (${_renamed_text}, ...) and ${_n_links} sk_/SK_ names that point to them, in ${_man}")

# 4. Every exported function has its man page; every public name is documented.
if(HEADERS_DIR)
  file(GLOB_RECURSE _headers "${HEADERS_DIR}/*.h")
  set(_no_page "")
  set(_n_functions 0)
  foreach(_header IN LISTS _headers)
    file(READ "${_header}" _text)
    string(REGEX MATCHALL "SK_API[^;(]*[ *](sk_[A-Za-z0-9_]+) *\\(" _decls "${_text}")
    foreach(_decl IN LISTS _decls)
      string(REGEX REPLACE ".*[ *](sk_[A-Za-z0-9_]+) *\\($" "\\1" _fn "${_decl}")
      math(EXPR _n_functions "${_n_functions} + 1")
      if(NOT EXISTS "${_man}/${_fn}.3")
        list(APPEND _no_page "${_fn}")
      endif()
    endforeach()
  endforeach()
  if(_no_page)
    sk_docs_fail("functions without a man page (not documented?): ${_no_page}")
  endif()
  message(STATUS "man pages: all ${_n_functions} functions of ${HEADERS_DIR} have one (man 3 <name>)")
  if(PYTHON AND COVERAGE_SCRIPT)
    execute_process(COMMAND "${PYTHON}" "${COVERAGE_SCRIPT}" "${OUTPUT_DIR}/xml" "${HEADERS_DIR}"
      RESULT_VARIABLE _rc)
    if(NOT _rc EQUAL 0)
      sk_docs_fail("${COVERAGE_SCRIPT} failed: not every public name is documented")
    endif()
  endif()
endif()

message(STATUS "API documentation: ${OUTPUT_DIR}/html/index.html; man pages: ${OUTPUT_DIR}/man (MANPATH=${OUTPUT_DIR}/man man 3 sk_tcp_send_all)")
