#!/usr/bin/env bash
# The packages test (CTest: package.deb; CI runs it with --dpkg-install too).
#   1. cpack: the .tar.gz and the two .deb packages of this build (cmake/Packaging.cmake);
#   2. checks each .deb: its name, version, dependencies, and contents (the runtime
#      package holds the shared library only, the -dev package the rest, no file in both);
#   3. extracts both with `dpkg -x` into a scratch root (nothing is installed on the
#      system) and builds tests/consumer/app.c against that root, as another program
#      would against the installed packages: pkg-config (with PKG_CONFIG_SYSROOT_DIR),
#      shared and static (`pkg-config --static --libs sockkit`, which must give a
#      complete static link line), and find_package(sockkit); runs each program;
#      with the man pages in the -dev package, `man 3 sk_tcp_send_all` must find its page;
#   4. checks the .tar.gz holds the same files in one top folder, unpacks it into a
#      folder whose path has a space, and builds and runs the consumer against it with
#      pkg-config (PKG_CONFIG_PATH, shared and static) and find_package
#      (CMAKE_PREFIX_PATH): the archive is relocatable;
#   5. with --dpkg-install (root only, for a throwaway CI machine): dpkg -i of both
#      packages, the consumer built against /usr with plain pkg-config and run, then
#      dpkg --purge. It refuses when a libsockkit package is already installed.
#
# usage: deb.sh --build-dir=DIR --source-dir=DIR [--cpack=CPACK] [--cmake=CMAKE]
#               [--cc=CC] [--flags="EXTRA FLAGS"] [--dpkg-install]
# Exit status 77 (skipped) without dpkg-deb or pkg-config.
set -euo pipefail

build="" src="" cpack="cpack" cmake="cmake" cc="cc" flags="" dpkg_install=0
for arg in "$@"; do
  case "$arg" in
    --build-dir=*) build="${arg#*=}" ;;
    --source-dir=*) src="${arg#*=}" ;;
    --cpack=*) cpack="${arg#*=}" ;;
    --cmake=*) cmake="${arg#*=}" ;;
    --cc=*) cc="${arg#*=}" ;;
    --flags=*) flags="${arg#*=}" ;;
    --dpkg-install) dpkg_install=1 ;;
    *) echo "deb.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done
[ -n "$build" ] && [ -n "$src" ] || { echo "usage: deb.sh --build-dir=DIR --source-dir=DIR [...]" >&2; exit 2; }
build=$(cd "$build" && pwd -P)
src=$(cd "$src" && pwd -P)

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'package.deb: FAILED: %s\n' "$*" >&2; exit 1; }
needs_libsockkit_so() { readelf -d "$1" | grep -E 'NEEDED.*\[libsockkit\.so' >/dev/null; }
for tool in dpkg-deb pkg-config; do
  command -v "$tool" >/dev/null || { echo "deb.sh: SKIPPED: $tool is not installed"; exit 77; }
done
for tool in readelf tar "$cpack" "$cmake" "$cc"; do
  command -v "$tool" >/dev/null || fail "$tool is needed and not installed"
done

version_part() { sed -n "s/^#define SK_VERSION_$1 *\([0-9][0-9]*\).*/\1/p" "$src/include/sockkit/version.h"; }
major=$(version_part MAJOR) minor=$(version_part MINOR) patch=$(version_part PATCH)
version="$major.$minor.$patch"
runtime="libsockkit$major" dev="libsockkit-dev"
read -r -a extra <<<"$flags"
strict=(-Wall -Wextra -Werror)

work="$build/package-test"
rm -rf "$work"
mkdir -p "$work/out"
cd "$work"

step "1. cpack (DEB and TGZ) into $work/out"
"$cpack" --config "$build/CPackConfig.cmake" -G "DEB;TGZ" -B "$work/out" >cpack.log 2>&1 ||
  { cat cpack.log; fail "cpack failed"; }
