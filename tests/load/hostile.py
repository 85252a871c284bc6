#!/usr/bin/env python3
"""Hostile and heavy clients against the examples: chat-server and the notes' server.

    hostile.py --bin-dir DIR [--suffix=SUFFIX] [--report FILE] [--only NAME ...]

DIR holds the example programs (build/ci/examples); SUFFIX picks a build of them (none
for the shared one, --suffix=-static for the static one). Every scenario runs against a
fresh server on 127.0.0.1, port 0 (the server says its port on standard error), and
checks that the server is still up and still serving the others afterwards, that no
descriptor leaked (the entries of /proc/PID/fd before the scenario and after its
clients left), and that its memory stayed bounded (VmHWM, the peak resident size, from /proc/PID/status).

chat-server:
  many        1000 clients connected at once; each gets its welcome, one line reaches
              all the 999 others
  cycles      10,000 connect/disconnect cycles (half closed in order, half reset),
              200 at a time
  reset       200 clients that send half a line and reset the connection; a watcher
              never sees any of those fragments
  slowloris   20 clients sending one byte a second for 10 s, while two others chat:
              every line between those two arrives within 1 s
  bigline     a client sending one 10 MB line (the server's limit is 64 KiB): it is
              dropped, the server's memory does not follow, the others go on
  noreader    a client that never reads, while another floods 16 MB of lines: the
              flooder is not stopped for good, a reader that reads gets every line in
              order, the non-reader is dropped, memory stays bounded
server (the notes' one, one client at a time, 10 s receive timeout):
  silent      a client that connects and sends nothing: the server waits its 10 s,
              then serves the next client
  resetnow    a client that resets at once: the next client is served

Everything is bounded in time (each wait at most WAIT seconds; the whole run is under
a watchdog); loopback only. Python 3 standard library. Exit status 0 when every
scenario passed. The figures (clients held, peak memory, descriptors before/after,
time) are printed and, with --report, written to FILE.
"""
import argparse
import os
import re
import resource
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

WAIT = 30.0               # seconds any one wait may take on a slow, shared machine
MEM_BOUND_KB = 128 * 1024  # peak resident size the chat-server must stay under
MAX_LINE = 64 * 1024      # chat-server's bound on one line


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


# ---------------------------------------------------------------------------
# processes and /proc


def proc_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def proc_status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


class Proc:
    """An example program on 127.0.0.1 port 0; standard error goes to a file."""

    def __init__(self, argv, name):
        self.name = name
        self.log = tempfile.NamedTemporaryFile(prefix=f"hostile-{name}-", suffix=".log")
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=self.log, close_fds=True)
        self.port = None
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            m = re.search(rb"listening on 127\.0\.0\.1:(\d+)", self.stderr())
            if m:
                self.port = int(m.group(1))
                break
            check(self.p.poll() is None, f"{name} exited at start: {self.stderr()[-500:]!r}")
            time.sleep(0.02)
        check(self.port is not None, f"{name} never said its port: {self.stderr()[-500:]!r}")

    def stderr(self):
        with open(self.log.name, "rb") as f:
            return f.read()

    def alive(self):
        return self.p.poll() is None

    def fds(self):
        return proc_fds(self.p.pid)

    def hwm_kb(self):
        return proc_status_kb(self.p.pid, "VmHWM")

    def rss_kb(self):
        return proc_status_kb(self.p.pid, "VmRSS")

    def wait_fds(self, want, what, timeout=WAIT):
        """Waits until the descriptor count is back to want (clients that left are
        noticed by the server asynchronously)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            check(self.alive(), f"{self.name} died ({what})")
            n = self.fds()
            if n == want:
                return n
            time.sleep(0.05)
        raise AssertionError(f"{self.name}: {self.fds()} descriptors {timeout:.0f} s after {what}, "
                             f"{want} before: a leak")

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()
        return self.p.returncode


# ---------------------------------------------------------------------------
# clients


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def reset(s):
    """Close with a reset (RST) instead of an orderly end."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


