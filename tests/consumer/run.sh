#!/usr/bin/env bash
# The install/consumer test (CTest: install.consumer). It installs the current build
# and uses the installed tree the way another program would:
#   1. cmake --install --prefix <scratch prefix>, and checks the installed layout;
#   2. builds tests/consumer/app.c with `pkg-config --cflags --libs sockkit`, runs it;
#   3. builds it against libsockkit.a with `pkg-config --static --libs sockkit`, checks
#      that it does not need libsockkit.so, runs it;
#   4. builds tests/consumer/CMakeLists.txt (find_package(sockkit), one program per
#      imported target), runs both, and checks the version policy of the package;
#   5. installs again with DESTDIR staging and checks that nothing installed refers
#      to the build or source tree.
#
# usage: run.sh --build-dir=DIR --source-dir=DIR [--libdir=lib] [--includedir=include]
#               [--config=CFG] [--cmake=CMAKE] [--cc=CC] [--flags="EXTRA FLAGS"]
# (libdir and includedir as CMAKE_INSTALL_LIBDIR/INCLUDEDIR; flags are added to every
# compile and link, e.g. the sanitizer flags the library was built with)
set -euo pipefail

build="" src="" libdir_rel="lib" includedir_rel="include" config="" cmake="cmake" cc="cc" flags=""
for arg in "$@"; do
  case "$arg" in
    --build-dir=*) build="${arg#*=}" ;;
    --source-dir=*) src="${arg#*=}" ;;
    --libdir=*) libdir_rel="${arg#*=}" ;;
    --includedir=*) includedir_rel="${arg#*=}" ;;
    --config=*) config="${arg#*=}" ;;
    --cmake=*) cmake="${arg#*=}" ;;
    --cc=*) cc="${arg#*=}" ;;
    --flags=*) flags="${arg#*=}" ;;
    *) echo "run.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done
[ -n "$build" ] && [ -n "$src" ] || { echo "usage: run.sh --build-dir=DIR --source-dir=DIR [...]" >&2; exit 2; }
build=$(cd "$build" && pwd -P)
src=$(cd "$src" && pwd -P)

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'install.consumer: FAILED: %s\n' "$*" >&2; exit 1; }
needs_libsockkit_so() { readelf -d "$1" | grep -E 'NEEDED.*\[libsockkit\.so' >/dev/null; }

for tool in pkg-config readelf ldd strip grep; do
  command -v "$tool" >/dev/null || fail "$tool is needed and not installed"
done

case "$libdir_rel:$includedir_rel" in
  /*|*:/*|:*|*:) fail "needs CMAKE_INSTALL_LIBDIR and INCLUDEDIR relative to the prefix, not '$libdir_rel' and '$includedir_rel'" ;;
esac
version_part() { sed -n "s/^#define SK_VERSION_$1 *\([0-9][0-9]*\).*/\1/p" "$src/include/sockkit/version.h"; }
major=$(version_part MAJOR) minor=$(version_part MINOR) patch=$(version_part PATCH)
version="$major.$minor.$patch"

work="$build/consumer-test"
prefix="$work/prefix"
libdir="$prefix/$libdir_rel"
rm -rf "$work"
mkdir -p "$work"
cd "$work"
config_args=()
[ -n "$config" ] && config_args=(--config "$config")
# Warnings a user's program would see from the installed headers fail the test.
strict=(-Wall -Wextra -Werror)
read -r -a extra <<<"$flags"

step "1. cmake --install into $prefix"
"$cmake" --install "$build" --prefix "$prefix" "${config_args[@]}"
for f in "$prefix/$includedir_rel/sockkit.h" \
         "$libdir/libsockkit.a" \
         "$libdir/libsockkit.so.$version" \
         "$libdir/pkgconfig/sockkit.pc" \
         "$libdir/cmake/sockkit/sockkitConfig.cmake" \
         "$libdir/cmake/sockkit/sockkitConfigVersion.cmake" \
         "$libdir/cmake/sockkit/sockkitTargets.cmake"; do
  [ -f "$f" ] || fail "not installed: $f"