grep -E '^CPack: - package: ' cpack.log || cat cpack.log
arch=$(dpkg-deb -f "$(ls out/"$runtime"_*.deb | head -n 1)" Architecture 2>/dev/null) || fail "no $runtime .deb in out/: $(ls out)"
runtime_deb="out/${runtime}_${version}_${arch}.deb"
dev_deb="out/${dev}_${version}_${arch}.deb"
tgz=$(ls out/libsockkit-"$version"-*.tar.gz 2>/dev/null | head -n 1)
for f in "$runtime_deb" "$dev_deb" "$tgz"; do
  [ -n "$f" ] && [ -f "$f" ] || fail "missing package: ${f:-libsockkit-$version-*.tar.gz} (made: $(ls out))"
done

step "2. package metadata and contents"
for deb in "$runtime_deb" "$dev_deb"; do
  echo "-- $deb"
  dpkg-deb -f "$deb" Package Version Architecture Section Depends Description | sed 's/^/   /'
  dpkg-deb -c "$deb" | awk '{ print "   " $1 " " $6 ($7 ? " " $7 " " $8 : "") }'
done
[ "$(dpkg-deb -f "$runtime_deb" Package)" = "$runtime" ] || fail "runtime package is not named $runtime"
[ "$(dpkg-deb -f "$dev_deb" Package)" = "$dev" ] || fail "dev package is not named $dev"
[ "$(dpkg-deb -f "$runtime_deb" Version)" = "$version" ] || fail "runtime package version is not $version"
dpkg-deb -f "$dev_deb" Depends | grep -F "$runtime (= $version)" >/dev/null || fail "$dev does not depend on $runtime (= $version)"
dpkg-deb -f "$runtime_deb" Depends | grep 'libc6' >/dev/null || fail "$runtime does not depend on libc6"

files_of() { dpkg-deb -c "$1" | awk '$1 !~ /^d/ { print $6 }' | sed 's|^\./|/|' | sort; }
files_of "$runtime_deb" >runtime.files
files_of "$dev_deb" >dev.files
# The runtime package: the shared library and its SONAME link, nothing else.
libdir=$(sed -n 's|^\(.*\)/libsockkit\.so\.'"$version"'$|\1|p' runtime.files)
[ -n "$libdir" ] || fail "$runtime has no libsockkit.so.$version"
printf '%s\n' "$libdir/libsockkit.so.$major" "$libdir/libsockkit.so.$version" | sort >runtime.expected
diff -u runtime.expected runtime.files || fail "$runtime holds other files than the shared library"
[ "$(dpkg-deb -c "$runtime_deb" | awk -v f=".$libdir/libsockkit.so.$major" '$6 == f { print $8 }')" = "libsockkit.so.$version" ] ||
  fail "$libdir/libsockkit.so.$major does not link to libsockkit.so.$version"
# The -dev package: headers, the .so link, the static library, pkg-config, CMake package.
for f in /usr/include/sockkit.h "$libdir/libsockkit.so" "$libdir/libsockkit.a" \
         "$libdir/pkgconfig/sockkit.pc" "$libdir/cmake/sockkit/sockkitConfig.cmake" \
         "$libdir/cmake/sockkit/sockkitConfigVersion.cmake" "$libdir/cmake/sockkit/sockkitTargets.cmake"; do
  grep -qxF "$f" dev.files || fail "$dev lacks $f"
