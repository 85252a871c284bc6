#!/usr/bin/env bash
# The library and the examples built with musl (Debian's musl-tools: musl-gcc), warnings
# as errors, and the examples' end-to-end tests (tests/examples/test_examples.py, every
# case) run against both builds of them: linked to libsockkit.so and to libsockkit.a,
# both on musl's libc (checked: their interpreter is ld-musl).
#
#   bash tests/musl/run.sh [--build-dir=DIR]      default: build/musl
#
# The Criterion suite is not part of it: Debian's Criterion is built for glibc, so a
# Criterion program cannot link with musl. What the examples drive (connect with its
# lookups, send_all/recv_exact, recv_until, timeouts, Unix sockets, sendfile, the
# poller and the chat server, UDP) runs on musl here; the rest of the API does not.
# Installs musl-tools with apt-get when it is missing (as root or through sudo).
# Loopback only.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=build/musl
for arg in "$@"; do
  case "$arg" in
    --build-dir=*) build=${arg#*=} ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
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
  -DSOCKKIT_BUILD_TESTS=OFF -DSOCKKIT_BUILD_EXAMPLES=ON -DSOCKKIT_INSTALL=ON >"$build.configure.log" 2>&1 ||
  { tail -n 30 "$build.configure.log"; exit 1; }
grep -E 'libsockkit: ' "$build.configure.log" || true
cmake --build "$build" --parallel "$(nproc 2>/dev/null || echo 2)" >"$build/build.log" 2>&1 ||
  { tail -n 40 "$build/build.log"; exit 1; }

for exe in "$build/examples/sknc" "$build/examples/sknc-static"; do
  interp=$(readelf -l "$exe" | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')
  case "$interp" in
    *ld-musl*) echo "   $(basename "$exe"): $interp" ;;
    *) echo "musl/run.sh: $exe runs on '$interp', not musl" >&2; exit 1 ;;
  esac
done

echo "== musl: the examples' end-to-end tests"
driver=tests/examples/test_examples.py
pass=0 fail=0 skip=0
for case in $(python3 "$driver" --list); do
  for suffix in "" "-static"; do
    log="$build/example.$case$suffix.log"
    rc=0
    timeout 120 python3 "$driver" --bin-dir="$build/examples" --suffix="$suffix" --peers-dir=tests/peers "$case" \
      >"$log" 2>&1 || rc=$?
    case $rc in
      0) pass=$((pass + 1)) ;;
      77) skip=$((skip + 1)); echo "   skipped: $case$suffix ($(tail -n 1 "$log"))" ;;
      *) fail=$((fail + 1)); echo "   FAILED: $case$suffix"; tail -n 20 "$log" | sed 's/^/      /' ;;
    esac
  done
done
echo "== musl: $pass passed, $skip skipped, $fail failed"
[ "$fail" -eq 0 ]