done
for h in "$src"/include/sockkit/*.h; do
  cmp -s "$h" "$prefix/$includedir_rel/sockkit/${h##*/}" || fail "header not installed as is: sockkit/${h##*/}"
done
[ "$(readlink "$libdir/libsockkit.so")" = "libsockkit.so.$major" ] || fail "libsockkit.so does not link to libsockkit.so.$major"
[ "$(readlink "$libdir/libsockkit.so.$major")" = "libsockkit.so.$version" ] || fail "libsockkit.so.$major does not link to libsockkit.so.$version"
readelf -d "$libdir/libsockkit.so.$version" | grep -F "Library soname: [libsockkit.so.$major]" >/dev/null ||
  fail "the SONAME of libsockkit.so.$version is not libsockkit.so.$major"
if readelf -d "$libdir/libsockkit.so.$version" | grep -E '\((RPATH|RUNPATH)\)'; then
  fail "the installed libsockkit.so has a run path"
fi
ls -l "$libdir" "$libdir/pkgconfig" "$libdir/cmake/sockkit"
cat "$libdir/pkgconfig/sockkit.pc"

step "2. pkg-config, shared library"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
[ "$(pkg-config --modversion sockkit)" = "$version" ] || fail "pkg-config --modversion sockkit is not $version"
echo "pkg-config --cflags --libs sockkit: $(pkg-config --cflags --libs sockkit)"
# shellcheck disable=SC2046 # word splitting of pkg-config output is intended
"$cc" "${strict[@]}" "${extra[@]}" -o app_pc_shared "$src/tests/consumer/app.c" $(pkg-config --cflags --libs sockkit)
needs_libsockkit_so app_pc_shared || fail "app_pc_shared does not need libsockkit.so"
resolved=$(LD_LIBRARY_PATH="$libdir" ldd ./app_pc_shared | sed -n 's/^[[:space:]]*libsockkit\.so[^ ]* => \([^ ]*\).*/\1/p')
[ "$resolved" = "$libdir/libsockkit.so.$major" ] || fail "app_pc_shared loads libsockkit from '$resolved', not $libdir"
LD_LIBRARY_PATH="$libdir" ./app_pc_shared || fail "app_pc_shared failed"

step "3. pkg-config --static, static library"
echo "pkg-config --static --libs sockkit: $(pkg-config --static --libs sockkit)"
# shellcheck disable=SC2046
"$cc" "${strict[@]}" "${extra[@]}" -o app_pc_static "$src/tests/consumer/app.c" $(pkg-config --cflags sockkit) \
  -Wl,-Bstatic $(pkg-config --static --libs sockkit) -Wl,-Bdynamic
if needs_libsockkit_so app_pc_static; then fail "app_pc_static needs libsockkit.so"; fi
env -u LD_LIBRARY_PATH ./app_pc_static || fail "app_pc_static failed"

step "4. find_package(sockkit) from a CMake project"
cmake_args=(-DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Release
            -DCMAKE_C_FLAGS="${strict[*]} $flags" -DCMAKE_EXE_LINKER_FLAGS="$flags")
"$cmake" -S "$src/tests/consumer" -B cmake-build "${cmake_args[@]}" -DSOCKKIT_WANT_VERSION="$major.$minor"
found_dir=$(sed -n 's/^sockkit_DIR:[A-Z]*=//p' cmake-build/CMakeCache.txt)
[ "$found_dir" = "$libdir/cmake/sockkit" ] || fail "find_package(sockkit) found '$found_dir', not $libdir/cmake/sockkit"
"$cmake" --build cmake-build
needs_libsockkit_so cmake-build/app_shared || fail "app_shared (sockkit::sockkit) does not need libsockkit.so"
if needs_libsockkit_so cmake-build/app_static; then fail "app_static (sockkit::sockkit_static) needs libsockkit.so"; fi
env -u LD_LIBRARY_PATH cmake-build/app_shared || fail "app_shared failed"
env -u LD_LIBRARY_PATH cmake-build/app_static || fail "app_static failed"

# The version file: SameMinorVersion while the major version is 0, SameMajorVersion after.
rejected=("$((major + 1)).0")
[ "$major" -eq 0 ] && [ "$minor" -gt 0 ] && rejected+=("0.$((minor - 1))")
for want in "${rejected[@]}"; do
  if "$cmake" -S "$src/tests/consumer" -B "cmake-reject-$want" "${cmake_args[@]}" \
       -DSOCKKIT_WANT_VERSION="$want" >"reject-$want.log" 2>&1; then
    fail "find_package(sockkit $want) accepted version $version"
  fi
  grep -q 'compatible with requested version' "reject-$want.log" || { cat "reject-$want.log"; fail "find_package(sockkit $want) failed for another reason"; }
  echo "find_package(sockkit $want) rejects $version: ok"
done

step "5. DESTDIR staging, and no path into the build or source tree"
stage="$work/stage"
staged_prefix="/opt/sockkit-consumer-test"
DESTDIR="$stage" "$cmake" --install "$build" --prefix "$staged_prefix" "${config_args[@]}" >/dev/null
[ "$(ls -A "$stage")" = "opt" ] || fail "DESTDIR install wrote outside DESTDIR$staged_prefix: $(ls -A "$stage")"
[ -f "$stage$staged_prefix/$libdir_rel/libsockkit.so.$version" ] || fail "DESTDIR install has no libsockkit.so.$version"
grep -qx "prefix=$staged_prefix" "$stage$staged_prefix/$libdir_rel/pkgconfig/sockkit.pc" ||
  fail "the staged sockkit.pc does not say prefix=$staged_prefix"
# Binaries are searched without their debugging information (which names the
# compiler's working directory and is meant to); a run path or __FILE__ would show.
# Sanitizer builds embed source paths in their checks by design: there, only the
# files that are not binaries are searched.
mkdir -p stripped
leaks="" searched=0
while IFS= read -r -d '' f; do
  subject="$f"
  case "$(head -c 8 "$f" | od -An -c | tr -d ' \n')" in
    177ELF*|'!<arch>\n'*)
      [ -z "$flags" ] || continue
      subject="stripped/$(basename "$f")"
      strip --strip-debug -o "$subject" "$f" ;;
  esac
  searched=$((searched + 1))
  if grep -aqF -e "$build" -e "$src" "$subject"; then
    leaks="$leaks ${f#"$stage"}"
  fi
