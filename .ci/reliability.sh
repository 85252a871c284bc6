#!/usr/bin/env bash
# Reliability checks of docs/RELIABILITY.md, each a stage:
#
#   bash .ci/reliability.sh [STAGE ...]      default: asan tsan valgrind fuzz load soak
#
#   asan      preset asan (AddressSanitizer + UBSan, no recovery): build, ctest (not the
#             *.static twins nor the build/package tests: SK_SANITIZE_ALL=1), and no
#             sanitizer report anywhere in the tests' output (Criterion does not fail a
#             test whose worker process only leaked, so the log is searched too); then
#             the line and branch coverage of lib/ from that run (gcovr), which fails
#             below its floor (SK_COVERAGE_LINES / SK_COVERAGE_BRANCHES, percent;
#             report in build/asan/coverage/)
#   tsan      preset tsan (ThreadSanitizer): build, ctest as for asan (tests/threads, the
#             threads and thread_paths programs, is the race check: Criterion cannot
#             start under TSan, its programs are disabled there)
#   valgrind  Criterion test programs and tests/threads of preset ci under Valgrind
#             memcheck, every worker process followed (--trace-children=yes), definite
#             leaks counted as errors; any error in any process fails the stage.
#             SK_VALGRIND_PROGRAMS=all for every program (default: TCP, UDP, records
#             and threads, the endpoints' allocation and transfer paths)
#   fuzz      preset fuzz (clang, libFuzzer, ASan+UBSan): each harness of tests/fuzz for
#             SK_FUZZ_SECONDS seconds (60 when CI=true, else 10), all at once, niced
#   load      tests/load/hostile.py against the chat-server and server of preset ci
#   soak      tests/load/soak.py: the chat-server of preset ci under every hostile client
#             at once for SK_SOAK_SECONDS seconds (120 when CI=true, else 30; 600 is the
#             long run of docs/RELIABILITY.md), memory and descriptors sampled each
#             second: build/soak/soak.csv and the picture build/soak/soak.png (gnuplot)
#   load and soak mostly wait on sockets: with fuzz, they run while the fuzzers do.
#
# Exit status 0 only when every stage passed. What is missing (valgrind, clang, libFuzzer
# from libclang-rt-14-dev, and what .ci/test.sh installs) is installed with apt-get
# first, as root or through sudo. Loopback only; every stage is bounded in time.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
start=$(date +%s)

stages=()
for arg in "$@"; do
  case "$arg" in
    asan|tsan|valgrind|fuzz|load|soak) stages+=("$arg") ;;
    -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
    *) echo "reliability.sh: unknown stage $arg (asan tsan valgrind fuzz load soak)" >&2; exit 2 ;;
  esac