done
for h in "$src"/include/sockkit/*.h; do
  grep -qxF "/usr/include/sockkit/${h##*/}" dev.files || fail "$dev lacks /usr/include/sockkit/${h##*/}"
done
both=$(comm -12 runtime.files dev.files)
[ -z "$both" ] || fail "files in both packages: $both"
n_man=$(grep -c '^/usr/share/man/man3/' dev.files || true)
echo "$runtime: $(wc -l <runtime.files) files; $dev: $(wc -l <dev.files) files ($n_man man pages)"

step "3. dpkg -x into a scratch root; programs built against it"
root="$work/root"
dpkg-deb -x "$runtime_deb" "$root"
dpkg-deb -x "$dev_deb" "$root"
pc_dir="$root$libdir/pkgconfig"
grep -qx 'prefix=/usr' "$pc_dir/sockkit.pc" || { cat "$pc_dir/sockkit.pc"; fail "sockkit.pc does not say prefix=/usr"; }
if grep -rlF -e "$build" -e "$src" "$root/usr/include" "$pc_dir" "$root$libdir/cmake"; then
  fail "packaged files refer to the build or source tree"
fi
pc() { PKG_CONFIG_SYSROOT_DIR="$root" PKG_CONFIG_LIBDIR="$pc_dir" PKG_CONFIG_PATH="" pkg-config "$@"; }
[ "$(pc --modversion sockkit)" = "$version" ] || fail "pkg-config --modversion sockkit is not $version"
echo "pkg-config --cflags --libs sockkit:          $(pc --cflags --libs sockkit)"
echo "pkg-config --static --libs sockkit:          $(pc --static --libs sockkit)"
# shellcheck disable=SC2046 # word splitting of pkg-config output is intended
"$cc" "${strict[@]}" "${extra[@]}" -o app_shared "$src/tests/consumer/app.c" $(pc --cflags --libs sockkit)
needs_libsockkit_so app_shared || fail "app_shared does not need libsockkit.so"
resolved=$(LD_LIBRARY_PATH="$root$libdir" ldd ./app_shared | sed -n 's/^[[:space:]]*libsockkit\.so[^ ]* => \([^ ]*\).*/\1/p')
[ "$resolved" = "$root$libdir/libsockkit.so.$major" ] || fail "app_shared loads libsockkit from '$resolved', not the extracted package"
LD_LIBRARY_PATH="$root$libdir" ./app_shared || fail "app_shared failed"
# The static link line alone must be complete: libsockkit.a and what it needs (-pthread).
# shellcheck disable=SC2046
"$cc" "${strict[@]}" "${extra[@]}" -o app_static "$src/tests/consumer/app.c" $(pc --cflags sockkit) \
  -Wl,-Bstatic $(pc --static --libs sockkit) -Wl,-Bdynamic
if needs_libsockkit_so app_static; then fail "app_static needs libsockkit.so"; fi
env -u LD_LIBRARY_PATH ./app_static || fail "app_static failed"
# A fully static program: pkg-config --static must name every library libsockkit.a needs.
# (glibc warns that getaddrinfo in a static program needs its shared NSS modules at
# run time: expected, and why -Werror is not used for this link.)
# shellcheck disable=SC2046
if [ -n "$flags" ]; then
  echo "(sanitizer build: the fully static link is left out)"
elif "$cc" -static -o app_full_static "$src/tests/consumer/app.c" $(pc --cflags sockkit) \
     $(pc --static --libs sockkit) >full_static.log 2>&1; then
  if readelf -d app_full_static | grep NEEDED >/dev/null; then fail "app_full_static needs shared libraries"; fi
  ./app_full_static || fail "app_full_static failed"
  echo "fully static program linked with \$(pkg-config --static --libs sockkit) alone, and ran"
else
  grep -q 'cannot find -lc\b\|cannot find -lpthread' full_static.log && echo "(no static libc here: fully static link left out)" ||
    { cat full_static.log; fail "a fully static link with pkg-config --static --libs sockkit failed"; }
fi
"$cmake" -S "$src/tests/consumer" -B cmake-build -DCMAKE_PREFIX_PATH="$root/usr" -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS="${strict[*]} $flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" \
  -DSOCKKIT_WANT_VERSION="$major.$minor" >cmake-build.log 2>&1 || { cat cmake-build.log; fail "find_package(sockkit) against the extracted packages failed"; }
found_dir=$(sed -n 's/^sockkit_DIR:[A-Z]*=//p' cmake-build/CMakeCache.txt)
[ "$found_dir" = "$root$libdir/cmake/sockkit" ] || fail "find_package(sockkit) found '$found_dir', not the extracted package"
"$cmake" --build cmake-build >>cmake-build.log 2>&1 || { cat cmake-build.log; fail "building the find_package(sockkit) consumer failed"; }
env -u LD_LIBRARY_PATH cmake-build/app_shared || fail "app_shared (find_package) failed"
env -u LD_LIBRARY_PATH cmake-build/app_static || fail "app_static (find_package) failed"
echo "find_package(sockkit) in $found_dir: both targets built and ran"
if [ "$n_man" -gt 0 ]; then
  [ -f "$root/usr/share/man/man3/sk_tcp_send_all.3" ] || fail "$dev has man pages but not sk_tcp_send_all.3"
  target=$(sed -n 's/^\.so //p' "$root/usr/share/man/man3/sk_tcp_send_all.3")
  [ -f "$root/usr/share/man/$target" ] || fail "man page sk_tcp_send_all.3 points to $target, which is not packaged"
  if command -v man >/dev/null; then
    MANPATH="$root/usr/share/man" man -w 3 sk_tcp_send_all >/dev/null || fail "man 3 sk_tcp_send_all finds no page"
    MANPATH="$root/usr/share/man" man -P cat 3 sk_tcp_send_all 2>/dev/null | grep 'sk_tcp_send_all' >/dev/null ||
      fail "man 3 sk_tcp_send_all does not show it"
  fi
  echo "man 3 sk_tcp_send_all: .so $target"
else
  echo "(no man pages in $dev: the docs target was not built before cpack)"
fi

step "4. the .tar.gz: one top folder, unpacked into a folder whose path has a space"
# The archive holds one folder, libsockkit-X.Y.Z-<system>/, and below it the files of
# the two packages below /usr. Unpacked anywhere, pkg-config (sockkit.pc finds its
# prefix from ${pcfiledir}) and find_package (the CMake package from its own place)
# build programs against it, shared and static.
tar -tzf "$tgz" | sed 's|^\./||' | grep -v '/$' | grep . | sort >tgz.list
top=$(sed 's|/.*||' tgz.list | sort -u)
[ "$(printf '%s\n' "$top" | wc -l)" -eq 1 ] || fail "$tgz has more than one top folder: $top"
[ "$top" = "$(basename "$tgz" .tar.gz)" ] || fail "$tgz's top folder is $top, not named as the archive"
sed "s|^$top/||" tgz.list | sort >tgz.files
sed 's|^/usr/||' runtime.files dev.files | sort >tgz.expected
diff -u tgz.expected tgz.files || fail "$tgz does not hold the same files as the two packages"
unpacked_in="$work/unpacked here"
mkdir "$unpacked_in"
tar -xzf "$tgz" -C "$unpacked_in"
u="$unpacked_in/$top"
tlib="$u/${libdir#/usr/}"
grep -qxE 'prefix=\$\{pcfiledir\}(/\.\.)+' "$tlib/pkgconfig/sockkit.pc" ||
  { cat "$tlib/pkgconfig/sockkit.pc"; fail "the archive's sockkit.pc does not find its prefix from \${pcfiledir}"; }
if grep -rlF -e "$build" -e "$src" -e "/usr/local" "$u/include" "$tlib/pkgconfig" "$tlib/cmake"; then
  fail "the archive's files name the build tree, the source tree or a fixed prefix"
fi
upc() { PKG_CONFIG_PATH="$tlib/pkgconfig" PKG_CONFIG_LIBDIR="" pkg-config "$@"; }
# pkg-config escapes the space with a backslash, as make's shell reads it: eval does too.
eval "pc_shared=($(upc --cflags --libs sockkit))"
eval "pc_cflags=($(upc --cflags sockkit))"
eval "pc_static=($(upc --static --libs sockkit))"
"$cc" "${strict[@]}" "${extra[@]}" -o tgz_app_shared "$src/tests/consumer/app.c" "${pc_shared[@]}"
resolved=$(LD_LIBRARY_PATH="$tlib" ldd ./tgz_app_shared | sed -n 's/^[[:space:]]*libsockkit\.so[^ ]* => \(.*\) (0x[0-9a-f]*)$/\1/p')
[ "$(realpath "$resolved")" = "$(realpath "$tlib/libsockkit.so.$version")" ] ||
  fail "tgz_app_shared loads libsockkit from '$resolved', not the unpacked archive"
LD_LIBRARY_PATH="$tlib" ./tgz_app_shared || fail "tgz_app_shared failed"
"$cc" "${strict[@]}" "${extra[@]}" -o tgz_app_static "$src/tests/consumer/app.c" "${pc_cflags[@]}" \
  -Wl,-Bstatic "${pc_static[@]}" -Wl,-Bdynamic
if needs_libsockkit_so tgz_app_static; then fail "tgz_app_static needs libsockkit.so"; fi
env -u LD_LIBRARY_PATH ./tgz_app_static || fail "tgz_app_static failed"
echo "pkg-config with PKG_CONFIG_PATH='$tlib/pkgconfig': shared and static built and ran"
"$cmake" -S "$src/tests/consumer" -B tgz-cmake-build -DCMAKE_PREFIX_PATH="$u" -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS="${strict[*]} $flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" \
  -DSOCKKIT_WANT_VERSION="$major.$minor" >tgz-cmake-build.log 2>&1 ||
  { cat tgz-cmake-build.log; fail "find_package(sockkit) against the unpacked archive failed"; }
found_dir=$(sed -n 's/^sockkit_DIR:[A-Z]*=//p' tgz-cmake-build/CMakeCache.txt)
[ "$(realpath "$found_dir")" = "$(realpath "$tlib/cmake/sockkit")" ] ||
  fail "find_package(sockkit) found '$found_dir', not the unpacked archive"
"$cmake" --build tgz-cmake-build >>tgz-cmake-build.log 2>&1 || { cat tgz-cmake-build.log; fail "building against the unpacked archive failed"; }
env -u LD_LIBRARY_PATH tgz-cmake-build/app_shared || fail "app_shared (find_package, unpacked archive) failed"
env -u LD_LIBRARY_PATH tgz-cmake-build/app_static || fail "app_static (find_package, unpacked archive) failed"
echo "$tgz: one folder $top/, the same $(wc -l <tgz.files) files as the two packages; built against from '$unpacked_in'"

if [ "$dpkg_install" -eq 1 ]; then
  step "5. dpkg -i into the system, build against /usr, dpkg --purge"
  [ "$(id -u)" -eq 0 ] || fail "--dpkg-install needs root"
  for p in "$runtime" "$dev"; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -E 'installed|config-files' >/dev/null; then
      fail "$p is already installed here (or its configuration is): not touching it"
    fi
  done
  trap 'dpkg --purge "$dev" "$runtime" >/dev/null 2>&1 || true' EXIT
  dpkg -i "$runtime_deb" "$dev_deb"
  env -u PKG_CONFIG_PATH -u PKG_CONFIG_LIBDIR -u PKG_CONFIG_SYSROOT_DIR pkg-config --modversion sockkit
  # shellcheck disable=SC2046
  "$cc" "${strict[@]}" "${extra[@]}" -o app_system "$src/tests/consumer/app.c" $(env -u PKG_CONFIG_PATH pkg-config --cflags --libs sockkit)
  env -u LD_LIBRARY_PATH ldd ./app_system | grep libsockkit
  env -u LD_LIBRARY_PATH ./app_system || fail "app_system failed"
  # shellcheck disable=SC2046
  "$cc" "${strict[@]}" "${extra[@]}" -o app_system_static "$src/tests/consumer/app.c" \
    $(env -u PKG_CONFIG_PATH pkg-config --cflags sockkit) -Wl,-Bstatic $(env -u PKG_CONFIG_PATH pkg-config --static --libs sockkit) -Wl,-Bdynamic
  ./app_system_static || fail "app_system_static failed"
  [ "$n_man" -eq 0 ] || man -w 3 sk_tcp_send_all || fail "man 3 sk_tcp_send_all finds no installed page"
  dpkg --purge "$dev" "$runtime"
  trap - EXIT
  for p in "$runtime" "$dev"; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -E 'installed|config-files' >/dev/null; then
      fail "dpkg --purge left $p behind"
    fi
  done
  [ ! -e "/usr/include/sockkit.h" ] || fail "dpkg --purge left /usr/include/sockkit.h"
  echo "dpkg -i, a program built against /usr and run, dpkg --purge: ok"
fi

printf '\npackage.deb: all checks passed\n'