class Reader:
    """Lines received by many sockets at once, through one selector."""

    def __init__(self):
        self.sel = selectors.DefaultSelector()
        self.buf = {}
        self.lines = {}
        self.closed = set()

    def add(self, s):
        s.setblocking(False)
        self.sel.register(s, selectors.EVENT_READ)
        self.buf[s] = b""
        self.lines[s] = []

    def remove(self, s):
        try:
            self.sel.unregister(s)
        except (KeyError, ValueError):
            pass

    def pump(self, timeout):
        """Reads whatever is ready within timeout; returns the number of sockets read."""
        n = 0
        for key, _ in self.sel.select(timeout):
            s = key.fileobj
            try:
                data = s.recv(1 << 16)
            except (ConnectionResetError, BrokenPipeError):
                data = b""
            except BlockingIOError:
                continue
            n += 1
            if not data:
                self.closed.add(s)
                self.remove(s)
                continue
            b = self.buf[s] + data
            *done, b = b.split(b"\n")
            self.lines[s].extend(done)
            self.buf[s] = b
        return n

    def until(self, cond, what, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while not cond():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
            self.pump(min(left, 0.2))


def has_line(lines, needle):
    return any(needle in line for line in lines)


# ---------------------------------------------------------------------------
# chat-server scenarios. Each gets a running server and returns a dict of figures.


def probe_chat(srv):
    """Two new clients: a line from one reaches the other. The server still serves."""
    a, b = connect(srv.port), connect(srv.port)
    r = Reader()
    r.add(a)
    r.add(b)
    r.until(lambda: has_line(r.lines[a], b"* welcome") and has_line(r.lines[b], b"* welcome"), "probe welcomes")
    token = f"probe {time.monotonic()}".encode()
    a.sendall(token + b"\n")
    r.until(lambda: has_line(r.lines[b], token), "the probe line")
    a.close()
    b.close()


def chat_many(srv, clients=1000):
    socks = []
    r = Reader()
    t0 = time.monotonic()
    for i in range(clients):
        s = connect(srv.port)
        socks.append(s)
        r.add(s)
        if i % 50 == 49:
            r.pump(0)
    r.until(lambda: all(has_line(r.lines[s], b"* welcome") for s in socks), f"{clients} welcomes", timeout=60)
    connected_s = time.monotonic() - t0
    held_fds = srv.fds()
    check(held_fds >= clients, f"the server holds {held_fds} descriptors with {clients} clients connected")
    token = b"hello to everyone from client 0"
    t1 = time.monotonic()
    socks[0].sendall(token + b"\n")
    r.until(lambda: all(has_line(r.lines[s], token) for s in socks[1:]),
            f"the line at all {clients - 1} other clients", timeout=60)
    fanout_ms = (time.monotonic() - t1) * 1000
    check(not has_line(r.lines[socks[0]], b"] " + token), "the sender got its own line back")
    check(not r.closed, f"{len(r.closed)} clients were dropped")
    rss = srv.rss_kb()
    for i, s in enumerate(socks):
        r.remove(s)
        if i % 2:
            reset(s)
        else:
            s.close()
    return {"clients held": clients, "server fds while held": held_fds,
            "connect+welcome s": round(connected_s, 2), "one line to all ms": round(fanout_ms, 1),
            "VmRSS held kB": rss}


def chat_cycles(srv, cycles=10000, batch=200):
    t0 = time.monotonic()
    done = 0
    while done < cycles:
        socks = [connect(srv.port) for _ in range(min(batch, cycles - done))]
        for i, s in enumerate(socks):
            if (done + i) % 2:
                reset(s)
            else:
                s.close()
        done += len(socks)
    took = time.monotonic() - t0
    return {"cycles": cycles, "cycles s": round(took, 2), "cycles per s": round(cycles / took)}


def chat_reset(srv, clients=200):
    watcher = connect(srv.port)
    r = Reader()
    r.add(watcher)
    r.until(lambda: has_line(r.lines[watcher], b"* welcome"), "the watcher's welcome")
    fds = srv.fds()
    for i in range(clients):
        s = connect(srv.port)
        s.sendall(b"FRAGMENT-%d never finished" % i)
        reset(s)
        if i % 20 == 0:
            r.pump(0)
    # The server let every one of them go (a client that comes and goes within one
    # round of the server is not announced, and one reset before it was accepted is
    # skipped by accept: so count descriptors, not departures)...
    srv.wait_fds(fds, f"{clients} resets")
    # ...and after a line sent later has reached the watcher, none of their half lines
    # ever has.
    other = connect(srv.port)
    other.sendall(b"after the resets\n")
    r.until(lambda: has_line(r.lines[watcher], b"after the resets"), "a line sent after the resets")
    other.close()
    frag = [line for line in r.lines[watcher] if b"FRAGMENT" in line]
    check(not frag, f"a half line of a reset client was delivered: {frag[:3]!r}")
    watcher.close()
    return {"reset clients": clients}


def chat_slowloris(srv, clients=20, seconds=10):
    slow = [connect(srv.port) for _ in range(clients)]
    a, b = connect(srv.port), connect(srv.port)
    r = Reader()
    for s in [a, b] + slow:
        r.add(s)
    r.until(lambda: has_line(r.lines[a], b"* welcome") and has_line(r.lines[b], b"* welcome"), "welcomes")
    worst = 0.0
    sent = 0
    t0 = time.monotonic()
    next_byte = t0
    k = 0
    text = b"slow-line-"
    while time.monotonic() - t0 < seconds:
        now = time.monotonic()
        if now >= next_byte:
            for s in slow:
                s.send(text[k % len(text):k % len(text) + 1])
            k += 1
            next_byte += 1.0
        token = b"fast %d" % sent
        t1 = time.monotonic()
        a.sendall(token + b"\n")
        r.until(lambda: has_line(r.lines[b], token), f"fast line {sent}", timeout=5)
        worst = max(worst, time.monotonic() - t1)
        sent += 1
        r.pump(0.1)
    check(worst < 1.0, f"a line between two fast clients took {worst * 1000:.0f} ms among slow senders")
    # The slow lines end; each arrives whole at b.
    for s in slow:
        s.send(b"\n")
    r.until(lambda: sum(1 for line in r.lines[b] if b"] slow-line" in line) >= clients, f"the {clients} slow lines")
    for s in slow + [a, b]:
        r.remove(s)
        s.close()
    return {"slow clients": clients, "slow seconds": seconds, "fast lines": sent,
            "worst fast line ms": round(worst * 1000, 1)}


def chat_bigline(srv, size=10 * 1024 * 1024):
    watcher = connect(srv.port)
    r = Reader()
    r.add(watcher)
    r.until(lambda: has_line(r.lines[watcher], b"* welcome"), "the watcher's welcome")
    big = connect(srv.port)
    big.settimeout(WAIT)
    chunk = b"x" * 65536
    sent = 0
    cut = None
    t0 = time.monotonic()
    try:
        while sent < size:
            sent += big.send(chunk[:min(len(chunk), size - sent)])
            if sent % (1 << 20) < len(chunk):
                r.pump(0)
    except (ConnectionResetError, BrokenPipeError) as e:
        cut = type(e).__name__
    except socket.timeout:
        cut = "send timed out (the server stopped reading)"
    took = time.monotonic() - t0
    big.close()
    r.until(lambda: has_line(r.lines[watcher], b" left"), "the big sender's departure")
    check(not any(len(line) > MAX_LINE + 100 for line in r.lines[watcher]), "a line over the limit was delivered")
    watcher.close()
    return {"big line bytes attempted": size, "bytes the server let in": sent, "sender cut by": cut or "nothing",
            "bigline s": round(took, 2)}


def chat_noreader(srv, total=16 * 1024 * 1024, line_len=1024):
    sink = connect(srv.port)  # it never reads (until it is dropped, to see the end)
    sender, reader = connect(srv.port), connect(srv.port)
    r = Reader()
    r.add(sender)
    r.add(reader)
    r.until(lambda: has_line(r.lines[reader], b"* welcome"), "welcome")
    n_lines = total // line_len
    pad = b"y" * (line_len - 16)
    sender.setblocking(True)
    sender.settimeout(WAIT)
    t0 = time.monotonic()
    i = 0
    seen = 0
    # Send in pieces while the reader reads, so that flow control can work.
    while i < n_lines:
        out = []
        for _ in range(64):
            if i == n_lines:
                break
            out.append(b"%08d" % i + pad + b"\n")
            i += 1
        data = b"".join(out)
        off = 0
        while off < len(data):
            try:
                off += sender.send(data[off:off + 65536])
            except (BlockingIOError, socket.timeout):
                pass
            r.pump(0)
        check(time.monotonic() - t0 < 120, "flooding took over 120 s")
    sent_s = time.monotonic() - t0

    def all_in():
        return sum(1 for line in r.lines[reader] if line.endswith(pad)) >= n_lines

    r.until(all_in, f"{n_lines} lines at the reader", timeout=60)
    got = [line for line in r.lines[reader] if line.endswith(pad)]
    nums = [int(line.split(b"] ", 1)[1][:8]) for line in got]
    check(nums == list(range(n_lines)), "the reader's lines are not all there, in order")
    hwm = srv.hwm_kb()
    # The sink is dropped: reading it now gives what had reached it, then the end.
    sink.settimeout(WAIT)
    dropped = False
    drained = 0
    t1 = time.monotonic()
    try:
        while time.monotonic() - t1 < WAIT:
            data = sink.recv(1 << 16)
            if not data:
                dropped = True
                break
            drained += len(data)
    except ConnectionResetError:
        dropped = True
    check(dropped, "the client that never read was never dropped")
    check(drained < total, f"the non-reader got all {drained} bytes: it was never behind")
    for s in (sink, sender, reader):
        r.remove(s)
        s.close()
    return {"flood bytes": total, "flood lines": n_lines, "flood s": round(sent_s, 2),
            "lines the reader got in order": len(nums), "bytes the non-reader had got": drained,
            "VmHWM during flood kB": hwm}


CHAT = [("many", chat_many), ("cycles", chat_cycles), ("reset", chat_reset),
        ("slowloris", chat_slowloris), ("bigline", chat_bigline), ("noreader", chat_noreader)]


# ---------------------------------------------------------------------------
# server (the notes' one)


def ask_server(port, msg=b"hola"):
    s = connect(port)
    s.sendall(msg)
    s.settimeout(WAIT)
    data = b""
    while True:
        k = s.recv(1024)
        if not k:
            break
        data += k
    s.close()
    return data


def server_silent(srv):
    silent = connect(srv.port)
    t0 = time.monotonic()
    reply = ask_server(srv.port)  # queued behind the silent one
    waited = time.monotonic() - t0
    check(reply == b"Un saludo, crack\n", f"the next client got {reply!r}")
    check(9.0 <= waited <= 10.0 + WAIT, f"the next client waited {waited:.1f} s (the server's timeout is 10 s)")
    check(b"receiving from" in srv.stderr() and b"SK_ETIMEDOUT" in srv.stderr(),
          "the server did not log the silent client's timeout")
    silent.close()
    return {"silent client held the server s": round(waited, 2)}


def server_resetnow(srv):
    for _ in range(20):
        reset(connect(srv.port))
    reply = ask_server(srv.port)
    check(reply == b"Un saludo, crack\n", f"after 20 resets the next client got {reply!r}")
    return {"reset-at-once clients": 20}


SERVER = [("silent", server_silent), ("resetnow", server_resetnow)]


# ---------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--suffix", default="")
    ap.add_argument("--report")
    ap.add_argument("--only", nargs="*", default=None)
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < min(hard, 4096):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    # The whole run is bounded: a hung scenario ends it.
    watchdog = threading.Timer(600, lambda: (print("hostile.py: watchdog: over 600 s", flush=True), os._exit(3)))
    watchdog.daemon = True
    watchdog.start()

    chat = os.path.join(args.bin_dir, "chat-server" + args.suffix)
    server = os.path.join(args.bin_dir, "server" + args.suffix)
    report = []
    failed = 0
    start = time.monotonic()
    for prog, scenarios, argv in (("chat-server", CHAT, [chat, "127.0.0.1", "0"]),
                                  ("server", SERVER, [server, "127.0.0.1", "0"])):
        if not os.access(argv[0], os.X_OK):
            print(f"FAIL {prog}: {argv[0]} is not there (build the examples first)")
            failed += 1
            continue
        for name, fn in scenarios:
            if args.only and name not in args.only:
                continue
            srv = Proc(argv, prog)
            t0 = time.monotonic()
            figures = {}
            try:
                fds0 = srv.fds()
                figures = fn(srv) or {}
                fds1 = srv.wait_fds(fds0, name)
                if prog == "chat-server":
                    probe_chat(srv)
                    srv.wait_fds(fds0, name + " and the probe")
                else:
                    check(ask_server(srv.port) == b"Un saludo, crack\n", "the server does not answer any more")
                hwm = srv.hwm_kb()
                check(srv.alive(), f"{prog} died")
                if prog == "chat-server":
                    check(hwm < MEM_BOUND_KB, f"peak resident size {hwm} kB, over {MEM_BOUND_KB} kB")
                figures.update({"fds before": fds0, "fds after": fds1, "VmHWM kB": hwm,
                                "VmRSS after kB": srv.rss_kb(), "s": round(time.monotonic() - t0, 2)})
                line = f"ok   {prog} {name}: " + ", ".join(f"{k} {v}" for k, v in figures.items())
            except Exception as e:  # noqa: BLE001 - any failure is this scenario's
                failed += 1
                alive = srv.alive()
                line = (f"FAIL {prog} {name}: {type(e).__name__}: {e} (server {'alive' if alive else 'DEAD, status %s' % srv.p.poll()}; "
                        f"last log: {srv.stderr()[-300:]!r})")
            rc = srv.stop()
            if rc not in (0, -signal.SIGTERM) and not line.startswith("FAIL"):
                failed += 1
                line = f"FAIL {prog} {name}: exit status {rc} after SIGTERM; " + line
            print(line, flush=True)
            report.append(line)
    summary = f"hostile.py: {'all passed' if not failed else f'{failed} FAILED'} in {time.monotonic() - start:.0f} s"
    print(summary, flush=True)
    report.append(summary)
    if args.report:
        with open(args.report, "w") as f:
            f.write("\n".join(report) + "\n")
    os._exit(1 if failed else 0)


if __name__ == "__main__":
    main()
