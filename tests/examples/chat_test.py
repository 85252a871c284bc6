#!/usr/bin/env python3
"""End-to-end tests of examples/chat-server and examples/chat-client.

    chat_test.py --server PATH --client PATH TEST      (TEST "all": every one)
    chat_test.py --list

Each TEST is one scenario, run against the binaries given (CTest runs every scenario
against the shared and the -static builds). Everything happens on loopback with
ephemeral ports: the server is started on port 0 and tells its port on standard error
("listening on 127.0.0.1:PORT"). Every wait is bounded; a scenario that cannot finish
fails with a message saying what it was waiting for. Exit status: 0 pass, 1 fail,
77 skipped (a tool or a resource this machine lacks, e.g. nc or ::1).

Python 3 standard library only; nothing is installed.
"""
import argparse
import os
import re
import resource
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

SKIP = 77
MAX_LINE = 64 * 1024          # the server's bound on one line (newline excluded)
MAX_QUEUE = 1024 * 1024       # the server's bound on output waiting for one client
WAIT = 30.0                   # seconds any one wait may take on a slow, shared machine


class Skip(Exception):
    pass


def short(x, n=300):
    """repr of x, cut to n characters for a failure message."""
    r = repr(x)
    return r if len(r) <= n else r[:n] + "..."


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


# ---------------------------------------------------------------------------
# The server process


class Server:
    """chat-server on HOST port 0; its standard error goes to a file (never a pipe
    that nobody drains)."""

    def __init__(self, path, host="127.0.0.1", preexec_fn=None):
        self.log = tempfile.NamedTemporaryFile(prefix="chat-server-", suffix=".log")
        self.proc = subprocess.Popen([path, host, "0"], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self.log,
                                     preexec_fn=preexec_fn)
        try:
            self._find_port()
        except BaseException:
            self.kill()
            raise

    def _find_port(self):
        deadline = time.monotonic() + WAIT
        while True:
            m = re.search(r"listening on (\S+)", self.log_text())
            if m:
                break
            if self.proc.poll() is not None:
                raise AssertionError("chat-server exited with %d before listening:\n%s"
                                     % (self.proc.returncode, self.log_text()))
            check(time.monotonic() < deadline, "chat-server never said where it listens")
            time.sleep(0.01)
        text = m.group(1)
        if text.startswith("unix:"):
            self.unix_path = text[len("unix:"):]
            return
        h, _, p = text.rpartition(":")
        self.host = h.strip("[]")
        self.port = int(p)
        self.family = socket.AF_INET6 if ":" in self.host else socket.AF_INET

    def log_text(self):
        with open(self.log.name, "r", errors="replace") as f:
            return f.read()

    def stop(self):
        """SIGTERM; the server must exit 0 by itself, promptly."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            raise AssertionError("chat-server did not exit after SIGTERM")
        check(rc == 0, "chat-server exited with %d after SIGTERM (want 0)" % rc)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


# ---------------------------------------------------------------------------
# Test clients: non-blocking sockets driven by one selector loop


def addr_name(host, port):
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


class Peer:
    """One chat participant. `reading=False` makes a client that never reads."""

    def __init__(self, server, reading=True, rcvbuf=None):
        s = socket.socket(server.family, socket.SOCK_STREAM)
        if rcvbuf is not None:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(WAIT)
        s.connect((server.host, server.port))
        s.setblocking(False)
        self.sock = s
        host, port = s.getsockname()[:2]
        self.name = addr_name(host, port).encode()
        self.tag = b"[" + self.name + b"] "
        self.reading = reading
        self.rbuf = b""
        self.lines = []        # complete lines received, without the newline
        self.out = bytearray() # bytes still to send
        self.sent = 0          # bytes handed to the socket
        self.received = 0      # bytes received
        self.end = None        # None while open; "eof" or "reset" once the server ended it
        self.max_write = None  # bytes per send at most: a sender no faster than its readers

    def fileno(self):
        return self.sock.fileno()

    def wants(self):
        ev = 0
        if self.end is None:
            if self.reading:
                ev |= selectors.EVENT_READ
            if self.out:
                ev |= selectors.EVENT_WRITE
        return ev

    def send(self, data):
        self.out += data

    def on_read(self):
        # Drain what is there (bounded): the server drops a reader that falls 1 MiB behind.
        chunks = []
        for _ in range(64):
            try:
                d = self.sock.recv(1 << 16)
            except BlockingIOError:
                break
            except (ConnectionResetError, BrokenPipeError):
                self.end = "reset"
                break
            if not d:
                self.end = "eof"
                break
            chunks.append(d)
            self.received += len(d)
        if chunks:
            parts = (self.rbuf + b"".join(chunks)).split(b"\n")
            self.rbuf = parts.pop()
            self.lines.extend(parts)

    def on_write(self):
        try:
            k = self.sock.send(self.out if self.max_write is None else self.out[:self.max_write])
        except BlockingIOError:
            return
        except (ConnectionResetError, BrokenPipeError):
            self.end = "reset"
            return
        del self.out[:k]
        self.sent += k

    def close(self):
        self.sock.close()

    def reset(self):
        """Vanish: SO_LINGER 0 makes close() send a reset."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()
        self.end = "closed"

    # what arrived
    def chat_lines(self):
        return [l for l in self.lines if l.startswith(b"[")]

    def notices(self):
        return [l for l in self.lines if l.startswith(b"* ")]

    def saw(self, line):
        return line in self.lines