done
[ "${#stages[@]}" -gt 0 ] || stages=(asan tsan valgrind fuzz load soak)
has_stage() { local s; for s in "${stages[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

if [ -n "${SK_FUZZ_SECONDS:-}" ]; then
  fuzz_seconds=$SK_FUZZ_SECONDS
elif [ "${CI:-}" = true ]; then
  fuzz_seconds=60
else
  fuzz_seconds=10
fi
if [ -n "${SK_SOAK_SECONDS:-}" ]; then
  soak_seconds=$SK_SOAK_SECONDS
elif [ "${CI:-}" = true ]; then
  soak_seconds=120
else
  soak_seconds=30
fi
jobs=$(nproc 2>/dev/null || echo 2)

# ---------------------------------------------------------------- dependencies
# What .ci/test.sh installs for the presets (cmake, gcc, Criterion, python3, nc, clang).
dep_presets=(ci)
has_stage asan && dep_presets+=(asan)
has_stage tsan && dep_presets+=(tsan)
has_stage fuzz && dep_presets+=(clang)
bash .ci/test.sh --deps-only "${dep_presets[@]}" || exit 1

missing=()
if has_stage valgrind && ! command -v valgrind >/dev/null 2>&1; then missing+=(valgrind); fi
if has_stage asan && ! command -v gcovr >/dev/null 2>&1; then missing+=(gcovr); fi
if has_stage soak && ! command -v gnuplot >/dev/null 2>&1; then missing+=(gnuplot-nox); fi
if has_stage fuzz; then
  command -v clang >/dev/null 2>&1 || missing+=(clang)
  # libFuzzer: Debian's clang 14 ships it in libclang-rt-14-dev.
  if ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 &&
     ! ls /usr/lib/llvm-*/lib/clang/*/lib/*/libclang_rt.fuzzer.a >/dev/null 2>&1; then
    ver=$(clang --version 2>/dev/null | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -n 1)
    missing+=("libclang-rt-${ver:-14}-dev")
  fi
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "reliability.sh: installing ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then sudo=(); elif sudo -n true 2>/dev/null; then sudo=(sudo); else
    echo "reliability.sh: cannot install ${missing[*]} (needs root or sudo)" >&2; exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" ||
    { echo "reliability.sh: apt-get failed" >&2; exit 1; }
fi

# ---------------------------------------------------------------- helpers
declare -A status took
note() { echo; echo "== $*"; }

# Sanitizer reports in a log: Criterion runs each test in a worker process and does not
# fail a test whose worker only printed a LeakSanitizer report on its way out.
sanitizer_reports() { # file
  grep -nE 'ERROR: (LeakSanitizer|AddressSanitizer)|runtime error:|WARNING: ThreadSanitizer|SUMMARY: (Address|Thread|UndefinedBehavior|Leak)Sanitizer' "$1"
}

preset_stage() { # preset
  local p=$1 log
  note "preset $p: configure and build"
  cmake --preset "$p" >/dev/null || return 1
  cmake --build --preset "$p" --parallel "$jobs" >"build/$p/build.log" 2>&1 || { tail -n 40 "build/$p/build.log"; return 1; }
  note "preset $p: ctest"
  # The *.static twins run the very code of the *.shared tests, linked the other way,
  # and the build, ABI, package and docs tests check the build, not the code (ci runs
  # all of them): under a sanitizer they would add half the stage's time for nothing
  # new. SK_SANITIZE_ALL=1 runs them too.
  local only=(-E '\.static$|^(abi|package|consumer|install|docs)\.')
  [ "${SK_SANITIZE_ALL:-}" = 1 ] && only=()
  # Coverage counts of an earlier run would add to this one's.
  find "build/$p" -name '*.gcda' -delete
  # Three programs at once: most tests wait (SK_CTEST_JOBS sets it, as in .ci/test.sh).
  ctest --preset "$p" --output-on-failure -j"${SK_CTEST_JOBS:-3}" "${only[@]}" 2>&1 | tee "build/$p/ctest.log"
  local rc=${PIPESTATUS[0]}
  log="build/$p/Testing/Temporary/LastTest.log"
  if [ -f "$log" ] && sanitizer_reports "$log" >"build/$p/sanitizer-reports.txt"; then
    echo "-- sanitizer reports in the tests' output ($log):"
    head -n 40 "build/$p/sanitizer-reports.txt"
    rc=1
  fi
  return "$rc"
}

# Coverage of lib/ by the asan run (docs/RELIABILITY.md, section 7). The floors are
# a little under what was measured, so that a change that drops tests fails; raise
# them with the measurement.
coverage_lines=${SK_COVERAGE_LINES:-93}
coverage_branches=${SK_COVERAGE_BRANCHES:-74}
coverage() {
  local out=build/asan/coverage
  note "coverage of lib/ (gcovr; floors: lines ${coverage_lines} %, branches ${coverage_branches} %)"
  grep -q '^SOCKKIT_COVERAGE:BOOL=ON' build/asan/CMakeCache.txt || { echo "build/asan has no coverage"; return 1; }
  rm -rf "$out"
  mkdir -p "$out"
  # One gcov at a time: gcovr 5.2 hangs when a parallel gcov worker fails to parse.
  gcovr --root . --object-directory build/asan --filter 'lib/' --exclude-unreachable-branches \
    --print-summary --txt "$out/coverage.txt" --html-details "$out/index.html" \
    --fail-under-line "$coverage_lines" --fail-under-branch "$coverage_branches" 2>&1 | tail -n 3
  local rc=${PIPESTATUS[0]}
  echo "-- per file: $out/coverage.txt; annotated source: $out/index.html"
  return "$rc"
}
stage_asan() {
  local rc=0
  preset_stage asan || rc=1
  coverage || rc=1
  return "$rc"
}
stage_tsan() { preset_stage tsan; }

stage_valgrind() {
  local dir=build/ci vgdir=build/ci/valgrind rc=0 prog name errs total_procs=0
  note "valgrind: build preset ci"
  cmake --preset ci >/dev/null || return 1
  cmake --build --preset ci --parallel "$jobs" >"$dir/build.log" 2>&1 || { tail -n 40 "$dir/build.log"; return 1; }
  rm -rf "$vgdir"
  mkdir -p "$vgdir"
  # --smc-check=none: no program here writes code it then runs (the default checks
  # code on the stack and heap for that, which costs a third of the run time).
  local vg=(valgrind --tool=memcheck --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
            --show-leak-kinds=definite --trace-children=yes --child-silent-after-fork=no
            --smc-check=none --read-inline-info=no --vgdb=no --suppressions="$root/.ci/valgrind.supp")
  # Programs linked to the shared library (the static ones run the same code). Valgrind
  # costs about a second per process, and Criterion starts one per test, so by default
  # the stage runs the programs that go through the endpoints' allocations, frees and
  # every transfer path (TCP, UDP, delimited records, threads: about 2.5 minutes);
  # SK_VALGRIND_PROGRAMS=all runs every Criterion program (about 7 minutes), or give
  # names, space separated ("test_poller_shared threads_shared").
  local selected=${SK_VALGRIND_PROGRAMS:-"test_tcp_shared test_udp_shared test_tcp_records_shared test_resolve_shared test_connect_shared test_unix_sock_shared threads_shared"}
  echo "   programs: $selected"
  for prog in "$dir"/tests/test_*_shared "$dir"/tests/threads/threads_shared; do
    [ -x "$prog" ] || continue
    name=$(basename "$prog")
    if [ "$selected" != all ] && [[ " $selected " != *" $name "* ]]; then continue; fi
    local env=(CRITERION_JOBS=2) args=()
    case "$name" in
      test_faults_connect*) env+=("LD_PRELOAD=$root/$dir/tests/libsk_faultshim.so:$root/$dir/tests/libsk_gaishim.so") ;;
      test_faults*) env+=("LD_PRELOAD=$root/$dir/tests/libsk_faultshim.so") ;;
      test_resolve*|test_connect*) env+=("LD_PRELOAD=$root/$dir/tests/libsk_gaishim.so") ;;
    esac
    # Left out under Valgrind, on purpose (they run in every other build):
    #  - the allocation faults: Valgrind's own malloc (preloaded before the shim) is the
    #    one the program calls, so the shim cannot fail allocations;
    #  - running out of descriptors: Valgrind emulates RLIMIT_NOFILE after the system
    #    call (accept4 takes the client, then Valgrind closes it and reports EMFILE);
    #  - the two signal-storm tests that hand tens of MiB to each send within a 300 ms
    #    budget: Valgrind checks every byte handed to a system call, the budget ends
    #    before the socket buffer is full, and the storm never gets to interrupt anything
    #    ("only 0 for eintr:send"; the tests cannot pass at that speed).
    #  - tcp_errors' descriptor test (tests/test_tcp.c), for the RLIMIT_NOFILE reason.
    #  - the three resolver tests that keep 500 lookup threads waiting: Valgrind runs at
    #    most 500 threads (--max-threads), and its one-thread-at-a-time scheduling makes
    #    starting them take longer than the tests' budgets.
    case "$name" in
      test_faults_shared) args=(--filter '!(*allocat*|*emfile*|*/send_all_reports_exact_sent_on_timeout_when_every_wait_is_interrupted)') ;;
      test_tcp_shared) args=(--filter '!(*/accept_out_of_descriptors*)') ;;
      # Its peer is python3, exec'd by the test: Valgrind would trace the interpreter too.
      test_unix_sock_shared) args=(--filter '!(*/descriptors_go_both_ways_with_pythons_*)') ;;
      test_resolve_shared) args=(--filter '!(*/at_most_500_*|*/a_cancel_ends_a_connect_waiting_for_a_place_among_the_500_*|*/a_child_after_fork_*)') ;;
      test_faults_records_shared) args=(--filter '!(*/send_allv_timeout_counts_from_the_start_when_every_wait_is_interrupted)') ;;
    esac
    local t0=$(date +%s)
    env "${env[@]}" "${vg[@]}" --log-file="$vgdir/$name.%p.log" "$prog" "${args[@]}" >"$vgdir/$name.out" 2>&1
    local prc=$?
    errs=$(cat "$vgdir/$name".*.log | grep -E 'ERROR SUMMARY: [1-9]' | wc -l)
    local procs=$(ls "$vgdir/$name".*.log | wc -l)
    local synth=$(grep -a 'Synthesis' "$vgdir/$name.out" | tail -n 1 | sed 's/.*Synthesis: //')
    printf '   %-28s exit %-3s %4d processes, %d with errors, %3d s  %s\n' "$name" "$prc" "$procs" "$errs" \
      $(($(date +%s) - t0)) "${synth:-}"
    total_procs=$((total_procs + procs))
    if [ "$prc" -ne 0 ] || [ "$errs" -ne 0 ]; then
      rc=1
      tail -n 15 "$vgdir/$name.out"
      grep -lE 'ERROR SUMMARY: [1-9]' "$vgdir/$name".*.log | head -n 3 | while read -r f; do
        echo "-- $f"; sed -n '1,60p' "$f"
      done
    fi
  done
  echo "   $total_procs processes checked"
  return "$rc"
}

