#!/usr/bin/env bash
# System calls per operation, raw POSIX twin against libsockkit.
#
#   tests/bench/syscalls.sh [-b strace|perf] [-o DIR] [-s SCALE] SK_BENCH [VARIANT...]
#
# SK_BENCH is a built sk_bench (or sk_bench-static). Without VARIANTs, every variant
# of `SK_BENCH --list` is counted. Each variant runs alone (`SK_BENCH --only V --n N`)
# twice, with N and 2N operations, so that everything done once (start-up, connecting,
# the peer thread) cancels out: calls/op = (calls(2N) - calls(N)) / (ops(2N) - ops(N)).
#
#   measured  the thread that runs the measured side (the main thread) alone,
#             with its calls by name;
#   process   every thread: the measured side plus its peer (the peer is the same
#             raw code for both variants, but what it does can depend on timing).
#
# Backends:
#   strace (default)  strace -f -ff (one file per thread) for the measured thread, and
#                     strace -c -f for the process. Exact, but strace stops the
#                     program at every call, which changes timing: a receiver that
#                     used to find data waiting may now wait for it, and a batch
#                     receiver then gets one datagram per call.
#   perf              perf record -e raw_syscalls:sys_enter, counted per thread: close
#                     to normal speed, so batching and waiting look as they do
#                     without a tracer. Needs perf and access to tracepoints.
# The raw files stay in DIR (default: a new temporary folder) so that every figure can
# be checked by hand (DIR/V.N.ff.<tid> and DIR/V.N.c.txt, or DIR/V.N.perf.txt).
set -euo pipefail

backend=strace
out=""
scale=1
while getopts "b:o:s:h" o; do
  case "$o" in
    b) backend="$OPTARG" ;;
    o) out="$OPTARG" ;;
    s) scale="$OPTARG" ;;
    h) sed -n '2,28p' "$0"; exit 0 ;;
    *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
if [ $# -lt 1 ]; then
  echo "usage: $0 [-b strace|perf] [-o DIR] [-s SCALE] SK_BENCH [VARIANT...]" >&2
  exit 2
fi
bench="$1"
shift
case "$backend" in
  strace) command -v strace >/dev/null || { echo "$0: strace is not installed (apt-get install strace)" >&2; exit 77; } ;;
  perf) command -v perf >/dev/null || { echo "$0: perf is not installed" >&2; exit 77; } ;;
  *) echo "$0: unknown backend $backend" >&2; exit 2 ;;
esac
[ -x "$bench" ] || { echo "$0: $bench is not an executable" >&2; exit 2; }
if [ -z "$out" ]; then
  out="$(mktemp -d "${TMPDIR:-/tmp}/sk-syscalls.XXXXXX")"
fi
mkdir -p "$out"

if [ $# -gt 0 ]; then
  variants=("$@")
else
  mapfile -t variants < <("$bench" --list | awk '/^variants/{v=1;next} /^rows/{v=0} v{print $1}')
fi

# perf reports system call numbers: their names, from the C library's header.
if [ "$backend" = perf ]; then
  cc="${CC:-cc}"
  echo '#include <sys/syscall.h>' | "$cc" -dM -E - |
    awk '$1 == "#define" && $2 ~ /^__NR_/ && $3 ~ /^[0-9]+$/ { print $3, substr($2, 6) }' >"$out/nr.txt"
fi

# Operations for the smaller run, by workload (the larger run does twice as many).
ops_for() {
  local n
  case "$1" in
    bulk-*) n=2000 ;;        # 64 KiB writes or reads: 125 MiB
    pingpong-*) n=4000 ;;
    msg64-* | lines-* | headbody-*) n=40000 ;;
    udp-*) n=40000 ;;
    accept-* | connect-*) n=1000 ;;
    reqresp-*) n=4 ;;        # the Nagle variants take 40 ms an exchange
    *) n=1000 ;;
  esac
  awk -v n="$n" -v s="$scale" 'BEGIN { n = int(n * s); print (n < 1 ? 1 : n) }'
}

# The operations a run reports as done (datagrams received, for a UDP receiver).
ops_done() {
  sed -n 's/^[^:]*: \([0-9]*\) of [0-9]* ops.*/\1/p' "$1"
}

