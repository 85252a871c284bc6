#!/usr/bin/env bash
# The ABI check of libsockkit (docs/ABI.md): compares a freshly built libsockkit.so
# with the ABI recorded for the last release in docs/abi/, and fails on any
# incompatible change; additions pass.
#
#   check.sh --library=LIB --source-dir=SRC [--cc=CC] [--baseline-dir=DIR]
#       the check (CTest: abi.shared). Two parts:
#       1. abidiff (libabigail) between DIR/<SONAME>.abi and LIB, restricted to the types
#          of SRC/include: fails when abidiff reports an incompatible change (bit 8 of
#          its status), an error, or any removed or changed function or variable
#          (signature, or a type it reaches: a struct that grew, a member that moved);
#          added functions and variables, and changes libabigail knows to be harmless,
#          pass.
#       2. the values compiled into programs, which DWARF does not describe or which
#          no function reaches: every integer macro (but the version macros), every
#          enumerator (the error codes), and the size and alignment of every public
#          struct, as DIR/<SONAME>.values records them. Each recorded value must still
#          be there, unchanged; new names pass.
#   check.sh --update --library=LIB --source-dir=SRC [--cc=CC] [--baseline-dir=DIR]
#       records LIB as the baseline (the abi-baseline target): writes <SONAME>.abi
#       (abidw) and <SONAME>.values. For a deliberate release only: see docs/ABI.md.
#   check.sh --self-test --source-dir=SRC [--cc=CC] [--work-dir=DIR]
#       checks the check (CTest: abi.checker): builds a scratch copy of the library,
#       records it, then builds it again with deliberate changes and expects the check
#       to pass for additions (a function, an error code) and to fail for breaks (a
#       struct that grew, a changed signature, a removed function, a renumbered error
#       code, a changed macro).
#
# DIR defaults to SRC/docs/abi. Exit status: 0 passed, 1 failed, 77 skipped (abidiff,
# abidw or a C compiler missing, a library without debugging information, or a
# baseline recorded for another architecture).
set -euo pipefail

mode=check library="" src="" cc="${CC:-cc}" baseline_dir="" work_dir=""
for arg in "$@"; do
  case "$arg" in
    --update) mode=update ;;
    --self-test) mode=selftest ;;
    --library=*) library="${arg#*=}" ;;
    --source-dir=*) src="${arg#*=}" ;;
    --cc=*) cc="${arg#*=}" ;;
    --baseline-dir=*) baseline_dir="${arg#*=}" ;;
    --work-dir=*) work_dir="${arg#*=}" ;;
    -h|--help) sed -n '2,33p' "$0"; exit 0 ;;
    *) echo "check.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done
[ -n "$src" ] || { echo "check.sh: --source-dir is required" >&2; exit 2; }
src=$(cd "$src" && pwd -P)
[ -n "$baseline_dir" ] || baseline_dir="$src/docs/abi"
self="$(cd "$(dirname "$0")" && pwd -P)/$(basename "$0")"

skip() { echo "check.sh: SKIPPED: $*"; exit 77; }
fail() { echo "check.sh: FAILED: $*" >&2; exit 1; }

for tool in abidiff abidw; do
  command -v "$tool" >/dev/null || skip "$tool is not installed (Debian: apt-get install abigail-tools)"
done
command -v readelf >/dev/null || skip "readelf is not installed (binutils)"
command -v "$cc" >/dev/null || skip "no C compiler ($cc)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# abidw's options for a baseline: public types only, no paths of this machine in it,
# type ids that do not depend on the order the types were read in.
abidw_opts=(--drop-private-types --no-corpus-path --no-comp-dir-path --short-locs --type-id-style hash)

