#!/usr/bin/env bash
# chat_bench.sh: examples/chat-server (on libsockkit, "ours") against its raw-epoll twin
# (tests/bench/chat_raw_epoll.c, the same engine on raw system calls, "raw") and a plain
# hand-written epoll broadcast server (tests/bench/chat_plain_epoll.c: no engine, no
# TCP_NOTSENT_LOWAT, the least flow control, "plain"), under the same load from
# chat_load. A measurement tool: speed is never asserted; --smoke (what CTest runs)
# checks correctness only.
#
#   tests/bench/chat_bench.sh [options] [BUILD_DIR]
#
# BUILD_DIR (default: build) holds examples/chat-server, tests/bench/chat_raw_epoll,
# tests/bench/chat_plain_epoll and tests/bench/chat_load; --ours, --raw, --plain and
# --load name the programs instead (--plain "" leaves the plain server out).
#
# For each number of clients (--sizes, default "20 100 1000") it runs the servers
# interleaved, --rounds times (default 5; the order turns by one place each round:
# ours raw plain, raw plain ours, plain ours raw, ...), each run one chat_load with one
# more client that never reads (-x) and lines of --bytes bytes (default 1000), enough
# lines for about --deliveries deliveries (default 8000000). It prints the best and the
# median deliveries per second of each server, measured from the moment the client
# that never reads was seen leaving (the steady state; the servers first hold their
# input up to 1 s while it might still be draining); the ratios of the bests; the
# medians of the ratios within each round (runs next to each other in time met about
# the same load from other programs): ours / raw, ours / plain and raw / plain; and each
# server's processor time per million deliveries (the least of the rounds), which other
# programs disturb less than wall time. With --syscalls, one more run of each server
# at each size under `perf stat` (or `strace -c -f` where perf cannot count system
# calls; strace slows the server several times, which changes how much each call
# carries): its send calls (sendmsg + sendto + writev) per thousand deliveries, and
# all its system calls. Then --idle clients (default 10000, ours and raw only) that
# only connect: each server's peak memory (VmHWM, best of --idle-rounds, default 2)
# and its resident memory per client above what it held before the first one. Every
# run also checks every delivery; a run that fails is reported and makes the exit
# status 1.
#
#   --smoke     a few seconds: 5 and 20 clients, small lines, one round, 50 idle
#               clients; correctness only (exit status 0 when every check passed)
#   --cpu LIST  run chat_load and the server (its child) on these processors only
#               (taskset -c LIST); "--cpu 1" puts both on one processor, where loopback
#               TCP is fastest and other programs on a shared machine disturb less
#   --syscalls  count each server's system calls too (see above)
#   --log DIR   keep every run's chat_load output there
set -u

build=build
ours= raw= load=
plain=unset
syscalls=0
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
    --plain) plain=$2; shift ;;
    --syscalls) syscalls=1 ;;
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
[ "$plain" = unset ] && plain=$build/tests/bench/chat_plain_epoll
servers="ours raw${plain:+ plain}"
if [ "$smoke" = 1 ]; then
    rounds=1 sizes="5 20" bytes=200 deliveries=20000 idle=50 idle_rounds=1
fi
for p in "$ours" "$raw" ${plain:+"$plain"} "$load"; do
    if [ ! -x "$p" ]; then
        echo "chat_bench.sh: $p: not an executable (build first, or name it with --ours/--raw/--plain/--load)" >&2
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

# prog WHO: the program of server WHO.
prog() {
    case "$1" in ours) echo "$ours" ;; raw) echo "$raw" ;; plain) echo "$plain" ;; esac
}