class PipeReader:
    """Standard output (or error) of a child process, read in the same loop."""

    def __init__(self, f):
        self.f = f
        os.set_blocking(f.fileno(), False)
        self.data = b""
        self.end = None

    def fileno(self):
        return self.f.fileno()

    def wants(self):
        return selectors.EVENT_READ if self.end is None else 0

    def on_read(self):
        try:
            d = os.read(self.f.fileno(), 1 << 16)
        except BlockingIOError:
            return
        if not d:
            self.end = "eof"
        self.data += d

    def lines(self):
        return self.data.split(b"\n")


def pump(things, until, what, timeout=WAIT):
    """Move bytes for every peer (and pipe) until until() holds; fail after timeout."""
    sel = selectors.DefaultSelector()
    reg = {}
    deadline = time.monotonic() + timeout
    try:
        while True:
            if until():
                return
            check(time.monotonic() < deadline, "timed out waiting for " + what)
            for t in things:
                ev = t.wants()
                cur = reg.get(t, 0)
                if ev != cur:
                    if cur and ev:
                        sel.modify(t, ev)
                    elif ev:
                        sel.register(t, ev)
                    else:
                        sel.unregister(t)
                    reg[t] = ev
            if not any(reg.values()):
                time.sleep(0.01)
                continue
            for key, ev in sel.select(0.05):
                t = key.fileobj
                if ev & selectors.EVENT_READ:
                    t.on_read()
                if ev & selectors.EVENT_WRITE and t.end is None:
                    t.on_write()
    finally:
        sel.close()


def settle(things, secs=0.2):
    """Keep moving bytes for a moment: anything extra (a duplicate) arrives now."""
    end = time.monotonic() + secs
    pump(things, lambda: time.monotonic() >= end, "a moment")


def wait_welcome(peers):
    pump(peers, lambda: all(any(l.startswith(b"* welcome ") for l in p.lines) for p in peers),
         "the server's welcome for every client")
    for p in peers:
        welcome = [l for l in p.lines if l.startswith(b"* welcome ")]
        check(len(welcome) == 1, "%s: %d welcome lines" % (p.name, len(welcome)))
        check(re.fullmatch(rb"\* welcome " + re.escape(p.name) + rb", \d+ others? here", welcome[0]),
              "%s: bad welcome %r" % (p.name, welcome[0]))


def connect_all(server, n, **kw):
    peers = [Peer(server, **kw) for _ in range(n)]
    wait_welcome(peers)
    return peers


def expect_lines_from(reader, sender, payloads):
    """reader got exactly these lines from sender, in this order, with sender's tag."""
    got = [l[len(sender.tag):] for l in reader.lines if l.startswith(sender.tag)]
    check(got == payloads, "%s got %d lines from %s, want %d%s" % (
        reader.name, len(got), sender.name, len(payloads),
        "" if len(got) != len(payloads) else " (same count, wrong content or order)"))


# ---------------------------------------------------------------------------
# Scenarios


def t_broadcast(args):
    """50 reading clients and one that never reads (but stays under the bound): every line
    reaches every other client exactly once, in order per sender, correctly tagged;
    joins and departures are announced; the idle client finally gets everything."""
    srv = Server(args.server)
    try:
        idle = Peer(srv, reading=False)   # first in the accept queue: it hears every join
        readers = []
        for _ in range(50):
            # One at a time, so the order of joins is known.
            readers.append(Peer(srv))
            wait_welcome([readers[-1]])
        # Joins: each reader heard exactly those who came after it, in order.
        for i, r in enumerate(readers):
            pump(readers, lambda: len(r.notices()) >= 1 + (49 - i), "joins at reader %d" % i)
        for i, r in enumerate(readers):
            want = [b"* " + p.name + b" joined" for p in readers[i + 1:]]
            check(r.notices()[1:] == want, "reader %d heard joins %s, want %s" % (i, short(r.notices()[1:]), short(want)))

        M = 20
        sent = {}
        for i, p in enumerate(readers):
            sent[p] = [("%d:%d:" % (i, k)).encode() + b"x" * ((i * 31 + k * 17) % 300) for k in range(M)]
            p.send(b"".join(l + b"\n" for l in sent[p]))
        total = 49 * M
        pump(readers, lambda: all(len(r.chat_lines()) >= total for r in readers),
             "every line at every reader")
        settle(readers)  # anything extra (a duplicate) would arrive now
        for r in readers:
            check(len(r.chat_lines()) == total, "%s got %d chat lines, want %d" % (r.name, len(r.chat_lines()), total))
            check(not any(l.startswith(r.tag) for l in r.lines), "%s got its own line back" % r.name)
            for p in readers:
                if p is not r:
                    expect_lines_from(r, p, sent[p])

        # An orderly goodbye with a last line that has no newline: it is delivered,
        # then the departure is announced; the leaver sees the server close.
        bye = readers[0]
        bye.send(b"bye without newline")
        pump([bye], lambda: not bye.out, "the last words")
        bye.sock.shutdown(socket.SHUT_WR)
        rest = readers[1:]
        left = b"* " + bye.name + b" left"
        pump(readers, lambda: all(r.saw(left) for r in rest) and bye.end is not None,
             "the goodbye at every reader and the server closing the leaver")
        check(bye.end == "eof", "the leaver saw %s, want an orderly close" % bye.end)
        for r in rest:
            i = r.lines.index(left)
            check(r.lines[i - 1] == bye.tag + b"bye without newline",
                  "%s: the last line before %r is %r" % (r.name, left, r.lines[i - 1]))
            check(r.lines.count(left) == 1, "%s heard the departure %d times" % (r.name, r.lines.count(left)))

        # The client that never read was never dropped: it now reads everything.
        idle.reading = True
        want_idle = 1 + 50 + 50 * M + 1 + 1  # welcome, joins, lines, bye line, departure
        pump([idle], lambda: len(idle.lines) >= want_idle, "the idle client's backlog")
        check(idle.end is None, "the idle client was dropped (%s)" % idle.end)
        check(idle.notices()[1:51] == [b"* " + p.name + b" joined" for p in readers],
              "the idle client heard joins %s" % short(idle.notices()[1:51]))
        for p in readers:
            expect_lines_from(idle, p, sent[p] + ([b"bye without newline"] if p is bye else []))
        check(idle.lines[-1] == left, "the idle client's last line is %r" % idle.lines[-1])

        srv.stop()
        # Everyone still connected sees the server close.
        live = rest + [idle]
        pump(live, lambda: all(p.end is not None for p in live), "end of stream at every client")
        for p in live:
            check(p.end == "eof", "%s saw %s when the server stopped" % (p.name, p.end))
    finally:
        srv.kill()