# The values a program compiles in, one per line: "<kind> <name> <value>".
values_of() { # values_of <include dir> <output file>
  local inc=$1 out=$2 names
  "$cc" -E -dM -I"$inc" "$inc/sockkit.h" >"$tmp/macros.txt"
  "$cc" -E -P -I"$inc" "$inc/sockkit.h" | tr '\n' ' ' >"$tmp/flat.txt"
  {
    echo '#include <sockkit.h>'
    echo '#include <stdio.h>'
    echo 'int main(void)'
    echo '{'
    # Object-like integer macros: SK_ names whose definition is a constant expression
    # (no strings, not empty), but the version, which changes with every release.
    sed -n 's/^#define \(SK_[A-Za-z0-9_]*\) \(.*\)$/\1 \2/p' "$tmp/macros.txt" |
      grep -Ev '^SK_VERSION_' | grep -Ev '^[A-Za-z0-9_]+ .*["'\'']' |
      grep -E '^[A-Za-z0-9_]+ [-+()0-9a-fA-FxXuUlL <>|&~*A-Z_]+$' |
      while read -r name _; do
        printf '    printf("const %%s %%lld\\n", "%s", (long long)(%s));\n' "$name" "$name"
      done
    # Enumerators of every sk_ enum (the error codes).
    grep -oE 'enum +sk_[A-Za-z0-9_]+ *\{[^}]*\}' "$tmp/flat.txt" | while read -r line; do
      enum=$(printf '%s\n' "$line" | sed -E 's/^enum +(sk_[A-Za-z0-9_]+).*/\1/')
      printf '%s\n' "$line" | sed -E 's/^[^{]*\{//; s/\}$//' | tr ',' '\n' |
        sed -nE 's/^ *(SK_[A-Za-z0-9_]+).*/\1/p' | while read -r name; do
          printf '    printf("%s %%s %%lld\\n", "%s", (long long)(%s));\n' "$enum" "$name" "$name"
        done
    done
    # Size and alignment of every complete public struct type (typedef struct {...} sk_x;).
    grep -oE '\} *sk_[A-Za-z0-9_]+ *;' "$tmp/flat.txt" | sed -E 's/^\} *//; s/ *;$//' | sort -u |
      while read -r name; do
        printf '    printf("size %%s %%zu\\n", "%s", sizeof(%s));\n' "$name" "$name"
        printf '    printf("align %%s %%zu\\n", "%s", (size_t)_Alignof(%s));\n' "$name" "$name"
      done
    echo '    return 0;'
    echo '}'
  } >"$tmp/values.c"
  "$cc" -std=c11 -I"$inc" -o "$tmp/values" "$tmp/values.c" || fail "cannot compile the values program ($tmp/values.c)"
  names=$("$tmp/values" | LC_ALL=C sort)
  [ -n "$names" ] || fail "found no public value in $inc"
  {
    echo "# Values compiled into programs by <sockkit.h>, checked by tests/abi/check.sh."
    echo "# Written by check.sh --update (cmake --build <build> --target abi-baseline)."
    echo "target $(target_of "$library")"
    printf '%s\n' "$names"
  } >"$out"
}

target_of() { # "ELF64 Advanced Micro Devices X86-64": sizes and values hold for one target
  readelf -h "$1" | sed -n 's/^ *\(Class\|Machine\): *//p' | tr '\n' ' ' | sed 's/ *$//'
}

soname_of() {
  readelf -d "$1" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p'
}

needs_library() {
  [ -n "$library" ] || { echo "check.sh: --library is required" >&2; exit 2; }
  [ -f "$library" ] || fail "no library at $library"
  soname=$(soname_of "$library")
  [ -n "$soname" ] || fail "$library has no SONAME"
  # (grep -q would stop reading early, and pipefail would count readelf's SIGPIPE.)
  readelf -S "$library" | grep '\.debug_info' >/dev/null ||
    skip "$library has no debugging information (build it with -g: the ci, clang and dev presets do)"
  base_abi="$baseline_dir/$soname.abi"
  base_values="$baseline_dir/$soname.values"
}

update() {
  needs_library
  mkdir -p "$baseline_dir"
  abidw "${abidw_opts[@]}" --headers-dir "$src/include" --out-file "$base_abi" "$library" ||
    fail "abidw failed on $library"
  values_of "$src/include" "$base_values"
  echo "check.sh: recorded the ABI of $library ($soname):"
  echo "  $base_abi ($(grep -c '<elf-symbol ' "$base_abi") symbols)"
  echo "  $base_values ($(grep -vc '^#' "$base_values") values)"
}

