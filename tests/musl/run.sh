#!/usr/bin/env bash
# The library and the examples built with musl (Debian's musl-tools: musl-gcc), warnings
# as errors, and the examples' end-to-end tests (every case of tests/examples/
# test_examples.py and of tests/examples/chat_test.py) run against both builds of them:
#   NAME         linked to libsockkit.so, on musl's libc (checked: its interpreter is
#                ld-musl)
#   NAME-static  linked with -static (SOCKKIT_EXAMPLES_FULLY_STATIC): libsockkit.a and
#                musl inside, no interpreter and no shared library at all (checked), so
#                it runs on any x86-64 Linux. Shown by the notes' exchange between
#                server-static and client-static in an empty root (chroot: as root or
#                in a user namespace; said and left out when neither is possible).
#
#   bash tests/musl/run.sh [--build-dir=DIR]      default: build/musl
#
# Then the tests that need no Criterion (SOCKKIT_BUILD_PLAIN_TESTS): tests/threads,
# several threads on one endpoint, against both libraries, and every fuzz harness
# replaying its seed corpus (address text and sockaddr parsing, the line reader, and
# whatever else tests/fuzz holds), with ctest.
#
# The Criterion suite is not part of it: Debian's Criterion is built for glibc, so a
# Criterion program cannot link with musl. What the examples, the threads' check and
# the fuzz seeds drive (connect with its lookups, send_all/recv_exact, recv_until,
# timeouts, Unix sockets, sendfile, the poller and the chat server, UDP, the address
# parsers) runs on musl here; the rest of the API does not.
# Installs musl-tools with apt-get when it is missing (as root or through sudo).
# Loopback only.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=build/musl
for arg in "$@"; do
  case "$arg" in
    --build-dir=*) build=${arg#*=} ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "musl/run.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done

if ! command -v musl-gcc >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then sudo=(); elif sudo -n true 2>/dev/null; then sudo=(sudo); else
    echo "musl/run.sh: musl-gcc is missing (Debian: musl-tools) and cannot be installed here" >&2; exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq --no-install-recommends musl-tools
fi

echo "== musl: configure and build ($build, musl $(dpkg-query -W -f='${Version}' musl 2>/dev/null || echo '?'))"
CC=musl-gcc cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSOCKKIT_WERROR=ON \
  -DSOCKKIT_BUILD_TESTS=OFF -DSOCKKIT_BUILD_PLAIN_TESTS=ON -DSOCKKIT_BUILD_EXAMPLES=ON -DSOCKKIT_EXAMPLES_FULLY_STATIC=ON \
  -DSOCKKIT_INSTALL=ON >"$build.configure.log" 2>&1 ||
  { tail -n 30 "$build.configure.log"; exit 1; }
grep -E 'libsockkit: ' "$build.configure.log" || true
cmake --build "$build" --parallel "$(nproc 2>/dev/null || echo 2)" >"$build/build.log" 2>&1 ||
  { tail -n 40 "$build/build.log"; exit 1; }

programs=(server client sknc chat-server chat-client)
for p in "${programs[@]}"; do
  exe=$build/examples/$p
  interp=$(readelf -l "$exe" | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')
  case "$interp" in
    *ld-musl*) echo "   $p: $interp" ;;
    *) echo "musl/run.sh: $exe runs on '$interp', not musl" >&2; exit 1 ;;
  esac
  exe=$build/examples/$p-static
  if readelf -l "$exe" | grep -q 'Requesting program interpreter' || readelf -d "$exe" | grep -q '(NEEDED)'; then
    echo "musl/run.sh: $exe is not fully static:" >&2
    readelf -l "$exe" | grep interpreter >&2 || true
    readelf -d "$exe" | grep NEEDED >&2 || true
    exit 1
  fi
  echo "   $p-static: no interpreter, no shared library ($(stat -c %s "$exe") bytes)"
done

