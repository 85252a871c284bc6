#!/usr/bin/env bash
# CTest: headers.openssl. <sockkit.h> in the same translation unit as OpenSSL's headers.
#
# OpenSSL owns an sk_ namespace of its own (its stacks: sk_free, sk_num, sk_X509_new,
# ...), mostly as macros, which would silently rewrite any name of ours that they share.
#   1. sockkit.h before and after OpenSSL's headers compiles, as C99 with
#      -Wall -Wextra -Wpedantic -Werror and (with a C++ compiler) as C++11, in a file
#      that uses names of both;
#   2. no sk_ / SK_ name of ours (every identifier and macro <sockkit.h> brings in)
#      is also a name of OpenSSL's headers (their macros and their identifiers).
# Skipped (status 77) where OpenSSL's headers are missing (Debian: libssl-dev).
#
# usage: openssl.sh --include=DIR [--cc=CC] [--cxx=CXX]
set -euo pipefail

inc="" cc="${CC:-cc}" cxx=""
for arg in "$@"; do
  case "$arg" in
    --include=*) inc="${arg#*=}" ;;
    --cc=*) cc="${arg#*=}" ;;
    --cxx=*) cxx="${arg#*=}" ;;
    *) echo "openssl.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done
[ -n "$inc" ] || { echo "usage: openssl.sh --include=DIR [--cc=CC] [--cxx=CXX]" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! printf '#include <openssl/ssl.h>\n' | "$cc" -E -x c - >/dev/null 2>&1; then
  echo "openssl.sh: SKIPPED: OpenSSL's headers are not installed (Debian: apt-get install libssl-dev)"
  exit 77
fi

# Every OpenSSL header of this list that the system has and that compiles alone.
includes=""
for h in ssl.h x509.h x509v3.h x509_vfy.h evp.h pem.h pkcs7.h pkcs12.h cms.h ocsp.h ct.h \
         conf.h asn1.h bio.h crypto.h safestack.h stack.h err.h ts.h srp.h ess.h crmf.h cmp.h; do
  if printf '#include <openssl/%s>\n' "$h" | "$cc" -E -x c - >/dev/null 2>&1; then
    includes="$includes#include <openssl/$h>
"
  fi
done
echo "OpenSSL $(printf '#include <openssl/opensslv.h>\nOPENSSL_VERSION_TEXT\n' | "$cc" -E -P -x c - | tail -n 1), headers: $(printf '%s' "$includes" | sed 's/#include //' | tr '\n' ' ')"

uses='
/* Names of both libraries in use. */
int use_both(void);
int use_both(void)
{
    STACK_OF(X509) *certs = sk_X509_new_null();
    sk_addr addr;
    int n = certs != NULL ? sk_X509_num(certs) : 0;
    sk_X509_free(certs);
    return n + sk_addr_parse(&addr, "127.0.0.1:80") + (sk_strerror(SK_ETIMEDOUT) != NULL);
}
'
printf '#include <sockkit.h>\n%s%s' "$includes" "$uses" >"$tmp/sockkit_first.c"
printf '%s#include <sockkit.h>\n%s' "$includes" "$uses" >"$tmp/openssl_first.c"
cp "$tmp/sockkit_first.c" "$tmp/sockkit_first.cpp"
cp "$tmp/openssl_first.c" "$tmp/openssl_first.cpp"

failed=0
compile() { # compile <description> <compiler and flags...> <file>
  local what=$1
  shift
  if "$@" >"$tmp/out.txt" 2>&1; then
    echo "ok: $what"
  else
    echo "FAILED: $what: $*"
    cat "$tmp/out.txt"
    failed=1
  fi
}
strict=(-Wall -Wextra -Wpedantic -Werror -fsyntax-only -I"$inc")
compile "C99, sockkit.h first" "$cc" -std=c99 "${strict[@]}" "$tmp/sockkit_first.c"
compile "C99, OpenSSL first" "$cc" -std=c99 "${strict[@]}" "$tmp/openssl_first.c"
if [ -n "$cxx" ] && command -v "$cxx" >/dev/null; then
  compile "C++11, sockkit.h first" "$cxx" -std=c++11 "${strict[@]}" "$tmp/sockkit_first.cpp"
  compile "C++11, OpenSSL first" "$cxx" -std=c++11 "${strict[@]}" "$tmp/openssl_first.cpp"
else
  echo "(no C++ compiler: the C++ translation units are left out)"
fi

# sk_ / SK_ names: macros (-dM) and identifiers of the preprocessed text (-E), of each side.
names() { # names <file with #includes>
  {
    "$cc" -E -dM -I"$inc" -x c "$1" | sed -n 's/^#define \([A-Za-z0-9_]*\).*/\1/p'
    "$cc" -E -P -I"$inc" -x c "$1" | grep -oE '\b[A-Za-z_][A-Za-z0-9_]*\b' || true
  } | grep -E '^(sk|SK)_' | LC_ALL=C sort -u
}
printf '#include <sockkit.h>\n' >"$tmp/ours.h"
printf '%s' "$includes" >"$tmp/theirs.h"
names "$tmp/ours.h" >"$tmp/ours.txt"
names "$tmp/theirs.h" >"$tmp/theirs.txt"
common=$(LC_ALL=C comm -12 "$tmp/ours.txt" "$tmp/theirs.txt")
echo "names: $(wc -l <"$tmp/ours.txt") sk_/SK_ names of ours, $(wc -l <"$tmp/theirs.txt") of OpenSSL's; in common: $(printf '%s' "$common" | grep -c . || true)"
if [ -n "$common" ]; then
  echo "FAILED: names of <sockkit.h> that OpenSSL's headers also define:"
  printf '  %s\n' $common
  failed=1
fi

[ "$failed" -eq 0 ] || exit 1
echo "headers.openssl: passed"