def t_stalled_reader(args):
    """A client that stops reading is dropped once its backlog passes 1 MiB, and only
    then; the readers lose nothing, before or after."""
    srv = Server(args.server)
    try:
        a, b, c = connect_all(srv, 3)
        # Small receive buffer: less of the backlog can hide in the kernel.
        stalled = Peer(srv, reading=False, rcvbuf=4096)
        wait_welcome_passive = b"* " + stalled.name + b" joined"
        pump([a, b, c], lambda: all(p.saw(wait_welcome_passive) for p in (a, b, c)), "the stalled client's join")

        left = b"* " + stalled.name + b" left"
        payloads = []
        limit = 64 * MAX_QUEUE
        a.max_write = 16 * 1024  # b and c keep up; only the stalled client falls behind

        def more():
            while len(a.out) < 256 * 1024 and a.sent + len(a.out) < limit:
                p = ("%08d " % len(payloads)).encode() + b"s" * 1000
                payloads.append(p)
                a.send(p + b"\n")
            return b.saw(left) and c.saw(left)

        pump([a, b, c], more, "the stalled client to be dropped", timeout=60)
        # The bytes the readers received before the departure were queued for the
        # stalled client too: it was dropped only after passing the bound.
        before = b.lines[:b.lines.index(left)]
        tagged = sum(len(l) + 1 for l in before if l.startswith(a.tag))
        if os.environ.get("CHAT_TEST_VERBOSE"):
            print("stalled client dropped after %d bytes of lines" % tagged)
        check(tagged > MAX_QUEUE, "dropped after only %d bytes of lines (bound %d)" % (tagged, MAX_QUEUE))

        for k in range(10):
            p = ("after %d" % k).encode()
            payloads.append(p)
            a.send(p + b"\n")
        c.send(b"c is still here\n")
        pump([a, b, c], lambda: not a.out and b.saw(a.tag + b"after 9")
             and c.saw(a.tag + b"after 9") and a.saw(c.tag + b"c is still here")
             and b.saw(c.tag + b"c is still here"), "lines after the drop")
        expect_lines_from(b, a, payloads)
        expect_lines_from(c, a, payloads)
        check(b.lines.count(left) == 1 and c.lines.count(left) == 1, "departure announced more than once")

        # The stalled client never sent anything, so the server's close is orderly: it
        # still receives everything the server had handed to the system, then end of
        # stream. What it got is a prefix of what was sent.
        stalled.reading = True
        pump([stalled], lambda: stalled.end is not None, "the stalled client's connection to end")
        check(stalled.end == "eof", "the stalled client saw %s, want an orderly close" % stalled.end)
        got = [l[len(a.tag):] for l in stalled.lines if l.startswith(a.tag)]
        check(got == payloads[:len(got)], "the stalled client's lines are not a prefix of what was sent")
        check(len(got) < len(payloads) - 10, "the stalled client got lines sent after its drop")
        # The rest was in the server's queue when it dropped the client: more than the
        # bound with the last batch of lines (at most one 64 KiB read, tagged) counted,
        # no more than the bound without it.
        welcome = len(stalled.lines[0]) + 1
        queued = tagged - (stalled.received - welcome)
        if os.environ.get("CHAT_TEST_VERBOSE"):
            print("the system took %d bytes; %d were queued" % (stalled.received - welcome, queued))
        check(MAX_QUEUE < queued <= MAX_QUEUE + 80 * 1024,
              "the server dropped the stalled client with %d bytes queued (bound %d)" % (queued, MAX_QUEUE))
        srv.stop()
    finally:
        srv.kill()


class SlowPeer(Peer):
    """A reader that keeps reading, slowly: at most `chunk` bytes every `period` seconds
    (one recv), whatever is waiting."""

    def __init__(self, server, chunk=64 * 1024, period=0.05, **kw):
        Peer.__init__(self, server, **kw)
        self.chunk = chunk
        self.period = period
        self.next_read = time.monotonic()

    def wants(self):
        ev = Peer.wants(self)
        if ev & selectors.EVENT_READ and time.monotonic() < self.next_read:
            ev &= ~selectors.EVENT_READ
        return ev

    def on_read(self):
        if time.monotonic() < self.next_read:
            return
        self.next_read = time.monotonic() + self.period
        try:
            d = self.sock.recv(self.chunk)
        except BlockingIOError:
            return
        except (ConnectionResetError, BrokenPipeError):
            self.end = "reset"
            return
        if not d:
            self.end = "eof"
            return
        self.received += len(d)
        parts = (self.rbuf + d).split(b"\n")
        self.rbuf = parts.pop()
        self.lines.extend(parts)