# Runs variant $1 with $2 ops; leaves $out/$1.$2.names (the measured thread's calls:
# "name count" lines, sorted) and $out/$1.$2.total (the process's calls), and prints
# the ops done.
count_run() {
  local v="$1" n="$2" base="$out/$1.$2" tid ndone
  if [ "$backend" = strace ]; then
    rm -f "$base.ff".*
    if ! strace -f -ff -o "$base.ff" "$bench" --only "$v" --n "$n" >"$base.stdout" 2>"$base.stderr"; then
      echo "$0: $v --n $n failed:" >&2
      cat "$base.stderr" >&2
      return 1
    fi
    tid="$(sed -n 's/^sk_bench: measured thread \([0-9]*\)$/\1/p' "$base.stderr")"
    grep -ohE '^[a-z_0-9]+\(' "$base.ff.$tid" | tr -d '(' | sort | uniq -c | awk '{ print $2, $1 }' |
      sort >"$base.names"
    # The process's total, as strace -c -f counts it (a run of its own, as it would be
    # run by hand; its ops done are what the total is divided by).
    strace -c -f -o "$base.c.txt" "$bench" --only "$v" --n "$n" >"$base.c.stdout" 2>/dev/null || {
      echo "$0: $v --n $n failed under strace -c" >&2
      return 1
    }
    awk '$NF == "total" { print $4 }' "$base.c.txt" >"$base.total"
    echo "$(ops_done "$base.stdout") $(ops_done "$base.c.stdout")"
  else
    if ! perf record -q -e raw_syscalls:sys_enter -o "$base.perf.data" -- \
      "$bench" --only "$v" --n "$n" >"$base.stdout" 2>"$base.stderr"; then
      echo "$0: $v --n $n failed:" >&2
      cat "$base.stderr" >&2
      return 1
    fi
    tid="$(sed -n 's/^sk_bench: measured thread \([0-9]*\)$/\1/p' "$base.stderr")"
    perf script -i "$base.perf.data" -F tid,trace 2>/dev/null >"$base.perf.txt"
    rm -f "$base.perf.data"
    awk -v tid="$tid" 'NR == FNR { name[$1] = $2; next }
         $1 == tid && $2 == "NR" { c[($3 in name) ? name[$3] : "nr" $3]++ }
         END { for (k in c) print k, c[k] }' "$out/nr.txt" "$base.perf.txt" | sort >"$base.names"
    awk '$2 == "NR"' "$base.perf.txt" | wc -l >"$base.total"
    ndone="$(ops_done "$base.stdout")"
    echo "$ndone $ndone"
  fi
}

printf '%-26s %6s  %-9s %-9s  %s\n' "variant" "ops" "measured" "process" "measured thread, calls/op by name ($backend)"
printf '%-26s %6s  %-9s %-9s  %s\n' "" "" "calls/op" "calls/op" ""
for v in "${variants[@]}"; do
  n1="$(ops_for "$v")"
  n2=$((2 * n1))
  read -r d1 c1 < <(count_run "$v" "$n1") || continue
  read -r d2 c2 < <(count_run "$v" "$n2") || continue
  if [ -z "$d1" ] || [ -z "$d2" ] || [ -z "$c1" ] || [ -z "$c2" ] || [ "$d2" -le 0 ] || [ "$c2" -le 0 ]; then
    echo "$v: could not count (ops done: '$d1' and '$d2')" >&2
    continue
  fi
  # A UDP receiver counts the datagrams it got, which vary from run to run with the
  # losses, and a batch receiver's calls vary with how many were waiting: for those,
  # the 2N run alone (its start-up, a few dozen calls, is then part of the figure).
  mode="diff"
  case "$v" in udp-recv-* | udp-burst-*) mode="ratio" ;; esac
  if [ "$mode" = diff ] && { [ "$d2" -le "$d1" ] || [ "$c2" -le "$c1" ]; }; then
    mode="ratio"
  fi
  join -a1 -a2 -e 0 -o 0,1.2,2.2 "$out/$v.$n1.names" "$out/$v.$n2.names" |
    awk -v v="$v" -v mode="$mode" -v d1="$d1" -v d2="$d2" -v c1="$c1" -v c2="$c2" -v n="$n1" \
        -v p1="$(cat "$out/$v.$n1.total")" -v p2="$(cat "$out/$v.$n2.total")" '
      function fmt(x) { return (x < 0.1 && x > -0.1) ? sprintf("%.3f", x) : sprintf("%.2f", x) }
      {
        d = mode == "diff" ? ($3 - $2) / (d2 - d1) : $3 / d2
        total += d
        if (d >= 0.0005 || d <= -0.0005) detail = detail sprintf("%s %s  ", $1, fmt(d))
      }
      END {
        p = mode == "diff" ? (p2 - p1) / (c2 - c1) : p2 / c2
        printf "%-26s %6d  %-9s %-9s  %s%s\n", v, n, fmt(total), fmt(p), detail,
               mode == "diff" ? "" : sprintf("[per datagram received: %d of %d]", d2, 2 * n)
      }'
done
echo "(files in $out)"
