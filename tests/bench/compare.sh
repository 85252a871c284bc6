#!/usr/bin/env bash
# Two builds of the library, one run, interleaved: the same sk_bench program linked to
# a library before and after a change, alternating (A B, B A, ...) one round at a time,
# so that the machine's load falls on both alike.
#
#   tests/bench/compare.sh [-r ROUNDS] [--rows a,b,...] [--ir] BEFORE_SK_BENCH AFTER_SK_BENCH
#
# Prints, per row, the median over the rounds of each build's paired ratio (sockkit /
# raw within one round) and after/before. With --ir, instead counts the instructions
# each build executes (valgrind --tool=callgrind, whole process: both threads and the
# harness) for one fixed run of every sockkit variant: a figure this noisy machine
# does not blur. Example (docs/PERFORMANCE.md, "One I/O core"):
#
#   git worktree add /tmp/before <rev> && cmake -S /tmp/before -B /tmp/before/b -DCMAKE_BUILD_TYPE=Release
#   cmake --build /tmp/before/b --target sk_bench-static
#   tests/bench/compare.sh -r 9 /tmp/before/b/tests/bench/sk_bench-static build-rel/tests/bench/sk_bench-static
set -euo pipefail
rounds=5
rows=""
ir=0
while [ $# -gt 2 ]; do
  case "$1" in
    -r) rounds=$2; shift 2 ;;
    --rows) rows=$2; shift 2 ;;
    --ir) ir=1; shift ;;
    *) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ $# -eq 2 ] || { sed -n '2,16p' "$0" >&2; exit 2; }
before=$1
after=$2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

if [ "$ir" -eq 1 ]; then
  command -v valgrind >/dev/null || { echo "compare.sh: --ir needs valgrind" >&2; exit 1; }
  printf '%-28s %8s %14s %14s %8s\n' variant n before after 'a/b'
  for v in $("$after" --list | awk '/^  [a-z0-9-]+-sockkit/{print $1}'); do
    case $v in
      connect-*|accept-*|bulk-*) n=2000 ;;
      lines-*) n=200000 ;;
      *) n=20000 ;;
    esac
    ir_of() {
      valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1" --only "$v" --n "$n" 2>&1 |
        sed -n 's/.*Collected : //p'
    }
    b=$(ir_of "$before")
    a=$(ir_of "$after")
    awk -v v="$v" -v n="$n" -v b="$b" -v a="$a" 'BEGIN{printf "%-28s %8d %14d %14d %8.3f\n", v, n, b, a, a/b}'
  done
  exit 0
fi

args=(--rounds 1)
[ -z "$rows" ] || args+=(--rows "$rows")
for r in $(seq 1 "$rounds"); do
  if [ $((r % 2)) -eq 1 ]; then order="before after"; else order="after before"; fi
  for which in $order; do
    bin=$before
    [ "$which" = after ] && bin=$after
    "$bin" "${args[@]}" >"$out/$which.$r.txt" 2>&1
  done
  echo "compare.sh: round $r of $rounds done" >&2
done
python3 - "$out" <<'EOF'
import collections, glob, re, statistics, sys
row = re.compile(r'^(.{40})\s+(\d+)\s+(\d+)\s+\S+\s+([\d.]+)\s+([\d.]+)\s+(\d+)\s+(\d+)')
data = collections.defaultdict(lambda: collections.defaultdict(list))
order = []
for which in ('before', 'after'):
    for f in sorted(glob.glob(f'{sys.argv[1]}/{which}.*.txt')):
        for line in open(f):
            m = row.match(line)
            if m:
                name = m.group(1).strip()
                if name not in order:
                    order.append(name)
                # paired ratio, and the measured thread's CPU per op (sockkit / raw)
                data[name][which].append((float(m.group(5)), int(m.group(7)) / int(m.group(6))))
print(f"{'workload':40} {'before':>7} {'after':>7} {'a/b':>6}   {'cpu sk/raw before':>17} {'after':>6}")
for name in order:
    b, a = data[name]['before'], data[name]['after']
    if not a or not b:
        continue
    rb = statistics.median(x[0] for x in b)
    ra = statistics.median(x[0] for x in a)
    cb = statistics.median(x[1] for x in b)
    ca = statistics.median(x[1] for x in a)
    print(f"{name:40} {rb:7.3f} {ra:7.3f} {ra / rb:6.3f}   {cb:17.3f} {ca:6.3f}")
print(f"(medians over {len(glob.glob(sys.argv[1] + '/after.*.txt'))} rounds each; ratio: sockkit / raw "
      "in one round, higher is better)")
EOF