def blaster(sender, payloads, tag, count, size=1000):
    """A more() for pump: keeps `sender` sending lines (its own "%s %08d " prefix),
    256 KiB ahead of the socket at most, until `count` lines are out."""
    def more():
        while len(sender.out) < 256 * 1024 and len(payloads) < count:
            p = ("%s %08d " % (tag, len(payloads))).encode()
            p += b"b" * (size - len(p))
            payloads.append(p)
            sender.send(p + b"\n")
        return len(payloads) >= count and not sender.out
    return more


def held_count(srv):
    """How many times the server held its input (its last words on standard error)."""
    m = re.search(r"input held (\d+) times", srv.log_text())
    check(m, "the server did not say how often it held its input:\n%s" % srv.log_text()[-2000:])
    return int(m.group(1))


def t_slow_reader(args, chunk=64 * 1024, period=0.05, N=4000):
    """A reader slower than the senders that keeps reading (64 KiB every 50 ms while two
    others blast 8 MB) is never dropped and receives everything, in order: the server
    holds its input while that reader drains instead of dropping it at 1 MiB."""
    srv = Server(args.server)
    try:
        a, b = connect_all(srv, 2)
        slow = SlowPeer(srv, chunk=chunk, period=period, rcvbuf=min(chunk, 64 * 1024))
        wait_welcome([slow])
        joined = b"* " + slow.name + b" joined"
        pump([a, b, slow], lambda: a.saw(joined) and b.saw(joined), "the slow reader's join")

        # N lines of 1000 bytes from each blaster: 8 MB in all by default, far past 1 MiB
        pa, pb = [], []
        more_a, more_b = blaster(a, pa, "a", N), blaster(b, pb, "b", N)
        def done():
            check(slow.end is None, "the slow reader was dropped (%s) after %d of %d lines"
                  % (slow.end, len(slow.chat_lines()), 2 * N))
            return ((more_a() & more_b()) and len(slow.chat_lines()) >= 2 * N
                    and len(a.chat_lines()) >= N and len(b.chat_lines()) >= N)

        pump([a, b, slow], done, "every line at the slow reader", timeout=120)
        settle([a, b, slow])
        check(slow.end is None, "the slow reader was dropped (%s)" % slow.end)
        left = b"* " + slow.name + b" left"
        check(not a.saw(left) and not b.saw(left), "the others were told the slow reader left")
        expect_lines_from(slow, a, pa)
        expect_lines_from(slow, b, pb)
        expect_lines_from(a, b, pb)
        expect_lines_from(b, a, pa)
        check(len(slow.chat_lines()) == 2 * N, "the slow reader got %d chat lines, want %d" % (len(slow.chat_lines()), 2 * N))
        srv.stop()
        held = held_count(srv)
        if os.environ.get("CHAT_TEST_VERBOSE"):
            print("input held %d times" % held)
        check(held >= 1, "the server never held its input, so the test proved nothing")
    finally:
        srv.kill()


def t_slower_reader(args):
    """A reader that takes only 16 KiB every 100 ms (160 KB/s) while two others blast
    2 MB is kept too: the server, having lowered what the system may hold unsent for it
    once it fell behind, must still see it drain what the system held before (its
    socket says "writable" only after that), or it drops it as stalled."""
    t_slow_reader(args, chunk=16 * 1024, period=0.1, N=1000)


def t_stopped_reader(args):
    """A reader that was keeping up and then stops reading while another client blasts:
    it holds the input for a bounded time only, is dropped past 1 MiB, and the others
    then receive everything, in order."""
    srv = Server(args.server)
    try:
        a, b = connect_all(srv, 2)
        stops = Peer(srv, rcvbuf=64 * 1024)
        wait_welcome([stops])
        joined = b"* " + stops.name + b" joined"
        pump([a, b, stops], lambda: a.saw(joined) and b.saw(joined), "the join")

        N = 8000  # 8 MB from a
        pa = []
        more_a = blaster(a, pa, "a", N)
        # It reads the first 500 lines, then never again.
        pump([a, b, stops], lambda: more_a() or len(stops.chat_lines()) >= 500, "the first lines at the reader")
        stops.reading = False
        stopped_at = time.monotonic()
        left = b"* " + stops.name + b" left"
        pump([a, b, stops], lambda: (more_a() & b.saw(left)) and a.saw(left), "the stopped reader to be dropped",
             timeout=60)
        took = time.monotonic() - stopped_at
        if os.environ.get("CHAT_TEST_VERBOSE"):
            print("dropped %.2f s after it stopped reading" % took)
        pump([a, b], lambda: more_a() and len(b.chat_lines()) >= N, "every line at the other reader", timeout=60)
        b.send(b"b is still here\n")
        pump([a, b], lambda: a.saw(b.tag + b"b is still here"), "a line after the drop")
        settle([a, b])
        expect_lines_from(b, a, pa)
        check(a.end is None and b.end is None, "a reader that kept up was dropped")
        check(a.lines.count(left) == 1 and b.lines.count(left) == 1, "departure announced more than once")
        log = srv.log_text()
        check(re.search(re.escape(stops.name.decode()) + r" left: not reading", log),
              "the server's reason for dropping it:\n%s" % log[-2000:])
        # What it received before it stopped and after is a prefix of what was sent.
        stops.reading = True
        pump([stops], lambda: stops.end is not None, "the dropped reader's connection to end")
        got = [l[len(a.tag):] for l in stops.lines if l.startswith(a.tag)]
        check(got == pa[:len(got)], "the dropped reader's lines are not a prefix of what was sent")
        check(len(got) < N, "the dropped reader got every line")
        srv.stop()
    finally:
        srv.kill()