done < <(find "$stage" -type f -print0)
[ -z "$leaks" ] || fail "installed files refer to $build or $src:$leaks"
echo "$searched staged files searched$([ -z "$flags" ] || echo ' (binaries left out: sanitizer build)'), none refers to $src or $build"

step "6. the examples' component: the programs and sknc(1)"
# Installed only when asked (SOCKKIT_INSTALL_EXAMPLES=ON, or this component alone).
if [ -x "$build/examples/sknc" ]; then
  if [ -e "$prefix/bin/sknc" ] && ! grep -q '^SOCKKIT_INSTALL_EXAMPLES:BOOL=ON' "$build/CMakeCache.txt"; then
    fail "the examples were installed without SOCKKIT_INSTALL_EXAMPLES"
  fi
  "$cmake" --install "$build" --prefix "$prefix" --component Examples "${config_args[@]}" >examples-install.log
  for p in sknc server client chat-server chat-client; do
    [ -x "$prefix/bin/$p" ] || fail "not installed with the Examples component: bin/$p"
  done
  [ -f "$prefix/share/man/man1/sknc.1" ] || fail "sknc.1 is not installed"
  resolved=$(env -u LD_LIBRARY_PATH ldd "$prefix/bin/sknc" | sed -n 's/^[[:space:]]*libsockkit\.so[^ ]* => \(.*\) (0x[0-9a-f]*)$/\1/p')
  [ "$(realpath "$resolved")" = "$(realpath "$libdir/libsockkit.so.$version")" ] ||
    fail "the installed sknc loads libsockkit from '$resolved', not $libdir"
  env -u LD_LIBRARY_PATH "$prefix/bin/sknc" --help >sknc-help.txt || fail "sknc --help failed"
  # Every flag --help lists is in the manual, and the other way round.
  help_flags=$(grep -oE '^[[:space:]]+-[A-Za-z]' sknc-help.txt | tr -d ' \t' | sort -u)
  man_flags=$(sed -n 's/^\.It Fl \([A-Za-z]\).*/-\1/p' "$src/examples/sknc.1" | sort -u)
  [ -n "$help_flags" ] && [ "$help_flags" = "$man_flags" ] ||
    fail "sknc --help lists $(echo $help_flags), sknc.1 documents $(echo $man_flags)"
  if command -v man >/dev/null; then
    MANPATH="$prefix/share/man" man -w 1 sknc >/dev/null || fail "man 1 sknc finds no page"
  fi
  echo "bin/sknc (libsockkit from $libdir) and the other examples, sknc.1 with the same flags as --help"
else
  echo "(the examples are not built: step left out)"
fi

printf '\ninstall.consumer: all checks passed\n'
