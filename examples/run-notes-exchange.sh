#!/usr/bin/env bash
# The notes' two-terminal exchange in one command, on a free port:
#
#   examples/run-notes-exchange.sh BUILD_DIR [-static]
#
# starts BUILD_DIR/examples/server on 127.0.0.1 (port 0: the system picks a free one,
# the server says which on stderr), runs BUILD_DIR/examples/client against it once,
# and prints what each side printed. With -static, the -static builds are used.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ] || { [ $# -eq 2 ] && [ "$2" != "-static" ]; }; then
    echo "usage: $0 BUILD_DIR [-static]" >&2
    exit 2
fi
suffix="${2:-}"
server="$1/examples/server$suffix"
client="$1/examples/client$suffix"
for prog in "$server" "$client"; do
    if [ ! -x "$prog" ]; then
        echo "$0: no $prog (build first: cmake -S . -B $1 && cmake --build $1)" >&2
        exit 1
    fi
done

work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# -n 1: the server stops by itself after one client. Its output files exist before
# it starts: the background job opens them only once it runs, and a read before
# that would fail (and stop this script under set -e).
: >"$work/server.out"
: >"$work/server.err"
"$server" -n 1 127.0.0.1 0 >"$work/server.out" 2>"$work/server.err" &
server_pid=$!

# Wait (at most 10 s) for "listening on 127.0.0.1:PORT".
port=""
for _ in $(seq 1 200); do
    port="$(sed -n 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$work/server.err")"
    [ -n "$port" ] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
        break
    fi
    sleep 0.05
done
if [ -z "$port" ]; then
    echo "$0: the server did not start:" >&2
    cat "$work/server.err" >&2
    exit 1
fi

echo "\$ $server -n 1 127.0.0.1 0        # terminal 1"
echo "\$ $client 127.0.0.1 $port        # terminal 2"
echo
status=0
"$client" 127.0.0.1 "$port" >"$work/client.out" 2>"$work/client.err" || status=$?
if [ "$status" -ne 0 ]; then
    kill "$server_pid" 2>/dev/null || true   # it may still wait for its one client
fi
wait "$server_pid" || { [ "$status" -ne 0 ] || status=$?; }
server_pid=""

echo "---- terminal 1: server ----"
cat "$work/server.err"
cat "$work/server.out"
echo "---- terminal 2: client ----"
cat "$work/client.out"
cat "$work/client.err" >&2
exit "$status"