def t_quiet_stall(args):
    """A reader that falls behind (past the high-water mark, below 1 MiB) and then takes
    nothing more is dropped after 5 s without progress even when nobody sends, and the
    others lose nothing."""
    srv = Server(args.server)
    try:
        a, b = connect_all(srv, 2)
        stalled = Peer(srv, reading=False, rcvbuf=4096)
        wait_welcome_join = b"* " + stalled.name + b" joined"
        pump([a, b], lambda: a.saw(wait_welcome_join) and b.saw(wait_welcome_join), "the join")
        behind = stalled.name.decode() + " is "
        # a sends 32 lines at a time, each batch once b has the previous one, until the
        # server says the stalled client is behind: its queue is then past the
        # high-water mark by at most one batch, far below 1 MiB.
        pa = []
        deadline = time.monotonic() + WAIT
        while behind not in srv.log_text():
            check(time.monotonic() < deadline, "the server never said the stalled client was behind")
            for _ in range(32):
                p = ("a %08d " % len(pa)).encode() + b"q" * 990
                pa.append(p)
                a.send(p + b"\n")
            pump([a, b], lambda: len(b.chat_lines()) >= len(pa), "batch %d at b" % (len(pa) // 32))
        quiet_from = time.monotonic()
        left = b"* " + stalled.name + b" left"
        pump([a, b], lambda: a.saw(left) and b.saw(left), "the stalled client to be dropped", timeout=WAIT)
        took = time.monotonic() - quiet_from
        if os.environ.get("CHAT_TEST_VERBOSE"):
            print("%d lines sent; dropped %.2f s after the room went quiet" % (len(pa), took))
        log = srv.log_text()
        check(re.search(re.escape(stalled.name.decode()) + r" left: not reading: no progress for 5 s", log),
              "the server's reason for dropping it:\n%s" % log[-2000:])
        expect_lines_from(b, a, pa)
        a.send(b"after\n")
        pump([a, b], lambda: b.saw(a.tag + b"after"), "a line after the drop")
        srv.stop()
    finally:
        srv.kill()


def t_long_line(args):
    """A line of exactly 64 KiB is delivered; a longer one drops its sender, after the
    complete lines it sent before it; the others carry on."""
    srv = Server(args.server)
    try:
        a, b, c = connect_all(srv, 3)
        pump([a, b, c], lambda: b.saw(b"* " + c.name + b" joined") and a.saw(b"* " + c.name + b" joined"), "joins")
        exact = b"a" * MAX_LINE
        a.send(exact + b"\n")
        pump([a, b, c], lambda: b.saw(a.tag + exact) and c.saw(a.tag + exact), "the 64 KiB line")

        a.send(b"before\n" + b"b" * (MAX_LINE + 1) + b"\n")
        left = b"* " + a.name + b" left"
        pump([a, b, c], lambda: b.saw(left) and c.saw(left) and a.end is not None,
             "the long line's sender to be dropped")
        for r in (b, c):
            check(r.lines[r.lines.index(left) - 1] == a.tag + b"before",
                  "%s: the complete line before the long one was not delivered" % r.name)
            check(not any(l.startswith(a.tag + b"bb") for l in r.lines), "%s got part of the long line" % r.name)
        c.send(b"carry on\n")
        pump([b, c], lambda: b.saw(c.tag + b"carry on"), "a line after the drop")
        expect_lines_from(b, a, [exact, b"before"])
        srv.stop()
    finally:
        srv.kill()


def t_reset(args):
    """A client that vanishes with a reset is dropped cleanly; its unfinished line is
    discarded; the others and newcomers are unaffected."""
    srv = Server(args.server)
    try:
        a, b, c = connect_all(srv, 3)
        pump([a, b, c], lambda: b.saw(b"* " + c.name + b" joined"), "joins")
        a.send(b"complete\nhalf a line")
        pump([a, b, c], lambda: not a.out and b.saw(a.tag + b"complete") and c.saw(a.tag + b"complete"),
             "a's complete line")
        a.reset()
        left = b"* " + a.name + b" left"
        pump([b, c], lambda: b.saw(left) and c.saw(left), "the reset client's departure")
        b.send(b"after the reset\n")
        pump([b, c], lambda: c.saw(b.tag + b"after the reset"), "a line after the reset")
        d = Peer(srv)
        wait_welcome([d])
        check(d.lines[0] == b"* welcome " + d.name + b", 2 others here", "newcomer welcome: %r" % d.lines[0])
        pump([b, c, d], lambda: b.saw(b"* " + d.name + b" joined") and c.saw(b"* " + d.name + b" joined"),
             "the newcomer's join")
        for r in (b, c):
            check(not any(b"half a line" in l for l in r.lines), "%s got the reset client's unfinished line" % r.name)
            check(r.end is None, "%s was dropped" % r.name)
        srv.stop()
    finally:
        srv.kill()


def t_unix_shutdown_while_behind(args):
    """A client on a Unix socket stops reading until its output waits in the server, then
    shuts down both halves: the server's last send to it fails (EPIPE), it is dropped,
    and the server goes on serving. The engine once counted that failed last send as
    one more client to remove and spun in its reap loop for ever (found by
    tests/fuzz/fuzz_chat_input)."""
    tmp = tempfile.mkdtemp(prefix="chat-unix-")
    srv = Server(args.server, host="unix:" + os.path.join(tmp, "chat.sock"))

    def conn():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(WAIT)
        s.connect(srv.unix_path)
        return s

    def read_until(s, want):
        buf = bytearray()
        while want not in buf:
            chunk = s.recv(65536)
            check(chunk, "end of stream before %r" % want)
            buf += chunk
        return buf

    try:
        b = conn()
        read_until(b, b"\n")
        a = conn()
        read_until(a, b"\n")
        a.sendall(b"x" * 999 + b"\n")
        read_until(b, b"x" * 999 + b"\n")  # b has joined for sure; from now on it reads nothing
        a.sendall((b"y" * 999 + b"\n") * 600)  # 600 KB: more than the socket holds, under 1 MiB
        deadline = time.monotonic() + WAIT
        while "bytes behind" not in srv.log_text():
            check(time.monotonic() < deadline, "the server never held output for the client that stopped reading")
            time.sleep(0.01)
        b.shutdown(socket.SHUT_RDWR)
        c = conn()
        try:
            read_until(c, b"* welcome")
        except socket.timeout:
            raise AssertionError("the server stopped serving after a client behind shut down both halves")
        a.sendall(b"still here\n")
        read_until(c, b"still here\n")
        for s in (a, b, c):
            s.close()
        srv.stop()
    finally:
        srv.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        raise Skip("RLIMIT_NOFILE hard limit %d < %d" % (hard, need))
    if soft != resource.RLIM_INFINITY and soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need if hard == resource.RLIM_INFINITY else hard, hard))