# The notes' exchange with nothing but the two static programs in the root.
echo "== musl: the notes' exchange in an empty root (server-static, client-static)"
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
cp "$build/examples/server-static" "$build/examples/client-static" "$root/"
if [ "$(id -u)" -eq 0 ]; then in_root=(chroot "$root"); else in_root=(unshare -r chroot "$root"); fi
if ! "${in_root[@]}" /client-static --help >/dev/null 2>&1; then
  echo "   left out: chroot is not possible here (not root, no user namespaces)"
else
  "${in_root[@]}" /server-static -n 1 127.0.0.1 0 >"$build/empty-root.server.out" 2>"$build/empty-root.server.err" &
  spid=$!
  port=""
  for _ in $(seq 1 200); do
    port=$(sed -n 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$build/empty-root.server.err")
    [ -n "$port" ] && break
    kill -0 "$spid" 2>/dev/null || break
    sleep 0.05
  done
  [ -n "$port" ] || { echo "musl/run.sh: server-static did not start in the empty root:" >&2; cat "$build/empty-root.server.err" >&2; exit 1; }
  reply=$(timeout 30 "${in_root[@]}" /client-static 127.0.0.1 "$port")
  timeout 30 tail --pid="$spid" -f /dev/null || { kill "$spid"; echo "musl/run.sh: server-static did not stop" >&2; exit 1; }
  wait "$spid"
  echo "$reply" | sed 's/^/   client: /'
  sed 's/^/   server: /' "$build/empty-root.server.out"
  case "$reply" in
    *"Un saludo, crack"*) ;;
    *) echo "musl/run.sh: client-static did not get the server's reply in the empty root" >&2; exit 1 ;;
  esac
fi

echo "== musl: the examples' end-to-end tests"
# Every case against both builds, $(nproc) at a time (most of their time is waiting);
# each leaves its log and its exit status in $build/cases/.
rm -rf "$build/cases" && mkdir -p "$build/cases"
{
  driver=tests/examples/test_examples.py
  for case in $(python3 "$driver" --list); do
    for suffix in "" "-static"; do
      printf '%s\0' "$case$suffix" "python3 $driver --bin-dir=$build/examples --suffix=$suffix --peers-dir=tests/peers $case"
    done
  done
  chat=tests/examples/chat_test.py
  for case in $(python3 "$chat" --list); do
    for suffix in "" "-static"; do
      printf '%s\0' "chat.$case$suffix" \
        "python3 $chat --server=$build/examples/chat-server$suffix --client=$build/examples/chat-client$suffix $case"
    done
  done
} | xargs -0 -n 2 -P "$(nproc 2>/dev/null || echo 2)" sh -c \
  'rc=0; timeout 120 $2 >"$0/$1.log" 2>&1 || rc=$?; echo $rc >"$0/$1.rc"' "$build/cases"
pass=0 fail=0 skip=0
for f in "$build"/cases/*.rc; do
  name=$(basename "$f" .rc)
  case $(cat "$f") in
    0) pass=$((pass + 1)) ;;
    77) skip=$((skip + 1)); echo "   skipped: $name ($(tail -n 1 "$build/cases/$name.log"))" ;;
    *) fail=$((fail + 1)); echo "   FAILED: $name"; tail -n 20 "$build/cases/$name.log" | sed 's/^/      /' ;;
  esac
done
echo "== musl: $pass passed, $skip skipped, $fail failed"

echo "== musl: the tests that need no Criterion (tests/threads, the fuzz seeds)"
plain_rc=0
ctest --test-dir "$build" --output-on-failure -j"$(nproc 2>/dev/null || echo 2)" >"$build/plain-ctest.log" 2>&1 || plain_rc=$?
grep -E '^ *[0-9]+/[0-9]+ Test|tests passed|tests failed' "$build/plain-ctest.log" | sed 's/^/   /'
if grep -q 'No tests were found' "$build/plain-ctest.log"; then
  echo "musl/run.sh: no test was registered in $build" >&2
  plain_rc=1
fi
[ "$plain_rc" -eq 0 ] || tail -n 40 "$build/plain-ctest.log"
[ "$fail" -eq 0 ] && [ "$plain_rc" -eq 0 ]
