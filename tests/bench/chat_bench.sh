#!/usr/bin/env bash
# chat_bench.sh: examples/chat-server (on libsockkit) against its raw-epoll twin
# (tests/bench/chat_raw_epoll.c), under the same load from chat_load. A measurement
# tool: speed is never asserted; --smoke (what CTest runs) checks correctness only.
#
#   tests/bench/chat_bench.sh [options] [BUILD_DIR]
#
# BUILD_DIR (default: build) holds examples/chat-server, tests/bench/chat_raw_epoll and
# tests/bench/chat_load; --ours, --raw and --load name the programs instead.
#
# For each number of clients (--sizes, default "20 100 1000") it runs both servers
# interleaved, --rounds times (default 5; ours then raw in odd rounds, raw then ours in
# even ones), each run one chat_load with one more client that never reads (-x) and
# lines of --bytes bytes (default 1000), enough lines for about --deliveries
# deliveries (default 8000000). It prints the best and the median deliveries per
# second of each server, measured from the moment the client that never reads was
# seen leaving (the steady state; both servers first hold their input up to 1 s while
# it might still be draining); the ratio ours / raw of the bests; the median of the
# ratios within each round (two runs next to each other in time met about the same
# load from other programs); and the server's processor time per million deliveries
# (the least of the rounds), which other programs disturb less than wall time. Then --idle clients (default
# 10000) that only connect: each server's peak memory (VmHWM, best of --idle-rounds,
# default 2) and its resident memory per client above what it held before the first
# one. Every run also checks every delivery; a run that fails is reported and makes
# the exit status 1.
#
#   --smoke     a few seconds: 5 and 20 clients, small lines, one round, 50 idle
#               clients; correctness only (exit status 0 when every check passed)
#   --cpu LIST  run chat_load and the server (its child) on these processors only
#               (taskset -c LIST); "--cpu 1" puts both on one processor, where loopback
#               TCP is fastest and other programs on a shared machine disturb less
#   --log DIR   keep every run's chat_load output there
set -u

build=build
ours= raw= load=
rounds=5
sizes="20 100 1000"
bytes=1000
deliveries=8000000
idle=10000
idle_rounds=2
smoke=0
logdir=
cpu=

usage() {
    sed -n '2,/^set -u/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
    exit 2
}

while [ $# -gt 0 ]; do
    case "$1" in
    --ours) ours=$2; shift ;;
    --raw) raw=$2; shift ;;
    --load) load=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    --sizes) sizes=$2; shift ;;
    --bytes) bytes=$2; shift ;;
    --deliveries) deliveries=$2; shift ;;
    --idle) idle=$2; shift ;;
    --idle-rounds) idle_rounds=$2; shift ;;
    --log) logdir=$2; shift ;;
    --cpu) cpu=$2; shift ;;
    --smoke) smoke=1 ;;
    -h|--help) usage ;;
    -*) echo "chat_bench.sh: unknown option $1" >&2; usage ;;
    *) build=$1 ;;
    esac
    shift
done
: "${ours:=$build/examples/chat-server}"
: "${raw:=$build/tests/bench/chat_raw_epoll}"
: "${load:=$build/tests/bench/chat_load}"
if [ "$smoke" = 1 ]; then
    rounds=1 sizes="5 20" bytes=200 deliveries=20000 idle=50 idle_rounds=1
fi
for p in "$ours" "$raw" "$load"; do
    if [ ! -x "$p" ]; then
        echo "chat_bench.sh: $p: not an executable (build first, or name it with --ours/--raw/--load)" >&2
        exit 2
    fi
done
if [ -n "$logdir" ]; then
    mkdir -p "$logdir" || exit 2
fi
pin=()
if [ -n "$cpu" ]; then
    if ! command -v taskset >/dev/null; then
        echo "chat_bench.sh: --cpu needs taskset (util-linux)" >&2
        exit 2
    fi
    pin=(taskset -c "$cpu")
fi

failures=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/chat_bench.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT

# run NAME SERVER ARGS...: one chat_load run; its RESULT line goes to $tmp/res.
run() {
    local name=$1 server=$2 out
    shift 2
    out="$tmp/out"
    ${pin[@]+"${pin[@]}"} "$load" "$@" "$server" >"$out" 2>&1
    local rc=$?
    if [ -n "$logdir" ]; then
        {
            echo "== $name: $load $* $server (exit $rc)"
            cat "$out"
        } >>"$logdir/chat_bench.log"
    fi
    if [ $rc -ne 0 ] || ! grep -q '^RESULT ' "$out" || grep -q '^RESULT .* errors=[1-9]' "$out"; then
        echo "chat_bench.sh: FAILED: $name: $load $* $server (exit $rc):" >&2
        grep -v '^RESULT ' "$out" | tail -15 >&2
        failures=$((failures + 1))
        return 1
    fi
    grep '^RESULT ' "$out" | tail -1 >"$tmp/res"
}

# field KEY < RESULT-lines: the values of KEY, one a line.
field() {
    sed -n "s/.* $1=\\([^ ]*\\).*/\\1/p"
}

# rate_of < RESULT-lines: each run's deliveries per second: from the moment the client
# that never reads was seen leaving, or over the whole run when it was not (a smoke run
# may end before that).
rate_of() {
    awk '{ s = 0; w = 0
           for (i = 1; i <= NF; i++) { split($i, kv, "=")
               if (kv[1] == "steady_rate") s = kv[2]; if (kv[1] == "rate") w = kv[2] }
           print (s > 0 ? s : w) }'
}