def t_thousand(args):
    """1000 clients at once: all are welcomed, and one line reaches the 999 others."""
    N = 1000
    raise_nofile(N + 100)
    srv = Server(args.server)
    peers = []
    try:
        for _ in range(N):
            peers.append(Peer(srv))
        wait_welcome(peers)
        last = peers[-1]
        pump(peers, lambda: peers[0].saw(b"* " + last.name + b" joined"), "the last join")
        peers[0].send(b"hello, everyone\n")
        line = peers[0].tag + b"hello, everyone"
        pump(peers, lambda: all(p.saw(line) for p in peers[1:]), "the line at all 999 others")
        for p in peers[1:]:
            check(p.lines.count(line) == 1, "%s got the line %d times" % (p.name, p.lines.count(line)))
        for p in peers:
            p.close()
        srv.stop()
    finally:
        for p in peers:
            p.close()
        srv.kill()


def cpu_seconds(pid):
    """User plus system time a process has used so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def t_emfile(args):
    """Out of descriptors, the server rests its listener instead of spinning on
    accept, and takes the waiting clients once others leave."""
    if not os.path.exists("/proc/self/stat"):
        raise Skip("no /proc")
    limit = 24  # stdio, the stop pipe and the listener leave about 18 for clients

    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    srv = Server(args.server, preexec_fn=low_limit)
    peers = []
    try:
        peers = [Peer(srv) for _ in range(limit + 6)]
        welcomed = lambda: [p for p in peers if any(l.startswith(b"* welcome ") for l in p.lines)]
        pump(peers, lambda: "SK_EMFILE" in srv.log_text() and len(welcomed()) >= limit - 8,
             "the server to run out of descriptors")
        settle(peers, 0.3)
        first = welcomed()
        check(len(first) < len(peers), "all %d clients were accepted under a limit of %d" % (len(peers), limit))
        # Resting, not spinning: over two seconds it uses little processor time.
        before = cpu_seconds(srv.proc.pid)
        settle(peers, 2.0)
        used = cpu_seconds(srv.proc.pid) - before
        check(used < 0.5, "the server used %.2f s of processor time in 2 s while out of descriptors" % used)
        check(srv.proc.poll() is None, "the server died")
        # Five leave; five of the waiting clients get in.
        for p in first[:5]:
            p.close()
            p.end = "closed"
        pump(peers, lambda: len(welcomed()) >= len(first) + 5, "waiting clients to be accepted")
        srv.stop()
    finally:
        for p in peers:
            p.close()
        srv.kill()


def run_client(args, srv, stdin=subprocess.PIPE):
    proc = subprocess.Popen([args.client, srv.host, str(srv.port)], stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return proc, PipeReader(proc.stdout), PipeReader(proc.stderr)


def wait_exit(proc, what):
    try:
        return proc.wait(timeout=WAIT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(what + " did not exit")


def t_client(args):
    """chat-client sends the lines piped to it, prints what the others say, and leaves
    cleanly at end of input (exit 0)."""
    srv = Server(args.server)
    proc = None
    try:
        r = connect_all(srv, 1)[0]
        proc, out, err = run_client(args, srv)
        pump([r, out], lambda: len(r.notices()) >= 2, "chat-client's join")
        m = re.fullmatch(rb"\* (\S+) joined", r.notices()[1])
        check(m, "unexpected notice %r" % r.notices()[1])
        ctag = b"[" + m.group(1) + b"] "
        pump([r, out], lambda: b"* welcome " + m.group(1) in out.data, "chat-client printing its welcome")

        lines = [b"first line", b"", b"third line: " + b"z" * 5000, "ñandú €".encode()]
        proc.stdin.write(b"".join(l + b"\n" for l in lines))
        proc.stdin.flush()
        pump([r, out], lambda: len(r.chat_lines()) >= len(lines), "chat-client's lines")
        settle([r, out])
        check(r.chat_lines() == [ctag + l for l in lines], "got %s" % short(r.chat_lines()))

        r.send(b"hello, client\n")
        pump([r, out], lambda: r.tag + b"hello, client\n" in out.data, "chat-client printing a line")

        proc.stdin.write(b"last words")   # no newline: still delivered at the end
        proc.stdin.close()
        left = b"* " + m.group(1) + b" left"
        pump([r, out, err], lambda: r.saw(left) and out.end and err.end, "chat-client leaving")
        rc = wait_exit(proc, "chat-client")
        check(rc == 0, "chat-client exited %d at end of input (want 0); stderr %r" % (rc, err.data))
        check(r.lines[r.lines.index(left) - 1] == ctag + b"last words", "the last words were lost")
        check(out.data.startswith(b"* welcome " + m.group(1) + b", 1 other here\n"), "stdout %r" % out.data[:100])
        srv.stop()
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        srv.kill()


def t_client_server_gone(args):
    """When the server goes away, chat-client says so on standard error and exits 1."""
    srv = Server(args.server)
    proc = None
    try:
        proc, out, err = run_client(args, srv)
        pump([out], lambda: b"* welcome " in out.data, "chat-client's welcome")
        srv.stop()
        pump([out, err], lambda: out.end and err.end, "chat-client to notice")
        rc = wait_exit(proc, "chat-client")
        check(rc == 1, "chat-client exited %d when the server went away (want 1)" % rc)
        check(b"server went away" in err.data, "chat-client's stderr: %r" % err.data)
        proc.stdin.close()
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        srv.kill()


def t_nc(args):
    """netcat (OpenBSD) works as a chat client, both ways, and leaves at end of input."""
    nc = shutil.which("nc")
    if nc is None:
        raise Skip("nc not found (CI installs netcat-openbsd)")
    srv = Server(args.server)
    proc = None
    try:
        r = connect_all(srv, 1)[0]
        # -N: shut down the sending half at end of input, as chat-client does.
        proc = subprocess.Popen([nc, "-N", srv.host, str(srv.port)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = PipeReader(proc.stdout), PipeReader(proc.stderr)
        pump([r, out], lambda: len(r.notices()) >= 2 and b"* welcome " in out.data, "nc's join")
        m = re.fullmatch(rb"\* (\S+) joined", r.notices()[1])
        check(m, "unexpected notice %r" % r.notices()[1])
        ntag = b"[" + m.group(1) + b"] "
        proc.stdin.write(b"from nc\nsecond from nc\n")
        proc.stdin.flush()
        pump([r, out], lambda: r.saw(ntag + b"second from nc"), "nc's lines")
        check(r.chat_lines() == [ntag + b"from nc", ntag + b"second from nc"], "got %s" % short(r.chat_lines()))
        r.send(b"to nc\n")
        pump([r, out], lambda: r.tag + b"to nc\n" in out.data, "nc printing a line")
        proc.stdin.close()
        pump([r, out, err], lambda: r.saw(b"* " + m.group(1) + b" left") and out.end and err.end, "nc leaving")
        rc = wait_exit(proc, "nc")
        check(rc == 0, "nc exited %d; stderr %r" % (rc, err.data))
        srv.stop()
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        srv.kill()


def t_usage_and_errors(args):
    """Usage on -h (status 0) and on wrong arguments (status 2); a failure names the
    library's error and exits non-zero."""
    def run(argv):
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=WAIT)
        return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")

    for prog in (args.server, args.client):
        rc, out, _ = run([prog, "-h"])
        check(rc == 0 and out.startswith("usage: "), "%s -h: %d %r" % (prog, rc, out))
    for argv in ([args.server, "127.0.0.1", "notaport"], [args.server, "127.0.0.1", "70000"],
                 [args.server, "a", "1", "extra"], [args.client], [args.client, "127.0.0.1"],
                 [args.client, "127.0.0.1", "0"], [args.client, "127.0.0.1", "x"]):
        rc, _, err = run(argv)
        check(rc == 2 and err.startswith("usage: "), "%r: %d %r" % (argv[1:], rc, err))

    # A port that is taken.
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        rc, _, err = run([args.server, "127.0.0.1", str(port)])
        check(rc != 0 and "SK_EADDRINUSE" in err, "server on a taken port: %d %r" % (rc, err))
    finally:
        taken.close()

    # A port where nobody listens (bound, never listening: refused).
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    try:
        rc, _, err = run([args.client, "127.0.0.1", str(port)])
        check(rc == 1 and "SK_ECONNREFUSED" in err, "client to a closed port: %d %r" % (rc, err))
    finally:
        closed.close()