# order R: the servers in round R's order (turned by one place per round).
order() {
    local list=($servers) n k out=()
    n=${#list[@]}
    for k in $(seq 0 $((n - 1))); do out+=("${list[$(( (k + $1 - 1) % n ))]}"); done
    echo "${out[@]}"
}

echo "chat_bench: ours=$ours raw=$raw plain=${plain:-(none)} load=$load"
echo "chat_bench: $(nproc) processors, $(uname -sr), $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "chat_bench: rounds=$rounds bytes=$bytes deliveries~$deliveries per run, one client that never reads${cpu:+, processors $cpu only}"
echo

# pairs: "A B" for every ratio printed, A / B.
pairs="ours:raw"
[ -n "$plain" ] && pairs="$pairs ours:plain raw:plain"

for c in $sizes; do
    lines=$(( (deliveries + c * (c - 1) - 1) / (c * (c - 1)) ))
    [ "$lines" -lt 1 ] && lines=1
    for who in $servers; do : >"$tmp/$who.$c"; done
    for pr in $pairs; do : >"$tmp/pair.$pr.$c"; done
    for r in $(seq 1 "$rounds"); do
        unset got
        declare -A got
        for who in $(order "$r"); do
            run "$who c=$c round $r" "$(prog "$who")" -c "$c" -n "$lines" -s "$bytes" -x -t 600 || continue
            res=$(cat "$tmp/res")
            echo "$res" >>"$tmp/$who.$c"
            got[$who]=$(echo "$res" | rate_of)
            printf '  %-5s %5d clients, round %d: %s lines/s (whole run %s), server CPU %s s\n' "$who" "$c" "$r" \
                "$(echo "$res" | field steady_rate)" "$(echo "$res" | field rate)" "$(echo "$res" | field cpu_server)"
        done
        for pr in $pairs; do
            a=${pr%%:*} b=${pr##*:}
            if [ -n "${got[$a]:-}" ] && [ -n "${got[$b]:-}" ]; then
                awk -v a="${got[$a]}" -v b="${got[$b]}" 'BEGIN { if (b > 0) print a / b }' >>"$tmp/pair.$pr.$c"
            fi
        done
    done
done
echo

printf '%-7s %-5s %11s %11s %10s %10s\n' clients server best median "CPU s/M" "+load s/M"
for c in $sizes; do
    for who in $servers; do
        rate_of <"$tmp/$who.$c" >"$tmp/$who.$c.rate"
        awk '{ d = 0; cpu = 0
               for (i = 1; i <= NF; i++) { split($i, kv, "=")
                   if (kv[1] == "deliveries") d = kv[2]; if (kv[1] == "cpu_server") cpu = kv[2] }
               if (d > 0) print cpu * 1e6 / d }' "$tmp/$who.$c" >"$tmp/$who.$c.cpu"
        awk '{ d = 0; cpu = 0
               for (i = 1; i <= NF; i++) { split($i, kv, "=")
                   if (kv[1] == "deliveries") d = kv[2]; if (kv[1] == "cpu_server" || kv[1] == "cpu_load") cpu += kv[2] }
               if (d > 0) print cpu * 1e6 / d }' "$tmp/$who.$c" >"$tmp/$who.$c.cpuall"
        b=$(best <"$tmp/$who.$c.rate"); m=$(median <"$tmp/$who.$c.rate")
        cm=$(sort -g "$tmp/$who.$c.cpu" | head -1)
        ca=$(median <"$tmp/$who.$c.cpuall")
        printf '%-7s %-5s %11.0f %11.0f %10.3f %10.3f\n' "$c" "$who" "${b:-0}" "${m:-0}" "${cm:-0}" "${ca:-0}"
    done
