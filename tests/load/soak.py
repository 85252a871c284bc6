#!/usr/bin/env python3
"""A soak: chat-server under hostile load for a long time, its memory and descriptors
sampled every second and plotted.

    soak.py --bin-dir DIR [--suffix=SUFFIX] [--seconds N] [--out DIR]

DIR holds the example programs (build/ci/examples). For N seconds (600 by default;
the CI's reliability stage runs 120), one chat-server on 127.0.0.1, port 0, serves
four good clients and, at the same time, every kind of hostile client of hostile.py,
over and over, each in its own thread:
  cycles      connect and leave at once, 50 at a time (half closed in order, half reset)
  resets      send half a line, then reset
  slowloris   20 clients sending one byte a second, replaced every 10 s
  bigline     a 1 MiB line, over the server's 64 KiB limit, every 2 s
  noreader    a client that never reads while a flooder sends 2 MiB of lines, every 10 s
  crowd       200 idle clients that stay 5 s, every 10 s
The good clients each send a numbered line every 50 ms and read everything.

Every second the server's VmRSS and descriptor count go to OUT/soak.csv (time, kB,
descriptors, good lines delivered so far); with gnuplot there, OUT/soak.png plots them.
It passes when:
  - the server lived through it and no good client was dropped;
  - every good client received every line of every other good client, once, in order;
  - the descriptors came back to what they were before the load, once it stopped;
  - the resident size stayed bounded: its peak in the second half of the run is
    within max(16 MiB, 100 %) of its peak in the first half (after the first tenth,
    the warm-up), so a gross leak fails and the C library's heap, which grows in steps
    of megabytes and gives them back only now and then (3.7 to 10.5 MiB seen), does
    not; and the peak stays under hostile.py's bound (128 MiB);
  - a good line was delivered at least every 10 s (a server that hangs is diagnosed:
    /proc state and, with gdb, its threads' stacks).
Everything is bounded (a watchdog ends the run at N + 120 s); loopback only; Python 3
standard library (gnuplot only for the picture). Exit status 0 when it passed.
"""
import argparse
import csv
import os
import resource
import shutil
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostile  # noqa: E402 - the clients and /proc helpers of the one-shot scenarios
from hostile import WAIT, check, connect, reset  # noqa: E402

GOOD = 4
GOOD_PERIOD = 0.05
FD_BOUND = 2000
STALL = 10.0  # seconds without a good line delivered: the server is stuck


def diagnose(pid):
    """What a stuck server is doing: its state, where it sleeps, and its threads'
    stacks when gdb is there."""
    out = []
    for f in ("stat", "wchan", "stack"):
        try:
            with open(f"/proc/{pid}/{f}") as fh:
                out.append(f"/proc/{pid}/{f}: {fh.read().strip()}")
        except OSError as e:
            out.append(f"/proc/{pid}/{f}: {e}")
    gdb = shutil.which("gdb")
    if gdb:
        r = subprocess.run([gdb, "-p", str(pid), "-batch", "-ex", "thread apply all bt"],
                           capture_output=True, timeout=60)
        out.append(r.stdout.decode(errors="replace")[-6000:])
    return "\n".join(out)


def quietly(fn):
    """A hostile client meets resets, closed pipes and timeouts: they are the point."""
    try:
        fn()
    except OSError:
        pass


class Hostile(threading.Thread):
    """One kind of hostile client, again and again until stop is set."""

    def __init__(self, name, port, stop, body):
        super().__init__(name=name, daemon=True)
        self.port, self.stop, self.body = port, stop, body
        self.rounds = 0
        self.error = None

    def run(self):
        try:
            while not self.stop.is_set():
                self.body(self)
                self.rounds += 1
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            self.error = e

    def sleep(self, s):
        self.stop.wait(s)


def h_cycles(h):
    socks = []
    for _ in range(50):
        try:
            socks.append(connect(h.port))
        except OSError:
            break
    for i, s in enumerate(socks):
        quietly(lambda: reset(s) if i % 2 else s.close())
    h.sleep(0.1)


def h_resets(h):
    for i in range(20):
        try:
            s = connect(h.port)
        except OSError:
            continue
        quietly(lambda: s.sendall(b"FRAGMENT-%d never finished" % i))
        quietly(lambda: reset(s))
    h.sleep(0.1)