def t_ipv6(args):
    """The server works over IPv6 too; tags carry the bracketed address."""
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        s.close()
    except OSError:
        raise Skip("no IPv6 loopback")
    srv = Server(args.server, host="::1")
    try:
        a, b = connect_all(srv, 2)
        check(a.name.startswith(b"[::1]:"), "name %r" % a.name)
        a.send(b"over six\n")
        pump([a, b], lambda: b.saw(b"[[::1]:" + a.name.split(b":")[-1] + b"] over six"), "the line over IPv6")
        srv.stop()
    finally:
        srv.kill()


def t_graceful_drop(args):
    """A client dropped for a too-long line while it was not reading, with more of its
    input still unread by the server, reads every line sent to it before the drop and
    then an end of stream: the server closes gracefully, so no reset throws away what
    the client's system had received (a plain close would)."""
    srv = Server(args.server)
    try:
        a, b = connect_all(srv, 2)
        pump([a, b], lambda: a.saw(b"* " + b.name + b" joined"), "the join")
        a.reading = False
        payloads = [b"%04d " % i + b"p" * 995 for i in range(60)]
        b.send(b"".join(p + b"\n" for p in payloads))
        pump([a, b], lambda: not b.out, "b's lines to be sent")
        settle([a, b], 0.3)  # the server passes them on to a, whose system holds them unread
        a.send(b"x" * (MAX_LINE + 1) + b"\n" + b"y" * (256 * 1024))
        left = b"* " + a.name + b" left"
        pump([a, b], lambda: b.saw(left), "the long line's sender to be dropped")
        a.reading = True
        pump([a, b], lambda: a.end is not None, "the dropped client to see the end of its connection")
        check(a.end == "eof", "the dropped client saw a %s, not an end of stream" % a.end)
        expect_lines_from(a, b, payloads)
        srv.stop()
    finally:
        srv.kill()


