#!/usr/bin/env bash
# The subproject tests (CTest: consumer.subdirectory, consumer.fetchcontent): a
# project builds libsockkit from source inside its own build (tests/consumer/subproject)
# with add_subdirectory of this source tree, or with FetchContent of a release-style
# tarball of it (file:// URL with its SHA256, unpacked by CMake); builds and runs
# tests/consumer/app.c against both targets; and checks that the library stays out of
# the way: none of its tests or examples in the parent's build, no docs or package
# target, nothing of it installed by the parent's install.
#
# usage: subproject.sh --how=subdirectory|fetchcontent --source-dir=DIR --work-dir=DIR
#                      [--cmake=CMAKE] [--cc=CC]
set -euo pipefail

how="" src="" work="" cmake="cmake" cc="cc"
for arg in "$@"; do
  case "$arg" in
    --how=*) how="${arg#*=}" ;;
    --source-dir=*) src="${arg#*=}" ;;
    --work-dir=*) work="${arg#*=}" ;;
    --cmake=*) cmake="${arg#*=}" ;;
    --cc=*) cc="${arg#*=}" ;;
    *) echo "subproject.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done
[ -n "$how" ] && [ -n "$src" ] && [ -n "$work" ] || { echo "usage: subproject.sh --how=... --source-dir=DIR --work-dir=DIR" >&2; exit 2; }
src=$(cd "$src" && pwd -P)
fail() { printf 'consumer.%s: FAILED: %s\n' "$how" "$*" >&2; exit 1; }

rm -rf "$work"
mkdir -p "$work"
cd "$work"
args=(-DSOCKKIT_HOW="$how" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$work/prefix")
if [ "$how" = fetchcontent ]; then
  # A release-style tarball of the source tree: what git tracks, or (outside git)
  # everything but build folders.
  if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
    (cd "$src" && git ls-files -z --cached --others --exclude-standard) |
      tar -C "$src" --null -T - --transform 's|^|sockkit-src/|' -czf sockkit-src.tar.gz
  else
    tar -C "$(dirname "$src")" --exclude='./build*' --transform "s|^$(basename "$src")|sockkit-src|" \
      -czf sockkit-src.tar.gz "$(basename "$src")"
  fi
  hash=$(sha256sum sockkit-src.tar.gz | cut -d' ' -f1)
  args+=(-DSOCKKIT_URL="file://$work/sockkit-src.tar.gz" -DSOCKKIT_URL_HASH="SHA256=$hash")
else
  args+=(-DSOCKKIT_SRC="$src")
fi
"$cmake" -S "$src/tests/consumer/subproject" -B build "${args[@]}" >configure.log 2>&1 ||
  { cat configure.log; fail "configuring a project that takes libsockkit by $how failed"; }
"$cmake" --build build -j2 >build.log 2>&1 || { cat build.log; fail "building it failed"; }
./build/app_shared || fail "app_shared failed"
./build/app_static || fail "app_static failed"
if readelf -d build/app_static | grep -E 'NEEDED.*\[libsockkit\.so' >/dev/null; then
  fail "app_static needs libsockkit.so"
fi
# Out of the way: only the two libraries and the program were built.
for t in docs package chat-server sknc test_tcp_shared; do
  if "$cmake" --build build --target help 2>/dev/null | grep -qE "^\.\.\. $t( |$)"; then
    fail "the parent's build has libsockkit's target $t"
  fi
done
if [ -f build/CTestTestfile.cmake ] && grep -rq 'tcp\.shared' build --include=CTestTestfile.cmake; then
  fail "libsockkit's tests are registered in the parent's CTest"
fi
"$cmake" --install build >install.log 2>&1 || { cat install.log; fail "the parent's install failed"; }
if [ -e prefix ] && find prefix -name 'sockkit*' -o -name 'libsockkit*' | grep -q .; then
  fail "the parent's install installed libsockkit: $(find prefix | head)"
fi
echo "consumer.$how: libsockkit built inside another project, both targets linked and ran, nothing else of it built or installed"