best() { sort -g | tail -1; }
median() {
    sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "chat_bench: ours=$ours raw=$raw load=$load"
echo "chat_bench: $(nproc) processors, $(uname -sr), $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "chat_bench: rounds=$rounds bytes=$bytes deliveries~$deliveries per run, one client that never reads${cpu:+, processors $cpu only}"
echo

for c in $sizes; do
    lines=$(( (deliveries + c * (c - 1) - 1) / (c * (c - 1)) ))
    [ "$lines" -lt 1 ] && lines=1
    : >"$tmp/ours.$c"
    : >"$tmp/raw.$c"
    : >"$tmp/pairs.$c"
    for r in $(seq 1 "$rounds"); do
        if [ $((r % 2)) = 1 ]; then order="ours raw"; else order="raw ours"; fi
        unset got
        declare -A got
        for who in $order; do
            if [ "$who" = ours ]; then srv=$ours; else srv=$raw; fi
            run "$who c=$c round $r" "$srv" -c "$c" -n "$lines" -s "$bytes" -x -t 600 || continue
            res=$(cat "$tmp/res")
            echo "$res" >>"$tmp/$who.$c"
            got[$who]=$(echo "$res" | rate_of)
            printf '  %-4s %5d clients, round %d: %s lines/s (whole run %s), server CPU %s s\n' "$who" "$c" "$r" \
                "$(echo "$res" | field steady_rate)" "$(echo "$res" | field rate)" "$(echo "$res" | field cpu_server)"
        done
        if [ -n "${got[ours]:-}" ] && [ -n "${got[raw]:-}" ]; then
            awk -v a="${got[ours]}" -v b="${got[raw]}" 'BEGIN { if (b > 0) print a / b }' >>"$tmp/pairs.$c"
        fi
    done
done
echo

printf '%-7s %11s %11s %11s %11s %7s %7s %10s %10s %6s\n' clients "ours best" "raw best" "ours med" "raw med" \
    ratio paired "ours CPU/M" "raw CPU/M" "CPU"
for c in $sizes; do
    for who in ours raw; do
        rate_of <"$tmp/$who.$c" >"$tmp/$who.$c.rate"
        awk '{ d = 0; cpu = 0
               for (i = 1; i <= NF; i++) { split($i, kv, "=")
                   if (kv[1] == "deliveries") d = kv[2]; if (kv[1] == "cpu_server") cpu = kv[2] }
               if (d > 0) print cpu * 1e6 / d }' "$tmp/$who.$c" >"$tmp/$who.$c.cpu"
    done
    ob=$(best <"$tmp/ours.$c.rate"); rb=$(best <"$tmp/raw.$c.rate")
    om=$(median <"$tmp/ours.$c.rate"); rm_=$(median <"$tmp/raw.$c.rate")
    oc=$(sort -g "$tmp/ours.$c.cpu" | head -1); rc=$(sort -g "$tmp/raw.$c.cpu" | head -1)
    pm=$(median <"$tmp/pairs.$c")
    ratio=$(awk -v a="${ob:-0}" -v b="${rb:-0}" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }')
    paired=$(awk -v p="${pm:-0}" 'BEGIN { if (p > 0) printf "%.3f", p; else print "-" }')
    cratio=$(awk -v a="${oc:-0}" -v b="${rc:-0}" 'BEGIN { if (a > 0) printf "%.3f", b / a; else print "-" }')
    printf '%-7s %11.0f %11.0f %11.0f %11.0f %7s %7s %10.3f %10.3f %6s\n' "$c" "${ob:-0}" "${rb:-0}" "${om:-0}" \
        "${rm_:-0}" "$ratio" "$paired" "${oc:-0}" "${rc:-0}" "$cratio"
done
echo "(lines/s: deliveries per second, best and median (med) of $rounds rounds; ratio = ours best / raw best;"
echo " paired = median over the rounds of ours / raw within one round; CPU/M = the server's processor"
echo " seconds per million deliveries, least of the rounds; CPU = raw / ours of those, above 1 when ours uses less)"
echo

: >"$tmp/idle.ours"
: >"$tmp/idle.raw"
for r in $(seq 1 "$idle_rounds"); do
    if [ $((r % 2)) = 1 ]; then order="ours raw"; else order="raw ours"; fi
    for who in $order; do
        if [ "$who" = ours ]; then srv=$ours; else srv=$raw; fi
        run "$who idle $idle round $r" "$srv" -c "$idle" -n 0 -t 600 || continue
        res=$(cat "$tmp/res")
        echo "$res" >>"$tmp/idle.$who"
    done
done
printf '%-8s %14s %14s %16s %16s\n' "idle" "ours VmHWM kB" "raw VmHWM kB" "ours kB/client" "raw kB/client"
oh=$(field hwm_kb <"$tmp/idle.ours" | sort -g | head -1)
rh=$(field hwm_kb <"$tmp/idle.raw" | sort -g | head -1)
opc=$(awk -v n="$idle" '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
                          print (v["rss_kb"] - v["rss_base_kb"]) / n }' "$tmp/idle.ours" | sort -g | head -1)
rpc=$(awk -v n="$idle" '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
                          print (v["rss_kb"] - v["rss_base_kb"]) / n }' "$tmp/idle.raw" | sort -g | head -1)
printf '%-8s %14s %14s %16.3f %16.3f\n' "$idle" "${oh:--}" "${rh:--}" "${opc:-0}" "${rpc:-0}"
echo "(VmHWM: peak resident memory of the server process, best of $idle_rounds; kB/client: (VmRSS with every"
echo " client welcomed - VmRSS before the first) / clients. The kernel's socket buffers are not in either.)"

if [ "$failures" -gt 0 ]; then
    echo "chat_bench: $failures run(s) FAILED their checks" >&2
    exit 1
fi
if [ "$smoke" = 1 ]; then
    echo "chat_bench: smoke: every run delivered every line to every other reading client exactly once, in order"
fi
exit 0