done
echo "(lines/s: deliveries per second, best and median of $rounds rounds; CPU s/M: the server's processor"
echo " seconds per million deliveries, least of the rounds; +load s/M: the server's and chat_load's together,"
echo " median of the rounds: on loopback the receiving side's processing of what a server sent late, after"
echo " the reader's window opened, is done by the reader, so a server can move work to chat_load)"
echo
printf '%-7s %-11s %8s %8s %8s\n' clients ratio bests paired CPU
for c in $sizes; do
    for pr in $pairs; do
        a=${pr%%:*} b=${pr##*:}
        ab=$(best <"$tmp/$a.$c.rate"); bb=$(best <"$tmp/$b.$c.rate")
        ac=$(sort -g "$tmp/$a.$c.cpu" | head -1); bc=$(sort -g "$tmp/$b.$c.cpu" | head -1)
        pm=$(median <"$tmp/pair.$pr.$c")
        printf '%-7s %-11s %8s %8s %8s\n' "$c" "$a/$b" \
            "$(awk -v a="${ab:-0}" -v b="${bb:-0}" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }')" \
            "$(awk -v p="${pm:-0}" 'BEGIN { if (p > 0) printf "%.3f", p; else print "-" }')" \
            "$(awk -v a="${ac:-0}" -v b="${bc:-0}" 'BEGIN { if (a > 0) printf "%.3f", b / a; else print "-" }')"
    done
done
echo "(bests: best A / best B; paired: median over the rounds of A / B within one round, the figure to"
echo " quote; CPU: B / A of the CPU s/M above, above 1 when A uses less processor time per delivery)"
echo

# count WHO C LINES: one run of server WHO under perf stat (or strace -c -f); prints its
# send calls per thousand deliveries and its system calls.
count() {
    local who=$1 c=$2 n=$3 srv wrap out d
    srv=$(prog "$who")
    wrap="$tmp/wrap.$who"
    out="$tmp/count.$who.$c"
    # The wrapper forwards chat_load's SIGTERM to the server (perf and strace block it).
    if [ "$counter" = perf ]; then
        tool="perf stat -x, -o $out -e syscalls:sys_enter_sendmsg,syscalls:sys_enter_sendto,syscalls:sys_enter_writev,raw_syscalls:sys_enter --"
    else
        tool="strace -f -c -o $out --"
    fi
    cat >"$wrap" <<WRAP
#!/usr/bin/env bash
$tool "$srv" "\$@" &
st=\$!
trap 'kill -TERM \$(cat /proc/\$st/task/*/children 2>/dev/null) 2>/dev/null' TERM INT
wait \$st; rc=\$?
[ \$rc -gt 128 ] && { wait \$st; rc=\$?; }
exit \$rc
WRAP
    chmod +x "$wrap"
    run "$who c=$c syscalls" "$wrap" -c "$c" -n "$n" -s "$bytes" -x -t 600 || return
    d=$(field deliveries <"$tmp/res")
    if [ "$counter" = perf ]; then
        awk -F, -v d="$d" -v c="$c" -v w="$who" 'NF > 2 { n = split($3, k, ":"); v[k[n]] = $1 }
            END { s = v["sys_enter_sendmsg"] + v["sys_enter_sendto"] + v["sys_enter_writev"]
                  printf "%-7s %-5s %9d %9.2f %9d %9.2f\n", c, w, s, s * 1000 / d, v["sys_enter"], v["sys_enter"] * 1000 / d }' "$out"
    else
        awk -v d="$d" -v c="$c" -v w="$who" '$NF == "sendmsg" || $NF == "sendto" || $NF == "writev" { s += $4 }
            $NF == "total" { t = $3 }
            END { printf "%-7s %-5s %9d %9.2f %9d %9.2f\n", c, w, s, s * 1000 / d, t, t * 1000 / d }' "$out"
    fi
}

if [ "$syscalls" = 1 ]; then
    counter=
    if command -v perf >/dev/null && perf stat -e syscalls:sys_enter_writev -- true >/dev/null 2>&1; then
        counter=perf
    elif command -v strace >/dev/null; then
        counter=strace
    fi
    if [ -z "$counter" ]; then
        echo "chat_bench.sh: --syscalls needs perf (with tracepoints) or strace" >&2
    else
        echo "system calls ($counter), one run each:"
        printf '%-7s %-5s %9s %9s %9s %9s\n' clients server sends "per 1000" "all" "per 1000"
        for c in $sizes; do
            lines=$(( (deliveries + c * (c - 1) - 1) / (c * (c - 1)) ))
            [ "$lines" -lt 1 ] && lines=1
            for who in $(order 1); do count "$who" "$c" "$lines"; done
        done
        echo "(sends: sendmsg + sendto + writev; per 1000: per thousand deliveries; all: every system call)"
        echo
    fi
fi

: >"$tmp/idle.ours"
: >"$tmp/idle.raw"
for r in $(seq 1 "$idle_rounds"); do
    if [ $((r % 2)) = 1 ]; then order="ours raw"; else order="raw ours"; fi
    for who in $order; do
        srv=$(prog "$who")
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