def t_graceful_stop(args):
    """SIGTERM: every client reads all it was sent, then an end of stream; the server
    waits a moment for their own ends of stream (one that closes at once lets it go
    sooner), and exits 0 even when a client never closes."""
    srv = Server(args.server)
    try:
        a, b, c = connect_all(srv, 3)
        pump([a, b, c], lambda: a.saw(b"* " + c.name + b" joined") and b.saw(b"* " + c.name + b" joined"),
             "the joins")
        a.reading = False
        payloads = [b"%04d " % i + b"q" * 495 for i in range(40)]
        b.send(b"".join(p + b"\n" for p in payloads) + b"an unfinished line")
        pump([a, b, c], lambda: not b.out and len(c.chat_lines()) == len(payloads), "b's lines")
        settle([a, b, c], 0.2)
        srv.proc.send_signal(signal.SIGTERM)
        pump([b, c], lambda: b.end is not None and c.end is not None, "the end of stream at shutdown")
        b.close()  # b closes its side at once; a and c never do
        t0 = time.monotonic()
        try:
            rc = srv.proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            raise AssertionError("chat-server did not exit after SIGTERM")
        check(rc == 0, "chat-server exited with %d after SIGTERM (want 0)" % rc)
        took = time.monotonic() - t0
        check(took < 10, "chat-server took %.1f s to exit" % took)
        a.reading = True
        pump([a], lambda: a.end is not None, "a to read to the end")
        for p in (a, b, c):
            check(p.end == "eof", "%s saw a %s at shutdown, not an end of stream" % (p.name, p.end))
        expect_lines_from(a, b, payloads)
        expect_lines_from(c, b, payloads)
        check(not any(b"unfinished" in l for l in a.lines + c.lines), "the unfinished line went out")
    finally:
        srv.kill()


TESTS = {
    "chat_server_delivers_every_line_to_every_other_client_exactly_once_in_order": t_broadcast,
    "chat_server_drops_a_client_that_stops_reading_only_past_1_MiB": t_stalled_reader,
    "chat_server_keeps_a_slow_reader_that_keeps_reading_and_delivers_it_everything": t_slow_reader,
    "chat_server_keeps_a_reader_of_160_KB_per_s_that_fell_behind": t_slower_reader,
    "chat_server_drops_a_reader_that_stops_and_the_others_then_get_everything": t_stopped_reader,
    "chat_server_drops_a_backed_up_reader_that_takes_nothing_for_5_s": t_quiet_stall,
    "chat_server_drops_the_sender_of_a_line_longer_than_64_KiB": t_long_line,
    "chat_server_drops_a_reset_client_cleanly": t_reset,
    "chat_server_drops_a_unix_client_that_shuts_down_while_behind_and_goes_on": t_unix_shutdown_while_behind,
    "chat_server_closes_a_dropped_client_gracefully_so_it_reads_everything_sent_before": t_graceful_drop,
    "chat_server_stops_on_sigterm_closing_every_client_gracefully": t_graceful_stop,
    "chat_server_holds_1000_clients_at_once": t_thousand,
    "chat_server_rests_instead_of_spinning_when_out_of_descriptors": t_emfile,
    "chat_server_serves_ipv6_clients": t_ipv6,
    "chat_server_takes_nc_as_a_client": t_nc,
    "chat_client_sends_piped_lines_and_prints_the_others": t_client,
    "chat_client_exits_when_the_server_goes_away": t_client_server_gone,
    "chat_programs_print_usage_and_name_library_errors": t_usage_and_errors,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--list", action="store_true", help="print the scenarios' names and exit")
    ap.add_argument("--server")
    ap.add_argument("--client")
    ap.add_argument("test", nargs="?", choices=sorted(TESTS) + ["all"])
    args = ap.parse_args()
    if args.list:
        print("\n".join(sorted(TESTS)))
        return 0
    if not (args.server and args.client and args.test):
        ap.error("--server, --client and a test name are required")
    names = sorted(TESTS) if args.test == "all" else [args.test]
    status = 0
    for name in names:
        start = time.monotonic()
        try:
            TESTS[name](args)
            print("PASS %s (%.1f s)" % (name, time.monotonic() - start))
        except Skip as e:
            print("SKIP %s: %s" % (name, e))
            if len(names) == 1:
                status = SKIP
        except Exception as e:  # an assertion, or anything unexpected
            print("FAIL %s: %s: %s" % (name, type(e).__name__, e))
            status = 1
        sys.stdout.flush()
    return status


if __name__ == "__main__":
    sys.exit(main())