check() {
  needs_library
  if [ ! -f "$base_abi" ] || [ ! -f "$base_values" ]; then
    fail "no recorded ABI for $soname ($base_abi, $base_values). A new SONAME is a new major
release: record its ABI with 'cmake --build <build> --target abi-baseline' (docs/ABI.md)."
  fi
  local recorded_for
  recorded_for=$(sed -n 's/^target //p' "$base_values")
  if [ "$recorded_for" != "$(target_of "$library")" ]; then
    skip "the baseline was recorded for $recorded_for, the library is $(target_of "$library")"
  fi

  echo "== abidiff --headers-dir2 $src/include $base_abi $library"
  local rc=0
  abidiff --headers-dir2 "$src/include" "$base_abi" "$library" >"$tmp/abidiff.txt" 2>&1 || rc=$?
  cat "$tmp/abidiff.txt"
  echo "(abidiff exit status $rc)"
  local problems=()
  [ $((rc & 1)) -eq 0 ] || problems+=("abidiff failed (error)")
  [ $((rc & 2)) -eq 0 ] || problems+=("abidiff usage error")
  [ $((rc & 8)) -eq 0 ] || problems+=("abidiff reports an incompatible change")
  if grep -E 'summary: [1-9][0-9]* Removed|, [1-9][0-9]* Changed' "$tmp/abidiff.txt" >/dev/null; then
    problems+=("removed or changed functions or variables (see above)")
  fi

  echo "== values compiled into programs, against $base_values"
  values_of "$src/include" "$tmp/values.now"
  local missing=0 line name now
  while IFS= read -r line; do
    case "$line" in '#'*|target\ *|'') continue ;; esac
    if ! grep -qxF "$line" "$tmp/values.now"; then
      name=$(printf '%s\n' "$line" | cut -d' ' -f1-2)
      now=$(grep -F "$name " "$tmp/values.now" | head -n 1 || true)
      echo "  recorded: $line    now: ${now:-(gone)}"
      missing=$((missing + 1))
    fi
  done <"$base_values"
  local added
  cut -d' ' -f1-2 "$base_values" | sed 's/$/ /' >"$tmp/names.base"
  added=$(grep -v '^#' "$tmp/values.now" | grep -v '^target ' | grep -vF -f "$tmp/names.base" || true)
  [ -z "$added" ] || printf 'added since the baseline (compatible):\n%s\n' "$added" | sed 's/^/  /'
  [ "$missing" -eq 0 ] || problems+=("$missing recorded value(s) changed or removed (see above)")
  echo "  $(grep -vc '^#' "$base_values") recorded values checked"

  if [ "${#problems[@]}" -gt 0 ]; then
    printf 'check.sh: FAILED: the ABI of %s is not compatible with %s:\n' "$library" "$soname" >&2
    printf '  - %s\n' "${problems[@]}" >&2
    echo "A deliberate break needs a new major version (docs/ABI.md); a deliberate release records its ABI with the abi-baseline target." >&2
    exit 1
  fi
  echo "check.sh: $library is compatible with the recorded ABI of $soname"
}

