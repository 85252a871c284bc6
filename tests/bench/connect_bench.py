#!/usr/bin/env python3
"""Time to connect when the first address is blackholed (issue 12's benchmark).

    LD_PRELOAD=build/dev/tests/libsk_gaishim.so \\
      python3 tests/bench/connect_bench.py build/dev/libsockkit.so [-r REPS] [--smoke]

The name "addrs-6-1.sk-test" (the resolver stand-in, tests/shim/gaishim.c) resolves to
[::1] then 127.0.0.1 on one port. [::1] is a listener whose accept queue is full, so
the kernel drops the SYNs that reach it (a firewall that drops packets); 127.0.0.1
listens. Three ways to connect, interleaved in one run, each with a 10 s budget:

  he      sk_tcp_connect: Happy Eyeballs v2, 250 ms attempt delay
  serial  sk_tcp_connect_with, attempt delay 0: one address at a time, each but the
          last with its share of the budget (at least 2 s) - the library before HE
  python  socket.create_connection(timeout=10): serial, the timeout per address

It prints the median and the spread of each, and each median's ratio to he's. Only
loopback addresses are used, and every connect is bounded by its budget.
"""
import argparse
import ctypes
import os
import socket
import statistics
import sys
import time

NAME = b"addrs-6-1.sk-test"
BUDGET_MS = 10000


class Options(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint), ("attempt_delay_ms", ctypes.c_int)]


def one_port():
    """A blackhole on [::1]:P and a listener on 127.0.0.1:P."""
    for _ in range(200):
        good = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        good.bind(("127.0.0.1", 0))
        port = good.getsockname()[1]
        hole = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        hole.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            hole.bind(("::1", port))
        except OSError:
            good.close()
            hole.close()
            continue
        good.listen(64)
        hole.listen(0)
        filler = socket.create_connection(("::1", port), timeout=5)
        return port, good, hole, filler
    sys.exit("connect_bench: no port free on both addresses")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("lib")
    ap.add_argument("-r", "--reps", type=int, default=5)
    ap.add_argument("--smoke", action="store_true", help="one rep of each, checks only")
    args = ap.parse_args()
    if "gaishim" not in os.environ.get("LD_PRELOAD", ""):
        sys.exit("connect_bench: run with LD_PRELOAD=<build>/tests/libsk_gaishim.so")
    sk = ctypes.CDLL(os.path.abspath(args.lib))
    sk.sk_tcp_connect.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p, ctypes.c_int, ctypes.c_int]
    sk.sk_tcp_connect_with.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p, ctypes.c_int,
                                       ctypes.POINTER(Options), ctypes.c_void_p, ctypes.c_size_t,
                                       ctypes.c_void_p, ctypes.c_int]
    sk.sk_tcp_close.argtypes = [ctypes.c_void_p]
    port, good, hole, filler = one_port()

    def drain():
        good.setblocking(False)
        try:
            while True:
                good.accept()[0].close()
        except BlockingIOError:
            pass

    def he():
        conn = ctypes.c_void_p()
        rc = sk.sk_tcp_connect(ctypes.byref(conn), NAME, port, BUDGET_MS)
        assert rc == 0, rc
        sk.sk_tcp_close(conn)

    def serial():
        conn = ctypes.c_void_p()
        opts = Options(1, 0)
        rc = sk.sk_tcp_connect_with(ctypes.byref(conn), NAME, port, ctypes.byref(opts), None, 0, None, BUDGET_MS)
        assert rc == 0, rc
        sk.sk_tcp_close(conn)

    def python():
        s = socket.create_connection((NAME.decode(), port), timeout=BUDGET_MS / 1000)
        assert s.getpeername()[0] == "127.0.0.1"
        s.close()

    ways = [("he", he), ("serial", serial), ("python", python)]
    reps = 1 if args.smoke else args.reps
    times = {name: [] for name, _ in ways}
    for _ in range(reps):
        for name, fn in ways:  # interleaved: one of each per round
            t0 = time.monotonic()
            fn()
            times[name].append((time.monotonic() - t0) * 1000)
            drain()
    filler.close()
    hole.close()
    good.close()
    base = statistics.median(times["he"])
    print(f"connect with a blackholed first address ([::1]) and a listening second (127.0.0.1), "
          f"budget {BUDGET_MS} ms, {reps} interleaved rounds")
    print(f"{'way':8} {'median ms':>10} {'min':>8} {'max':>8} {'ratio to he':>12}")
    for name, _ in ways:
        t = times[name]
        print(f"{name:8} {statistics.median(t):10.1f} {min(t):8.1f} {max(t):8.1f} {statistics.median(t) / base:12.1f}")
    if args.smoke:
        assert min(times["he"]) >= 250, "he connected before its attempt delay"


if __name__ == "__main__":
    main()