stage_fuzz() {
  local dir=build/fuzz rc=0 h pids=()
  note "fuzz: configure and build (clang, libFuzzer, ASan+UBSan)"
  cmake --preset fuzz >/dev/null || return 1
  cmake --build --preset fuzz --parallel "$jobs" >"$dir/build.log" 2>&1 || { tail -n 40 "$dir/build.log"; return 1; }
  note "fuzz: each harness for ${fuzz_seconds} s, seeds from tests/fuzz/corpus"
  local harnesses=()
  for h in "$dir"/tests/fuzz/fuzz_*; do [ -x "$h" ] && harnesses+=("$(basename "$h")"); done
  [ "${#harnesses[@]}" -gt 0 ] || { echo "no harness was built"; return 1; }
  for h in "${harnesses[@]}"; do
    local name=${h#fuzz_}
    # New inputs go to a scratch corpus in the build tree; the repository's seeds are
    # only read.
    rm -rf "$dir/corpus/$name" "$dir/artifacts/$name"
    mkdir -p "$dir/corpus/$name" "$dir/artifacts/$name"
    # Niced: load and soak, beside them, check latencies and stalls.
    nice -n 10 "$dir/tests/fuzz/$h" -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$dir/artifacts/$name/" "$dir/corpus/$name" "tests/fuzz/corpus/$name" \
      >"$dir/$h.log" 2>&1 &
    pids+=($!)
  done
  for i in "${!harnesses[@]}"; do
    h=${harnesses[$i]}
    if wait "${pids[$i]}"; then
      local execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/$h.log" | tail -n 1)
      local secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$dir/$h.log" | tail -n 1)
      local corp=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$dir/$h.log" | sed -n 's/.*corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' | tail -n 1)
      local cov=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$dir/$h.log" | sed -n 's/.* cov: \([0-9]*\).*/\1/p' | tail -n 1)
      printf '   %-22s passed: %s executions in %s s, coverage %s edges, corpus %s\n' "$h" "${execs:-?}" "${secs:-?}" "${cov:-?}" "${corp:-?}"
    else
      rc=1
      echo "   $h FAILED (crash inputs in $dir/artifacts/${h#fuzz_}/):"
      grep -E 'ERROR|check failed|SUMMARY|Test unit written' "$dir/$h.log" | head -n 20
    fi
  done
  return "$rc"
}

# The examples of preset ci, for load and soak (built once, before they may run
# side by side).
ci_examples_built=0
build_ci_examples() {
  local dir=build/ci
  [ "$ci_examples_built" = 1 ] && return 0
  note "build preset ci (examples, for load and soak)"
  cmake --preset ci >/dev/null || return 1
  cmake --build --preset ci --parallel "$jobs" >"$dir/build.log" 2>&1 || { tail -n 40 "$dir/build.log"; return 1; }
  ci_examples_built=1
}

stage_load() {
  build_ci_examples || return 1
  note "load: hostile and heavy clients against chat-server and server (loopback)"
  python3 tests/load/hostile.py --bin-dir build/ci/examples --report build/ci/hostile-report.txt
}

stage_soak() {
  build_ci_examples || return 1
  note "soak: chat-server under every hostile client at once for ${soak_seconds} s"
  python3 tests/load/soak.py --bin-dir build/ci/examples --seconds "$soak_seconds" --out build/soak
}

# ---------------------------------------------------------------- run
# load and soak mostly wait (slow clients, a server's 10 s timeout): with the fuzz
# stage, they run while the fuzzers do, and their output follows the fuzzers'.
background=()
if has_stage fuzz; then
  for s in load soak; do has_stage "$s" && background+=("$s"); done
fi
is_background() { local b; for b in "${background[@]}"; do [ "$b" = "$1" ] && return 0; done; return 1; }
declare -A bg_pid
for s in "${stages[@]}"; do
  is_background "$s" && continue
  if [ "$s" = fuzz ] && [ "${#background[@]}" -gt 0 ]; then
    mkdir -p build
    if build_ci_examples; then
      for b in "${background[@]}"; do
        ( t=$(date +%s); "stage_$b" >"build/reliability-$b.log" 2>&1
          echo "$? $(($(date +%s) - t))" >"build/reliability-$b.rc" ) &
        bg_pid[$b]=$!
      done
    else
      for b in "${background[@]}"; do status[$b]=FAILED; took[$b]=0; done
      background=()
    fi
  fi
  t0=$(date +%s)
  if "stage_$s"; then status[$s]=passed; else status[$s]=FAILED; fi
  took[$s]=$(($(date +%s) - t0))
  if [ "$s" = fuzz ]; then
    for b in "${background[@]}"; do
      wait "${bg_pid[$b]}"
      cat "build/reliability-$b.log"
      read -r brc bsecs <"build/reliability-$b.rc" 2>/dev/null || brc=1
      took[$b]=${bsecs:-0}
      if [ "$brc" = 0 ]; then status[$b]=passed; else status[$b]=FAILED; fi
    done
  fi
done

echo
echo "== reliability summary"
failed=0
for s in "${stages[@]}"; do
  printf -- '-- %-9s %-7s %4d s\n' "$s" "${status[$s]}" "${took[$s]}"
  [ "${status[$s]}" = passed ] || failed=1
done
echo "== reliability: $([ "$failed" -eq 0 ] && echo 'all passed' || echo 'FAILED') in $(($(date +%s) - start)) s"
exit "$failed"