def h_slowloris(h):
    socks = []
    for _ in range(20):
        try:
            socks.append(connect(h.port))
        except OSError:
            pass
    text = b"slow-line-"
    for k in range(10):
        if h.stop.is_set():
            break
        for s in socks:
            quietly(lambda: s.send(text[k:k + 1]))
        h.sleep(1.0)
    for s in socks:
        quietly(s.close)


def h_bigline(h):
    try:
        s = connect(h.port)
    except OSError:
        return
    s.settimeout(2.0)
    chunk = b"x" * 65536
    for _ in range(16):
        try:
            s.sendall(chunk)
        except OSError:
            break
    quietly(s.close)
    h.sleep(2.0)


def h_noreader(h):
    try:
        sink = connect(h.port)
        flood = connect(h.port)
    except OSError:
        return
    flood.settimeout(2.0)
    pad = b"z" * 1000
    data = b"".join(b"flood %06d " % i + pad + b"\n" for i in range(2048))
    for off in range(0, len(data), 65536):
        if h.stop.is_set():
            break
        try:
            flood.sendall(data[off:off + 65536])
        except OSError:
            break
    h.sleep(10.0)
    quietly(flood.close)
    quietly(sink.close)


def h_crowd(h):
    socks = []
    for _ in range(200):
        try:
            socks.append(connect(h.port))
        except OSError:
            break
    h.sleep(5.0)
    for s in socks:
        quietly(s.close)
    h.sleep(5.0)


HOSTILE = [("cycles", h_cycles), ("resets", h_resets), ("slowloris", h_slowloris),
           ("bigline", h_bigline), ("noreader", h_noreader), ("crowd", h_crowd)]


def good_token(i, seq):
    return b"good %d %07d " % (i, seq)


def good_received(lines, i):
    """The sequence numbers of good client i's lines among lines, in arrival order."""
    tag = b"good %d " % i
    got = []
    for line in lines:
        k = line.find(tag)
        if k >= 0:
            got.append(int(line[k + len(tag):k + len(tag) + 7]))
    return got