selftest() {
  [ -n "$work_dir" ] || work_dir="$tmp/selftest"
  rm -rf "$work_dir"
  mkdir -p "$work_dir"
  work_dir=$(cd "$work_dir" && pwd -P)
  local base="$work_dir/base" baseline="$work_dir/baseline" failures=0

  build() { # build <tree> : libsockkit.so from the tree's include/ and lib/
    (cd "$1" && "$cc" -std=c11 -D_GNU_SOURCE -fPIC -shared -g -O0 -fvisibility=hidden \
       -Iinclude $(ls lib/*.c | grep -v /poller_poll\.c) -pthread -Wl,-soname,libsockkit.so.0 -o libsockkit.so.0 -w) >"$1/build.log" 2>&1
  }
  mutate() { # mutate <tree> <file> <sed expression>: fails unless the file changed
    cp "$1/$2" "$1/$2.orig"
    sed -i -E "$3" "$1/$2"
    if cmp -s "$1/$2" "$1/$2.orig"; then
      echo "check.sh: the self-test's change '$3' does not apply to $2 any more: update $self" >&2
      return 1
    fi
  }
  expect() { # expect pass|fail <name> <description> [<file> <sed expression>]...
    local want=$1 name=$2 what=$3 tree="$work_dir/$2" rc=0
    shift 3
    rm -rf "$tree" && mkdir -p "$tree" && cp -R "$base/include" "$base/lib" "$tree/"
    while [ "$#" -ge 2 ]; do
      mutate "$tree" "$1" "$2" || { failures=$((failures + 1)); return; }
      shift 2
    done
    if ! build "$tree"; then
      cat "$tree/build.log" >&2
      echo "check.sh: self-test $name: the changed library does not build" >&2
      failures=$((failures + 1))
      return
    fi
    bash "$self" --library="$tree/libsockkit.so.0" --source-dir="$tree" --cc="$cc" \
      --baseline-dir="$baseline" >"$tree/check.log" 2>&1 || rc=$?
    if { [ "$want" = pass ] && [ "$rc" -eq 0 ]; } || { [ "$want" = fail ] && [ "$rc" -eq 1 ]; }; then
      printf 'ok    %-28s %s: check %sed\n' "$name" "$what" "$want"
    else
      printf 'WRONG %-28s %s: expected the check to %s, its status was %s\n' "$name" "$what" "$want" "$rc"
      sed 's/^/      | /' "$tree/check.log"
      failures=$((failures + 1))
    fi
  }

  mkdir -p "$base" "$baseline"
  cp -R "$src/include" "$src/lib" "$base/"
  build "$base" || { cat "$base/build.log" >&2; fail "the scratch copy of the library does not build"; }
  bash "$self" --update --library="$base/libsockkit.so.0" --source-dir="$base" --cc="$cc" \
    --baseline-dir="$baseline" >"$base/update.log" 2>&1 || { cat "$base/update.log" >&2; fail "recording the scratch baseline failed"; }
  echo "self-test: baseline recorded from a scratch build of $src (in $work_dir)"

  expect pass unchanged "the same library"
  expect pass function_added "a new function" \
    include/sockkit/version.h 's/^(SK_API const char \*sk_version_string\(void\);)$/\1\nSK_API int sk_selftest_added(void);/' \
    lib/version.c '$ a int sk_selftest_added(void) { return 42; }'
  expect pass error_code_added "a new error code after the last one" \
    include/sockkit/error.h 's/^( *SK_E[A-Z0-9]+ = -[0-9]+)( +\/\*\*<.*)$/\1,\2/; s/^\};$/    SK_ESELFTEST = -99\n};/'
  expect fail addr_grew "sk_addr grows from 128 to 136 bytes" \
    include/sockkit/addr.h 's/bytes\[120\]/bytes[128]/' \
    lib/addr.c 's/sizeof\(sk_addr\) == 128/sizeof(sk_addr) == 136/'
  expect fail return_type_changed "sk_addr_port returns long instead of int" \
    include/sockkit/addr.h 's/^SK_API int sk_addr_port\(/SK_API long sk_addr_port(/' \
    lib/addr.c 's/^int sk_addr_port\(/long sk_addr_port(/'
  expect fail parameter_changed "sk_tcp_shutdown takes a long long" \
    include/sockkit/tcp.h 's/^SK_API int sk_tcp_shutdown\(sk_tcp \*conn, int how\);/SK_API int sk_tcp_shutdown(sk_tcp *conn, long long how);/' \
    lib/tcp.c 's/^int sk_tcp_shutdown\(sk_tcp \*conn, int how\)/int sk_tcp_shutdown(sk_tcp *conn, long long how)/'
  expect fail parameter_added "sk_tcp_set_nodelay takes one more parameter" \
    include/sockkit/tcp.h 's/^SK_API int sk_tcp_set_nodelay\(sk_tcp \*conn, int on\);/SK_API int sk_tcp_set_nodelay(sk_tcp *conn, int on, int more);/' \
    lib/tcp.c 's/^int sk_tcp_set_nodelay\(sk_tcp \*conn, int on\)/int sk_tcp_set_nodelay(sk_tcp *conn, int on, int more)/'
  expect fail function_removed "sk_tcp_set_nodelay is no longer exported" \
    include/sockkit/tcp.h 's/^SK_API (int sk_tcp_set_nodelay\()/\1/'
  expect fail error_code_renumbered "SK_ETIMEDOUT becomes -30" \
    include/sockkit/error.h 's/SK_ETIMEDOUT = -3,/SK_ETIMEDOUT = -30,/' \
    lib/error_map.h 's/X\(SK_ETIMEDOUT, +-3,/X(SK_ETIMEDOUT, -30,/'
  expect fail macro_changed "SK_SHUT_RD becomes 4" \
    include/sockkit/tcp.h 's/^#define SK_SHUT_RD 1$/#define SK_SHUT_RD 4/'

  [ "$failures" -eq 0 ] || fail "$failures self-test case(s) went wrong"
  echo "check.sh: the ABI check passes additions and fails every break it was shown"
}

case "$mode" in
  check) check ;;
  update) update ;;
  selftest) selftest ;;
esac
