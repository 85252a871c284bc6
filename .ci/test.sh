#!/usr/bin/env bash
# Build libsockkit and run its tests (the README's test command):
#
#   bash .ci/test.sh [PRESET ...]     configure, build and test each preset (default: ci)
#   bash .ci/test.sh --deps-only [PRESET ...]   only install what the presets need
#
# Presets are those of CMakePresets.json: dev, ci, clang, asan, tsan. Whatever the
# build needs and the machine lacks (cmake, make, gcc or clang, pkg-config, Criterion;
# python3 and nc for the examples' tests; doxygen, abigail-tools, libssl-dev, dpkg-dev
# and file for the docs, ABI, header and package tests) is installed with apt-get
# first, as root or through sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

deps_only=0
presets=()
for arg in "$@"; do
  case "$arg" in
    --deps-only) deps_only=1 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    -*) echo "test.sh: unknown option $arg" >&2; exit 2 ;;
    *) presets+=("$arg") ;;
  esac
done
[ "${#presets[@]}" -gt 0 ] || presets=(ci)

# Debian/Ubuntu packages for whatever is missing.
missing=()
need() { # need <package> <test command...>
  local pkg=$1
  shift
  "$@" >/dev/null 2>&1 || missing+=("$pkg")
}
need cmake command -v cmake
need make command -v make
need pkg-config command -v pkg-config
need binutils command -v readelf
need gcc command -v gcc
need libc6-dev test -f /usr/include/stdio.h
need libcriterion-dev test -f /usr/include/criterion/criterion.h
# The examples' end-to-end tests (tests/examples) are driven by Python and some talk
# to nc; without them CTest leaves those tests out or skips them.
need python3 command -v python3
need netcat-openbsd command -v nc
need socat command -v socat
# The multicast and broadcast tests build their network inside a namespace with ip.
need iproute2 command -v ip
# sknc's sendfile test checks with strace that the file went through sendfile(2).
need strace command -v strace
# The API docs (docs.doxygen), the ABI check (abi.*), OpenSSL next to <sockkit.h>
# (headers.openssl) and the packages (package.deb): each test is skipped without its
# tool; these make them run.
need doxygen command -v doxygen
need abigail-tools command -v abidiff
need libssl-dev test -f /usr/include/openssl/ssl.h
need dpkg-dev command -v dpkg-shlibdeps
need file command -v file
for p in "${presets[@]}"; do
  if [ "$p" = clang ] || [ "$p" = portable ]; then need clang command -v clang; fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "test.sh: installing ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then
    sudo=()
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo=(sudo)
  else
    sudo=(false)
  fi
  if ! command -v apt-get >/dev/null || [ "${sudo[*]}" = false ]; then
    echo "test.sh: cannot install ${missing[*]} here (needs apt-get and root); install them and rerun" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
[ "$deps_only" -eq 0 ] || exit 0

jobs=$(nproc 2>/dev/null || echo 2)
for p in "${presets[@]}"; do
  echo "== preset $p: configure"
  cmake --preset "$p"
  echo "== preset $p: build"
  cmake --build --preset "$p" --parallel "$jobs"
  echo "== preset $p: test"
  # Four test programs at once (each runs two Criterion workers): most tests wait on
  # sockets, timers and peers rather than compute, so four keep two processors busy.
  # The timing tests only check that a call never returns before its budget, with a
  # generous margin after it: they passed this way with the machine's load average at
  # 6 to 8. SK_CTEST_JOBS=2 runs two at once.
  ctest --preset "$p" --output-on-failure -j"${SK_CTEST_JOBS:-4}" 2>&1 | tee "build/$p/ctest.log"
done