def plot(out, csv_path):
    gp = shutil.which("gnuplot")
    if gp is None:
        return "no gnuplot: no picture (apt-get install gnuplot-nox)"
    png = os.path.join(out, "soak.png")
    script = f"""
set terminal pngcairo size 1000,700
set output '{png}'
set datafile separator ','
set key autotitle columnhead
set multiplot layout 2,1 title 'chat-server under hostile load'
set xlabel 'seconds'
set ylabel 'VmRSS (KiB)'
set yrange [0:*]
plot '{csv_path}' using 1:2 with lines lw 2 title 'resident size'
set ylabel 'descriptors'
plot '{csv_path}' using 1:3 with lines lw 2 title 'open descriptors'
unset multiplot
"""
    r = subprocess.run([gp], input=script.encode(), capture_output=True, timeout=60)
    if r.returncode != 0:
        return f"gnuplot failed: {r.stderr.decode(errors='replace')[-300:]}"
    return png


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--suffix", default="")
    ap.add_argument("--seconds", type=float, default=600.0)
    ap.add_argument("--out", default=".")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < min(hard, 8192):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    limit = args.seconds + 120
    watchdog = threading.Timer(limit, lambda: (print(f"soak.py: watchdog: over {limit:.0f} s", flush=True),
                                                os._exit(3)))
    watchdog.daemon = True
    watchdog.start()

    srv = hostile.Proc([os.path.join(args.bin_dir, "chat-server" + args.suffix), "127.0.0.1", "0"], "chat-server")
    failures = []
    samples = []
    try:
        good = [connect(srv.port) for _ in range(GOOD)]
        r = hostile.Reader()
        for s in good:
            r.add(s)
        r.until(lambda: all(hostile.has_line(r.lines[s], b"* welcome") for s in good), "the good clients' welcomes")
        fds0 = srv.fds()

        stop = threading.Event()
        threads = [Hostile(name, srv.port, stop, body) for name, body in HOSTILE]
        for t in threads:
            t.start()
        sent = [0] * GOOD
        pad = b"g" * 80
        t0 = time.monotonic()
        next_line = next_sample = t0
        delivered_before, progress_at = 0, t0
        while True:
            now = time.monotonic()
            if now - t0 >= args.seconds:
                break
            if now >= next_line:
                for i, s in enumerate(good):
                    s.setblocking(True)
                    s.settimeout(WAIT)
                    s.sendall(good_token(i, sent[i]) + pad + b"\n")
                    s.setblocking(False)
                    sent[i] += 1
                next_line += GOOD_PERIOD
            if now >= next_sample:
                check(srv.alive(), "the server died under the load")
                delivered = sum(len(r.lines[s]) for s in good)
                samples.append((round(now - t0, 2), srv.rss_kb(), srv.fds(), delivered))
                next_sample += 1.0
                if delivered > delivered_before:
                    delivered_before, progress_at = delivered, now
                elif now - progress_at > STALL:
                    print(f"soak: no good line delivered for {STALL:.0f} s at {now - t0:.0f} s:\n"
                          + diagnose(srv.p.pid), flush=True)
                    raise AssertionError(f"the server delivered nothing to the good clients for {STALL:.0f} s")
            r.pump(max(0.0, min(next_line, next_sample) - time.monotonic()))
            check(not (r.closed & set(good)), "a good client was dropped")

        stop.set()
        for t in threads:
            t.join(WAIT)
            check(not t.is_alive(), f"the {t.name} clients did not stop")
            check(t.error is None, f"the {t.name} clients failed: {type(t.error).__name__}: {t.error}")

        def all_in():
            return all(len(good_received(r.lines[good[j]], i)) >= sent[i]
                       for i in range(GOOD) for j in range(GOOD) if i != j)

        r.until(all_in, "every good line at every other good client", timeout=WAIT * 2)
        for i in range(GOOD):
            for j in range(GOOD):
                if i != j:
                    got = good_received(r.lines[good[j]], i)
                    check(got == list(range(sent[i])),
                          f"good client {j} got good client {i}'s lines out of order, twice or not at all "
                          f"({len(got)} of {sent[i]})")
        check(not (r.closed & set(good)), "a good client was dropped")
        fds1 = srv.wait_fds(fds0, "the load stopped", timeout=WAIT * 2)
        hwm = srv.hwm_kb()
        check(hwm < hostile.MEM_BOUND_KB, f"peak resident size {hwm} kB, over {hostile.MEM_BOUND_KB} kB")
        n = len(samples)
        check(n >= 10, f"only {n} samples")
        first = [s[1] for s in samples[n // 10:n // 2]]
        second = [s[1] for s in samples[n // 2:]]
        first_kb, second_kb = max(first), max(second)
        allowed = max(16384, first_kb * 1.0)
        check(second_kb - first_kb <= allowed,
              f"the resident size grew: peak {first_kb} kB in the first half, {second_kb} kB in the second")
        peak_fds = max(s[2] for s in samples)
        check(peak_fds < FD_BOUND, f"{peak_fds} descriptors at the peak")
        rounds = ", ".join(f"{t.name} {t.rounds}" for t in threads)
        print(f"soak: {args.seconds:.0f} s, {sum(sent)} good lines sent, each delivered to the {GOOD - 1} others "
              f"in order; hostile rounds: {rounds}")
        print(f"soak: VmRSS peak {first_kb} kB in the first half (after warm-up), {second_kb} kB in the second "
              f"(allowed +{allowed:.0f}), {samples[-1][1]} kB at the end; VmHWM {hwm} kB; "
              f"descriptors {fds0} before, peak {peak_fds}, {fds1} after")
        for s in good:
            s.close()
    except AssertionError as e:
        failures.append(str(e))
    finally:
        alive = srv.alive()
        rc = srv.stop()
        if alive and rc not in (0, -15):
            failures.append(f"chat-server exited with status {rc} after SIGTERM")
    csv_path = os.path.join(args.out, "soak.csv")
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["seconds", "VmRSS_kB", "descriptors", "good_lines_delivered"])
        w.writerows(samples)
    print(f"soak: samples in {csv_path}; picture: {plot(args.out, csv_path)}")
    for msg in failures:
        print(f"FAIL soak: {msg}")
    print(f"soak.py: {'passed' if not failures else 'FAILED'}", flush=True)
    os._exit(1 if failures else 0)


if __name__ == "__main__":
    main()
