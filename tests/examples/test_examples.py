#!/usr/bin/env python3
"""End-to-end tests of the examples server, client and sknc (Python 3, stdlib only).

    test_examples.py --list
    test_examples.py --bin-dir=DIR [--suffix=-static] [--peers-dir=DIR] CASE

Runs one case against the programs DIR/server{suffix}, DIR/client{suffix} and
DIR/sknc{suffix}: exit status 0 when it passes, 1 when it fails, 77 when it cannot
run here (no nc from netcat-openbsd, no IPv6 loopback); CTest registers every case
twice (shared and static builds, see examples/CMakeLists.txt).

Loopback only. Ports are ephemeral: our programs listen on port 0 and say which port
they got; for the peers that need a port number (the notes' server.py, nc -l) a free
one is found by binding port 0 first. Every process is bounded by a deadline and
killed at the end of its case. Nothing is installed.
"""

import argparse
import hashlib
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77
GREETING = b"Un saludo, crack\n"
MESSAGE = b"Este es un mensaje de prueba que estoy enviando al servidor"
STEP = 30.0          # the most any one step may take (the machine is shared and slow)

CASES = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


class Skip(Exception):
    pass


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


# --------------------------------------------------------------------------------------
# Processes: output goes to files (no pipe can fill up), every one is killed at the end.

class Proc:
    def __init__(self, ctx, name, argv, stdin=None, stdin_data=None):
        self.name = name
        self.argv = argv
        self.out_path = os.path.join(ctx.tmp, f"{name}.out")
        self.err_path = os.path.join(ctx.tmp, f"{name}.err")
        if stdin_data is not None:
            stdin = os.path.join(ctx.tmp, f"{name}.in")
            with open(stdin, "wb") as f:
                f.write(stdin_data)
        self._in = open(stdin, "rb") if stdin is not None else subprocess.DEVNULL
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.p = subprocess.Popen(argv, stdin=self._in, stdout=out, stderr=err,
                                      env=dict(os.environ, PYTHONUNBUFFERED="1"))
        ctx.procs.append(self)

    def out(self):
        with open(self.out_path, "rb") as f:
            return f.read()

    def err(self):
        with open(self.err_path, "rb") as f:
            return f.read()

    def wait(self, timeout=STEP):
        try:
            return self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Failure(f"{self.name} still running after {timeout:.0f} s: {' '.join(self.argv)}\n"
                          f"  stderr: {self.err()!r}")

    def running(self):
        return self.p.poll() is None

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        if self._in is not subprocess.DEVNULL:
            self._in.close()

    def wait_stderr(self, pattern, timeout=STEP):
        """Waits until stderr matches the regex; returns the match."""
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(pattern, self.err().decode(errors="replace"))
            if m:
                return m
            if self.p.poll() is not None:
                raise Failure(f"{self.name} exited ({self.p.returncode}) before printing {pattern!r}; "
                              f"stderr: {self.err()!r}")
            if time.monotonic() > deadline:
                raise Failure(f"{self.name} did not print {pattern!r} within {timeout:.0f} s; "
                              f"stderr: {self.err()!r}")
            time.sleep(0.02)

    def wait_stdout_match(self, pattern, timeout=STEP):
        """Waits until all of stdout matches the bytes regex; returns stdout."""
        deadline = time.monotonic() + timeout
        while not re.fullmatch(pattern, self.out()):
            if self.p.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        return self.out()

    def wait_stdout(self, data, timeout=STEP):
        """Waits until stdout holds at least len(data) bytes and returns it."""
        deadline = time.monotonic() + timeout
        while len(self.out()) < len(data):
            if self.p.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        return self.out()


class Ctx:
    def __init__(self, args, tmp):
        self.bin_dir = args.bin_dir
        self.suffix = args.suffix
        self.peers_dir = args.peers_dir
        self.tmp = tmp
        self.procs = []

    def exe(self, name):
        path = os.path.join(self.bin_dir, name + self.suffix)
        if not os.access(path, os.X_OK):
            raise Failure(f"no program {path}")
        return path

    def start(self, name, argv, **kw):
        return Proc(self, name, argv, **kw)

    def run(self, name, argv, timeout=STEP, **kw):
        p = Proc(self, name, argv, **kw)
        p.wait(timeout)
        return p

    def nc(self):
        nc = shutil.which("nc")
        if nc is None:
            raise Skip("no nc: install netcat-openbsd")
        r = subprocess.run([nc, "-h"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=STEP)
        if b"OpenBSD netcat" not in r.stdout:
            raise Skip(f"{nc} is not OpenBSD netcat (netcat-openbsd)")
        return nc

    def peer_script(self, name):
        path = os.path.join(self.peers_dir, name)
        if not os.path.isfile(path):
            raise Failure(f"no {path}")
        return [sys.executable, "-u", path]


def free_port(kind=socket.SOCK_STREAM, host="127.0.0.1"):
    """A port that was free a moment ago (for peers that cannot listen on port 0)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_bound(port, kind="tcp", timeout=STEP):
    """Waits until something listens on (TCP) or is bound to (UDP) the port, without
    connecting to it (a probe would use up the one connection nc -l takes)."""
    files = [f"/proc/net/{kind}", f"/proc/net/{kind}6"]
    state = "0A" if kind == "tcp" else "07"  # LISTEN / UDP "closed" (bound)
    want = f":{port:04X}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = False
        for name in files:
            try:
                with open(name) as f:
                    for line in f.readlines()[1:]:
                        fields = line.split()
                        if len(fields) > 3 and fields[1].endswith(want) and fields[3] == state:
                            return
                seen = True
            except OSError:
                pass
        if not seen:  # no /proc/net here: give the peer a moment instead
            time.sleep(0.5)
            return
        time.sleep(0.02)
    raise Failure(f"nothing bound to {kind} port {port} within {timeout:.0f} s")


def listening_port(proc, proto=None):
    """The port from our programs' 'listening on ADDR:PORT' line."""
    tail = rf" \({proto}\)" if proto else ""
    m = proc.wait_stderr(rf"listening on (\S+):(\d+){tail}")
    return int(m.group(2))


def have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def sha256(data):
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------
# The notes' exchange: server and client.

NOTES_CLIENT_OUT = b"\n[+] El servidor nos ha respondido con este mensaje: " + GREETING + b"\n"


def notes_server_out_re(message):
    # What server.py / our server print for one client (the address forms differ:
    # Python prints a tuple, ours "127.0.0.1:PORT").
    return (re.escape(b"\n[+] Mensaje recibido del cliente: " + message + b"\n") +
            re.escape("[+] Información del cliente que se ha comunicado con nosotros: ".encode()) +
            rb"(127\.0\.0\.1:\d+|\('127\.0\.0\.1', \d+\))" + b"\n")


def check_server_out(server, messages):
    out = server.out()
    want = b"".join(notes_server_out_re(m) for m in messages)
    check(re.fullmatch(want, out), f"server printed {out!r}, expected the notes' two lines per client")


@case
def notes_exchange(ctx):
    """Our server and our client reproduce the notes' exchange byte for byte."""
    server = ctx.start("server", [ctx.exe("server"), "-n", "2", "127.0.0.1", "0"])
    port = listening_port(server)
    c1 = ctx.run("client1", [ctx.exe("client"), "127.0.0.1", str(port)])
    check(c1.p.returncode == 0, f"client exited {c1.p.returncode}: {c1.err()!r}")
    check(c1.out() == NOTES_CLIENT_OUT, f"client printed {c1.out()!r}")
    c2 = ctx.run("client2", [ctx.exe("client"), "localhost", str(port), "otro mensaje"])
    check(c2.p.returncode == 0 and c2.out() == NOTES_CLIENT_OUT, f"second client: {c2.out()!r} {c2.err()!r}")
    check(server.wait() == 0, f"server -n 2 exited {server.p.returncode}: {server.err()!r}")
    check_server_out(server, [MESSAGE, b"otro mensaje"])


@case
def run_notes_exchange_script(ctx):
    """examples/run-notes-exchange.sh (the README's first command) shows both sides."""
    bash = shutil.which("bash")
    if bash is None:
        raise Skip("no bash")
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples",
                          "run-notes-exchange.sh")
    argv = [bash, script, os.path.dirname(os.path.abspath(ctx.bin_dir))]
    if ctx.suffix:
        argv.append(ctx.suffix)
    r = ctx.run("script", argv, timeout=60)
    check(r.p.returncode == 0, f"the script exited {r.p.returncode}: {r.err()!r}")
    out = r.out()
    check(NOTES_CLIENT_OUT in out, f"no client reply in {out!r}")
    check(re.search(notes_server_out_re(MESSAGE), out), f"no server lines in {out!r}")


@case
def server_answers_notes_python_client(ctx):
    """Our server against the notes' own client.py."""
    server = ctx.start("server", [ctx.exe("server"), "-n", "1", "127.0.0.1", "0"])
    port = listening_port(server)
    py = ctx.run("client.py", ctx.peer_script("client.py") + ["127.0.0.1", str(port)])
    check(py.p.returncode == 0, f"client.py exited {py.p.returncode}: {py.err()!r}")
    check(py.out() == NOTES_CLIENT_OUT, f"client.py printed {py.out()!r}")
    check(server.wait() == 0, f"server exited {server.p.returncode}: {server.err()!r}")
    check_server_out(server, [MESSAGE])


@case
def client_talks_to_notes_python_server(ctx):
    """Our client against the notes' own server.py."""
    port = free_port()
    py = ctx.start("server.py", ctx.peer_script("server.py") + ["127.0.0.1", str(port)])
    wait_bound(port)
    c = ctx.run("client", [ctx.exe("client"), "127.0.0.1", str(port)])
    check(c.p.returncode == 0, f"client exited {c.p.returncode}: {c.err()!r}")
    check(c.out() == NOTES_CLIENT_OUT, f"client printed {c.out()!r}")
    out = py.wait_stdout_match(notes_server_out_re(MESSAGE))
    check(re.fullmatch(notes_server_out_re(MESSAGE), out), f"server.py printed {out!r}")
    check(py.running(), "server.py stopped")


@case
def server_answers_nc(ctx):
    """nc as the client: it gets exactly the greeting, the server prints its message."""
    nc = ctx.nc()
    server = ctx.start("server", [ctx.exe("server"), "-n", "1", "127.0.0.1", "0"])
    port = listening_port(server)
    n = ctx.run("nc", [nc, "-N", "127.0.0.1", str(port)], stdin_data=b"hola desde nc")
    check(n.p.returncode == 0, f"nc exited {n.p.returncode}: {n.err()!r}")
    check(n.out() == GREETING, f"nc received {n.out()!r}")
    check(server.wait() == 0, f"server exited {server.p.returncode}: {server.err()!r}")
    check_server_out(server, [b"hola desde nc"])


@case
def client_talks_to_nc(ctx):
    """nc -l as the server: it receives exactly the message, the client prints its reply."""
    nc = ctx.nc()
    port = free_port()
    n = ctx.start("nc", [nc, "-l", "127.0.0.1", str(port)], stdin_data=GREETING)
    wait_bound(port)
    c = ctx.run("client", [ctx.exe("client"), "127.0.0.1", str(port)])
    check(c.p.returncode == 0, f"client exited {c.p.returncode}: {c.err()!r}")
    check(c.out() == NOTES_CLIENT_OUT, f"client printed {c.out()!r}")
    n.wait()
    check(n.out() == MESSAGE, f"nc received {n.out()!r}")


@case
def server_survives_clients_that_leave_or_reset(ctx):
    """Clients that send nothing, leave, or reset do not stop the server."""
    server = ctx.start("server", [ctx.exe("server"), "127.0.0.1", "0"])
    port = listening_port(server)
    linger0 = struct.pack("ii", 1, 0)  # close() sends a reset
    # 1: connects and leaves without a word.
    with socket.create_connection(("127.0.0.1", port), timeout=STEP):
        pass
    server.wait_stderr(r"left without sending anything")
    # 2: connects and resets without a word.
    s = socket.create_connection(("127.0.0.1", port), timeout=STEP)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger0)
    time.sleep(0.1)
    s.close()
    # 3: sends a message and resets before the reply can arrive.
    s = socket.create_connection(("127.0.0.1", port), timeout=STEP)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger0)
    s.sendall(b"me voy")
    s.close()
    # 4: a normal client is still served.
    c = ctx.run("client", [ctx.exe("client"), "127.0.0.1", str(port)])
    check(c.p.returncode == 0 and c.out() == NOTES_CLIENT_OUT,
          f"client after the bad ones: rc {c.p.returncode}, {c.out()!r}, {c.err()!r}; server: {server.err()!r}")
    check(server.running(), f"server stopped: {server.err()!r}")
    check(MESSAGE in server.out(), f"server output: {server.out()!r}")


@case
def server_drops_a_silent_client_after_10_s(ctx):
    """A client that connects and says nothing holds the server 10 s, not forever."""
    server = ctx.start("server", [ctx.exe("server"), "127.0.0.1", "0"])
    port = listening_port(server)
    with socket.create_connection(("127.0.0.1", port), timeout=STEP) as silent:
        start = time.monotonic()
        time.sleep(0.2)  # the server takes the silent one first
        with socket.create_connection(("127.0.0.1", port), timeout=STEP) as next_one:
            next_one.sendall(MESSAGE)
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = next_one.recv(1024)
                if not chunk:
                    break
                reply += chunk
            took = time.monotonic() - start
        check(reply == GREETING, f"the next client got {reply!r}; server: {server.err()!r}")
        check(took >= 9.9, f"the silent client was given up after {took:.2f} s, before 10 s")
        check(re.search(r"receiving from 127\.0\.0\.1:\d+: SK_ETIMEDOUT \(operation timed out\)",
                        server.err().decode()), f"server stderr: {server.err()!r}")
        silent.settimeout(STEP)
        check(silent.recv(16) == b"", "the silent client's connection was not closed")
    check(server.running(), f"server stopped: {server.err()!r}")


@case
def usage_and_errors(ctx):
    """Usage lines, and one-line errors with the library's error name."""
    def expect(name, argv, rc, stream_re, stream="err"):
        p = ctx.run(name, argv)
        text = (p.err() if stream == "err" else p.out()).decode(errors="replace")
        ok = (p.p.returncode == rc) if rc is not None else p.p.returncode not in (0, None)
        check(ok, f"{' '.join(argv)}: exit {p.p.returncode}, expected {rc if rc is not None else 'non-zero'}")
        check(re.search(stream_re, text), f"{' '.join(argv)}: std{stream} {text!r} lacks {stream_re!r}")
        return text

    for prog in ("server", "client", "sknc"):
        expect(f"{prog}-h", [ctx.exe(prog), "-h"], 0, r"^usage: ", stream="out")
    expect("server-bad", [ctx.exe("server"), "a", "1", "b"], 2, r"usage: server")
    expect("server-port", [ctx.exe("server"), "127.0.0.1", "70000"], 2, r"bad port")
    expect("client-bad", [ctx.exe("client"), "a", "1", "b", "c"], 2, r"usage: client")
    expect("client-port", [ctx.exe("client"), "127.0.0.1", "x"], 2, r"bad port")
    expect("sknc-none", [ctx.exe("sknc")], 2, r"usage: sknc")
    for flag in ("-h", "--help"):
        expect(f"sknc{flag}", [ctx.exe("sknc"), flag], 0, r"(?m)^\tCommand Summary:\n(\t\t-.*\n)+\Z", stream="out")
    expect("sknc-k", [ctx.exe("sknc"), "-k", "127.0.0.1", "1"], 2, r"-k")
    expect("sknc-w", [ctx.exe("sknc"), "-w", "zero", "127.0.0.1", "1"], 2, r"-w")

    closed = free_port()
    for prog, argv in (("client", [ctx.exe("client"), "127.0.0.1", str(closed)]),
                       ("sknc", [ctx.exe("sknc"), "127.0.0.1", str(closed)])):
        text = expect(f"{prog}-refused", argv, 1, r"SK_ECONNREFUSED \(connection refused\)")
        check(text.count("\n") == 1, f"{prog}: more than one line: {text!r}")
    expect("client-unknown", [ctx.exe("client"), "no-such-host.invalid", "1234"], 1,
           r"^client: .*no-such-host\.invalid.*: SK_ENOTFOUND \(")

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        expect("server-inuse", [ctx.exe("server"), "127.0.0.1", str(port)], 1, r"SK_EADDRINUSE")
        expect("sknc-inuse", [ctx.exe("sknc"), "-l", "127.0.0.1", str(port)], 1, r"SK_EADDRINUSE")


@case
def binaries_link_as_built(ctx):
    """NAME needs libsockkit.so; NAME-static does not (and runs without it)."""
    readelf = shutil.which("readelf")
    if readelf is None:
        raise Skip("no readelf")
    for prog in ("server", "client", "sknc"):
        path = ctx.exe(prog)
        r = subprocess.run([readelf, "-d", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=STEP)
        needs = re.findall(rb"\(NEEDED\)\s+Shared library: \[(libsockkit[^\]]*)\]", r.stdout)
        if ctx.suffix == "-static":
            check(not needs, f"{path} needs {needs}")
            # Run a copy from elsewhere, with no library path: it must not look for one.
            copy = os.path.join(ctx.tmp, os.path.basename(path))
            shutil.copy(path, copy)
            env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
            p = subprocess.run([copy, "-h"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=env, timeout=STEP)
            check(p.returncode == 0 and p.stdout.startswith(b"usage: "), f"{copy} -h: {p!r}")
        else:
            check(needs == [b"libsockkit.so.0"] or (len(needs) == 1 and needs[0].startswith(b"libsockkit.so")),
                  f"{path} should need libsockkit.so, needs {needs}")


# --------------------------------------------------------------------------------------
# sknc against nc (netcat-openbsd), and against itself.

@case
def sknc_tcp_connects_to_nc(ctx):
    """sknc host port against nc -l: both directions, then both sides end."""
    nc = ctx.nc()
    port = free_port()
    n = ctx.start("nc", [nc, "-l", "127.0.0.1", str(port)], stdin_data=b"from nc\n")
    wait_bound(port)
    s = ctx.run("sknc", [ctx.exe("sknc"), "-v", "127.0.0.1", str(port)], stdin_data=b"from sknc\n")
    check(s.p.returncode == 0, f"sknc exited {s.p.returncode}: {s.err()!r}")
    check(s.out() == b"from nc\n", f"sknc received {s.out()!r}")
    n.wait()
    check(n.out() == b"from sknc\n", f"nc received {n.out()!r}")
    check(re.search(rb"connected to 127\.0\.0\.1:\d+", s.err()), f"sknc -v said {s.err()!r}")


@case
def sknc_tcp_listens_for_nc(ctx):
    """sknc -l against nc: both directions; sknc says where it listens and who came."""
    nc = ctx.nc()
    s = ctx.start("sknc", [ctx.exe("sknc"), "-l", "-v", "127.0.0.1", "0"], stdin_data=b"from sknc\n")
    port = listening_port(s, "tcp")
    n = ctx.run("nc", [nc, "-N", "127.0.0.1", str(port)], stdin_data=b"from nc\n")
    check(n.p.returncode == 0, f"nc exited {n.p.returncode}: {n.err()!r}")
    check(n.out() == b"from sknc\n", f"nc received {n.out()!r}")
    check(s.wait() == 0, f"sknc exited {s.p.returncode}: {s.err()!r}")
    check(s.out() == b"from nc\n", f"sknc received {s.out()!r}")
    check(re.search(rb"connection from 127\.0\.0\.1:\d+", s.err()), f"sknc -v said {s.err()!r}")


@case
def sknc_keepalive_flag_turns_tcp_keepalive_on(ctx):
    """sknc -K: the kernel runs a keepalive timer on its connection (ss -o shows it),
    and -K with -u is a usage error."""
    ss = shutil.which("ss")
    if ss is None:
        raise Skip("no ss: install iproute2")
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    lsock.settimeout(STEP)
    port = lsock.getsockname()[1]
    s = ctx.start("sknc", [ctx.exe("sknc"), "-K", "-v", "127.0.0.1", str(port)], stdin_data=b"")
    conn, _ = lsock.accept()
    peer_port = conn.getpeername()[1]
    # sknc sets the option just after its connect returns; its input is empty, so its
    # socket may already be half closed (FIN-WAIT-2): any state, a few looks.
    for _ in range(50):
        r = subprocess.run([ss, "-tnoH", f"sport = :{peer_port}"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=STEP)
        if b"timer:(keepalive," in r.stdout:
            break
        time.sleep(0.1)
    conn.close()
    lsock.close()
    check(s.wait() == 0, f"sknc exited {s.p.returncode}: {s.err()!r}")
    check(b"timer:(keepalive," in r.stdout, f"no keepalive timer on sknc's socket: {r.stdout!r}")
    check(b"keepalive on" in s.err(), f"sknc -v said {s.err()!r}")
    u = ctx.run("sknc-u", [ctx.exe("sknc"), "-K", "-u", "127.0.0.1", "9"])
    check(u.p.returncode == 2 and b"-K" in u.err(), f"sknc -K -u: {u.p.returncode} {u.err()!r}")


@case
def sknc_udp_sends_to_nc(ctx):
    """sknc -u host port against nc -u -l: a datagram each way."""
    nc = ctx.nc()
    port = free_port(socket.SOCK_DGRAM)
    n = ctx.start("nc", [nc, "-u", "-l", "127.0.0.1", str(port)], stdin_data=b"from nc\n")
    wait_bound(port, "udp")
    s = ctx.run("sknc", [ctx.exe("sknc"), "-u", "-v", "-w", "2", "127.0.0.1", str(port)],
                stdin_data=b"from sknc\n")
    check(s.p.returncode == 0, f"sknc exited {s.p.returncode}: {s.err()!r}")
    check(s.out() == b"from nc\n", f"sknc received {s.out()!r}")
    check(n.wait_stdout(b"from sknc\n") == b"from sknc\n", f"nc received {n.out()!r}")


@case
def sknc_udp_listens_for_nc(ctx):
    """sknc -u -l against nc -u: the first sender becomes the peer and gets our input."""
    nc = ctx.nc()
    s = ctx.start("sknc", [ctx.exe("sknc"), "-u", "-l", "-v", "-w", "2", "127.0.0.1", "0"],
                  stdin_data=b"from sknc\n")
    port = listening_port(s, "udp")
    n = ctx.start("nc", [nc, "-u", "127.0.0.1", str(port)], stdin_data=b"from nc\n")
    check(n.wait_stdout(b"from sknc\n") == b"from sknc\n", f"nc received {n.out()!r}")
    check(s.wait() == 0, f"sknc exited {s.p.returncode}: {s.err()!r}")
    check(s.out() == b"from nc\n", f"sknc received {s.out()!r}")
    check(re.search(rb"datagrams from 127\.0\.0\.1:\d+", s.err()), f"sknc -v said {s.err()!r}")


SO_ACCEPTCON = 0x10000  # Linux's __SO_ACCEPTCON: the Flags of a listening socket in /proc/net/unix


def unix_listening(path):
    """Whether a stream socket listens at path ("@name": an abstract name)."""
    with open("/proc/net/unix") as f:
        next(f)
        for line in f:
            parts = line.split()
            if len(parts) >= 8 and parts[7] == path and int(parts[3], 16) & SO_ACCEPTCON:
                return True
    return False


def wait_socket(path, timeout=STEP, listening=False):
    """Waits until a Unix socket file exists at path; with listening, until a stream
    socket listens there ("@name": an abstract name). The file appears at bind(),
    before listen(): a connect in between is refused, which a peer run under load
    meets (seen in CI with four tests at once)."""
    end = time.monotonic() + timeout
    proc = os.path.exists("/proc/net/unix")
    while True:
        if listening and proc:
            if unix_listening(path):
                return
        elif not path.startswith("@") and os.path.exists(path):
            if listening:
                time.sleep(0.2)  # no /proc/net/unix: give listen() a moment
            return
        check(time.monotonic() < end, f"nothing {'listens' if listening else 'is'} at {path} after {timeout} s")
        time.sleep(0.02)


def socat(ctx):
    path = shutil.which("socat")
    if path is None:
        raise Skip("no socat: install socat")
    return path


@case
def sknc_unix_stream_listens_for_nc(ctx):
    """sknc -l -U path against nc -U: both directions; the socket file goes with sknc."""
    nc = ctx.nc()
    path = os.path.join(ctx.tmp, "l.sock")
    s = ctx.start("sknc", [ctx.exe("sknc"), "-l", "-U", "-v", path], stdin_data=b"from sknc\n")
    wait_socket(path, listening=True)
    n = ctx.run("nc", [nc, "-N", "-U", path], stdin_data=b"from nc\n")
    check(n.p.returncode == 0, f"nc exited {n.p.returncode}: {n.err()!r}")
    check(n.out() == b"from sknc\n", f"nc received {n.out()!r}")
    check(s.wait() == 0, f"sknc exited {s.p.returncode}: {s.err()!r}")
    check(s.out() == b"from nc\n", f"sknc received {s.out()!r}")
    check(f"listening on unix:{path}".encode() in s.err(), f"sknc -v said {s.err()!r}")
    check(b"connection from unix:" in s.err(), f"sknc -v said {s.err()!r}")
    check(not os.path.exists(path), "sknc left its socket file behind")


@case
def sknc_unix_stream_connects_to_nc(ctx):
    """sknc -U path against nc -l -U: both directions, then both sides end."""
    nc = ctx.nc()
    path = os.path.join(ctx.tmp, "c.sock")
    n = ctx.start("nc", [nc, "-l", "-U", path], stdin_data=b"from nc\n")
    wait_socket(path, listening=True)
    s = ctx.run("sknc", [ctx.exe("sknc"), "-U", path], stdin_data=b"from sknc\n")
    check(s.p.returncode == 0, f"sknc exited {s.p.returncode}: {s.err()!r}")
    check(s.out() == b"from nc\n", f"sknc received {s.out()!r}")
    n.wait()
    check(n.out() == b"from sknc\n", f"nc received {n.out()!r}")


@case
def sknc_unix_datagrams_to_and_from_nc(ctx):
    """sknc -l -U -u path against nc -uU: the first sender becomes the peer."""
    nc = ctx.nc()
    path = os.path.join(ctx.tmp, "d.sock")
    s = ctx.start("sknc", [ctx.exe("sknc"), "-l", "-U", "-u", "-v", "-w", "2", path], stdin_data=b"from sknc\n")
    wait_socket(path)
    n = ctx.start("nc", [nc, "-uU", path], stdin_data=b"from nc\n")
    check(n.wait_stdout(b"from sknc\n") == b"from sknc\n", f"nc received {n.out()!r}")
    check(s.wait() == 0, f"sknc exited {s.p.returncode}: {s.err()!r}")
    check(s.out() == b"from nc\n", f"sknc received {s.out()!r}")


@case
def sknc_unix_with_socat_on_a_path_and_an_abstract_name(ctx):
    """socat UNIX-LISTEN / UNIX-CONNECT / ABSTRACT-LISTEN / ABSTRACT-CONNECT against sknc -U."""
    so = socat(ctx)
    path = os.path.join(ctx.tmp, "s.sock")
    name = f"sk-example-{os.getpid()}"
    # socat listens, sknc connects: a path, then an abstract name.
    for i, (addr, target) in enumerate(((f"UNIX-LISTEN:{path}", path), (f"ABSTRACT-LISTEN:{name}", "@" + name))):
        p = ctx.start(f"socat-l{i}", [so, "-t", "5", addr, "-"], stdin_data=b"from socat\n")
        wait_socket(target, listening=True)
        s = ctx.run(f"sknc-c{i}", [ctx.exe("sknc"), "-w", "10", "-U", target], stdin_data=b"from sknc\n")
        check(s.p.returncode == 0, f"sknc -U {target} exited {s.p.returncode}: {s.err()!r}")
        check(s.out() == b"from socat\n", f"sknc received {s.out()!r}")
        p.wait()
        check(p.out() == b"from sknc\n", f"socat {addr} received {p.out()!r}")
    # sknc listens, socat connects.
    for i, (target, addr) in enumerate(((path + "2", f"UNIX-CONNECT:{path}2"), ("@" + name + "2", f"ABSTRACT-CONNECT:{name}2"))):
        s = ctx.start(f"sknc-l{i}", [ctx.exe("sknc"), "-l", "-v", "-U", target], stdin_data=b"from sknc\n")
        s.wait_stderr(r"listening on unix:")
        p = ctx.run(f"socat-c{i}", [so, "-t", "5", "-", addr], stdin_data=b"from socat\n")
        check(p.p.returncode == 0, f"socat {addr} exited {p.p.returncode}: {p.err()!r}")
        check(p.out() == b"from sknc\n", f"socat {addr} received {p.out()!r}")
        check(s.wait() == 0, f"sknc exited {s.p.returncode}: {s.err()!r}")
        check(s.out() == b"from socat\n", f"sknc received {s.out()!r}")


def unix_client(path, timeout=STEP):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(timeout)
    end = time.monotonic() + timeout
    while True:
        try:
            c.connect(path)
            return c
        except (FileNotFoundError, ConnectionRefusedError):
            check(time.monotonic() < end, f"nothing listens on {path!r}")
            time.sleep(0.02)


def recv_until(c, want, timeout=STEP):
    data = b""
    end = time.monotonic() + timeout
    while want not in data:
        check(time.monotonic() < end, f"got {data!r}, waiting for {want!r}")
        chunk = c.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


@case
def server_answers_a_python_client_on_a_unix_socket(ctx):
    """server -n 1 unix:PATH: the notes' exchange over a Unix socket, file removed at exit."""
    path = os.path.join(ctx.tmp, "notes.sock")
    srv = ctx.start("server", [ctx.exe("server"), "-n", "1", "unix:" + path])
    c = unix_client(path)
    c.sendall(MESSAGE)
    got = recv_until(c, GREETING)
    c.close()
    check(got == GREETING, f"the client received {got!r}")
    check(srv.wait() == 0, f"server exited {srv.p.returncode}: {srv.err()!r}")
    check(MESSAGE in srv.out(), f"server printed {srv.out()!r}")
    check(f"listening on unix:{path}".encode() in srv.err(), f"server said {srv.err()!r}")
    check(not os.path.exists(path), "the server left its socket file behind")


@case
def chat_server_relays_between_clients_on_an_abstract_unix_name(ctx):
    """chat-server unix:@name: a line from one Unix client reaches the other."""
    name = f"sk-chat-{os.getpid()}"
    srv = ctx.start("chat-server", [ctx.exe("chat-server"), "unix:@" + name])
    srv.wait_stderr(r"listening on unix:@")
    a = unix_client("\0" + name)
    b = unix_client("\0" + name)
    time.sleep(0.3)
    a.sendall(b"hola por unix\n")
    got = recv_until(b, b"hola por unix")
    check(b"hola por unix" in got, f"the other client received {got!r}")
    a.close()
    b.close()
    srv.stop()


MIB = 1024 * 1024


@case
def sknc_tcp_binary_to_nc(ctx):
    """1 MiB of random bytes from sknc to nc -l arrives identical."""
    nc = ctx.nc()
    data = os.urandom(MIB)
    port = free_port()
    n = ctx.start("nc", [nc, "-l", "127.0.0.1", str(port)])
    wait_bound(port)
    s = ctx.run("sknc", [ctx.exe("sknc"), "127.0.0.1", str(port)], stdin_data=data)
    check(s.p.returncode == 0, f"sknc exited {s.p.returncode}: {s.err()!r}")
    n.wait()
    got = n.out()
    check(len(got) == MIB and sha256(got) == sha256(data),
          f"nc received {len(got)} bytes, sha256 {sha256(got)}; sent sha256 {sha256(data)}")


@case
def sknc_sends_a_file_on_stdin_with_sendfile_and_a_pipe_by_reading_it(ctx):
    """8 MiB of random bytes arrive identical from a file on sknc's standard input
    (sent with sk_tcp_sendfile: -v says so, and strace, when there, shows sendfile)
    and from a pipe (read and sent)."""
    data = os.urandom(8 * MIB)
    src = os.path.join(ctx.tmp, "file.in")
    with open(src, "wb") as f:
        f.write(data)
    strace = shutil.which("strace")
    for how in ("file", "pipe"):
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(1)
        lsock.settimeout(STEP)
        port = lsock.getsockname()[1]
        argv = [ctx.exe("sknc"), "-v", "127.0.0.1", str(port)]
        trace = os.path.join(ctx.tmp, f"strace-{how}.txt")
        if strace is not None:
            # (LeakSanitizer cannot run under ptrace: off for this run of an ASan build)
            asan = (os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0").lstrip(":")
            argv = ["env", "ASAN_OPTIONS=" + asan, strace, "-f", "-qq", "-e", "trace=sendfile,splice",
                    "-o", trace] + argv
        if how == "file":
            s = ctx.start("sknc-" + how, argv, stdin=src)
        else:
            s = ctx.start("sknc-" + how, ["sh", "-c", 'cat "$0" | exec "$@"', src] + argv)
        conn, _ = lsock.accept()
        conn.settimeout(STEP)
        got = bytearray()
        while True:
            d = conn.recv(1 << 16)
            if not d:
                break
            got += d
        conn.close()
        lsock.close()
        check(s.wait() == 0, f"sknc ({how}) exited {s.p.returncode}: {s.err()!r}")
        check(len(got) == len(data) and sha256(bytes(got)) == sha256(data),
              f"{how}: received {len(got)} bytes of {len(data)}, or different ones")
        said = b"sent with sk_tcp_sendfile" in s.err()
        check(said == (how == "file"), f"{how}: sknc -v said {s.err()!r}")
        if strace is not None:
            with open(trace, "rb") as f:
                calls = f.read()
            # (a library built without sendfile, SOCKKIT_FORCE_FALLBACKS, reads and sends)
            with_sendfile = "SENDFILE" not in os.environ.get("SK_FALLBACKS", "").split()
            check((b"sendfile(" in calls) == (how == "file" and with_sendfile), f"{how}: strace saw {calls[:300]!r}")


@case
def sknc_relays_a_socket_on_stdin_and_stdout_with_splice(ctx):
    """sknc run with a stream socket as standard input and output (as under inetd, or
    `sknc host port <&3 >&3`), a Unix socket pair and a TCP connection: 8 MiB each way
    at once arrive identical, the end of each direction reaches the other side, -v says
    splice, and strace, when there, shows splice(2) and (nearly) no read/write of the data."""
    strace = shutil.which("strace")
    with_splice = "SPLICE" not in os.environ.get("SK_FALLBACKS", "").split()
    for kind in ("unix", "tcp"):
        up, down = os.urandom(8 * MIB), os.urandom(8 * MIB)
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(1)
        lsock.settimeout(STEP)
        if kind == "unix":
            mine, its = socket.socketpair()
        else:
            l2 = socket.socket()
            l2.bind(("127.0.0.1", 0))
            l2.listen(1)
            mine = socket.create_connection(l2.getsockname(), timeout=STEP)
            its, _ = l2.accept()
            l2.close()
        res = {}

        def server():
            c, _ = lsock.accept()
            c.settimeout(STEP)
            t = threading.Thread(target=lambda: (c.sendall(down), c.shutdown(socket.SHUT_WR)))
            t.start()
            got = bytearray()
            while True:
                d = c.recv(1 << 16)
                if not d:
                    break
                got += d
            t.join()
            c.close()
            res["up"] = bytes(got)

        argv = [ctx.exe("sknc"), "-v", "127.0.0.1", str(lsock.getsockname()[1])]
        trace = os.path.join(ctx.tmp, f"strace-relay-{kind}.txt")
        if strace is not None:
            asan = (os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0").lstrip(":")
            argv = ["env", "ASAN_OPTIONS=" + asan, strace, "-f", "-qq", "-e", "trace=splice,read,write,recvfrom,sendto",
                    "-o", trace] + argv
        st = threading.Thread(target=server)
        st.start()
        err_path = os.path.join(ctx.tmp, f"sknc-relay-{kind}.err")
        with open(err_path, "wb") as err:
            p = subprocess.Popen(argv, stdin=its.fileno(), stdout=its.fileno(), stderr=err)
        its.close()
        try:
            mine.settimeout(STEP)
            wt = threading.Thread(target=lambda: (mine.sendall(up), mine.shutdown(socket.SHUT_WR)))
            wt.start()
            got = bytearray()
            while True:
                d = mine.recv(1 << 16)
                if not d:
                    break
                got += d
            wt.join()
            st.join(STEP)
            rc = p.wait(timeout=STEP)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            mine.close()
            lsock.close()
        with open(err_path, "rb") as f:
            said = f.read()
        check(rc == 0, f"{kind}: sknc exited {rc}: {said!r}")
        check(res.get("up") == up, f"{kind}: the server received {len(res.get('up', b''))} bytes, or different ones")
        check(bytes(got) == down, f"{kind}: sknc's socket gave {len(got)} bytes, or different ones")
        check(b"standard input is a socket: relayed with sk_tcp_splice" in said and
              b"standard output is a socket: relayed with sk_tcp_splice" in said, f"{kind}: sknc -v said {said!r}")
        if strace is not None:
            with open(trace, "rb") as f:
                calls = f.read()
            big = re.findall(rb"(?m)^\d+ +(read|write|recvfrom|sendto)\([^,]*, .*= (\d+)$", calls)
            copied = sum(int(n) for name, n in big if int(n) > 4096)
            # (what a full socket did not take is copied back into the source's read
            # buffer and sent from there: a little, at most)
            if with_splice:
                check(b"splice(" in calls and copied < (len(up) + len(down)) // 4,
                      f"{kind}: {copied} bytes went through read/write; strace saw {calls[:300]!r}")
            else:
                check(copied > 0, f"{kind}: the fallback copied nothing through recv/send? {calls[:300]!r}")


@case
def sknc_tcp_binary_from_nc(ctx):
    """1 MiB of random bytes from nc to sknc -l arrives identical."""
    nc = ctx.nc()
    data = os.urandom(MIB)
    s = ctx.start("sknc", [ctx.exe("sknc"), "-l", "-v", "127.0.0.1", "0"])
    port = listening_port(s, "tcp")
    n = ctx.run("nc", [nc, "-N", "127.0.0.1", str(port)], stdin_data=data)
    check(n.p.returncode == 0, f"nc exited {n.p.returncode}: {n.err()!r}")
    check(s.wait() == 0, f"sknc exited {s.p.returncode}: {s.err()!r}")
    got = s.out()
    check(len(got) == MIB and sha256(got) == sha256(data),
          f"sknc received {len(got)} bytes, sha256 {sha256(got)}; sent sha256 {sha256(data)}")


@case
def sknc_ipv6_both_ways_at_once(ctx):
    """sknc to sknc over [::1]: 1 MiB each way at the same time, both arrive identical."""
    if not have_ipv6_loopback():
        raise Skip("no IPv6 loopback")
    a, b = os.urandom(MIB), os.urandom(MIB)
    srv = ctx.start("sknc-l", [ctx.exe("sknc"), "-l", "-v", "-w", "20", "::1", "0"], stdin_data=a)
    port = listening_port(srv, "tcp")
    check(re.search(r"listening on \[::1\]:", srv.err().decode()), f"sknc -l said {srv.err()!r}")
    cli = ctx.run("sknc", [ctx.exe("sknc"), "-v", "-w", "20", "::1", str(port)], stdin_data=b, timeout=60)
    check(cli.p.returncode == 0, f"connecting sknc exited {cli.p.returncode}: {cli.err()!r}")
    check(srv.wait() == 0, f"listening sknc exited {srv.p.returncode}: {srv.err()!r}")
    check(sha256(cli.out()) == sha256(a), f"client received {len(cli.out())} bytes, not the 1 MiB sent")
    check(sha256(srv.out()) == sha256(b), f"listener received {len(srv.out())} bytes, not the 1 MiB sent")


@case
def sknc_ipv6_with_nc(ctx):
    """sknc -l on ::1 and nc -6 as the client."""
    if not have_ipv6_loopback():
        raise Skip("no IPv6 loopback")
    nc = ctx.nc()
    s = ctx.start("sknc", [ctx.exe("sknc"), "-l", "-v", "::1", "0"], stdin_data=b"hola v6\n")
    port = listening_port(s, "tcp")
    n = ctx.run("nc", [nc, "-N", "::1", str(port)], stdin_data=b"hello v6\n")
    check(n.p.returncode == 0 and n.out() == b"hola v6\n", f"nc: rc {n.p.returncode} {n.out()!r} {n.err()!r}")
    check(s.wait() == 0 and s.out() == b"hello v6\n", f"sknc: rc {s.p.returncode} {s.out()!r} {s.err()!r}")
    check(re.search(rb"connection from \[::1\]:\d+", s.err()), f"sknc -v said {s.err()!r}")


@case
def sknc_keeps_accepting_with_k(ctx):
    """sknc -l -k serves one connection after another."""
    nc = ctx.nc()
    s = ctx.start("sknc", [ctx.exe("sknc"), "-l", "-k", "-v", "127.0.0.1", "0"])
    port = listening_port(s, "tcp")
    for i in range(3):
        n = ctx.run(f"nc{i}", [nc, "-N", "127.0.0.1", str(port)], stdin_data=f"line {i}\n".encode())
        check(n.p.returncode == 0, f"nc {i} exited {n.p.returncode}: {n.err()!r}")
        want = "".join(f"line {j}\n" for j in range(i + 1)).encode()
        check(s.wait_stdout(want) == want, f"after connection {i} sknc printed {s.out()!r}")
    check(s.running(), f"sknc -k stopped: {s.err()!r}")
    check(len(re.findall(rb"connection from ", s.err())) == 3, f"sknc -v said {s.err()!r}")


@case
def sknc_idle_timeout_closes(ctx):
    """-w: a connection on which nothing moves is closed after the timeout, not before."""
    s = ctx.start("sknc", [ctx.exe("sknc"), "-l", "-v", "-w", "1", "127.0.0.1", "0"])
    port = listening_port(s, "tcp")
    with socket.create_connection(("127.0.0.1", port), timeout=STEP) as c:
        start = time.monotonic()
        c.settimeout(STEP)
        # sknc's input (/dev/null) ends at once: the first thing we see is its half-close.
        check(c.recv(16) == b"", "expected end of stream from sknc")
        check(s.wait() == 0, f"sknc exited {s.p.returncode}: {s.err()!r}")
        took = time.monotonic() - start
    check(took >= 0.9, f"sknc closed after {took:.2f} s, before its 1 s idle timeout")
    check(re.search(rb"nothing moved for 1 s", s.err()), f"sknc -v said {s.err()!r}")


# --------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--list", action="store_true", help="print the case names and exit")
    ap.add_argument("--bin-dir", help="where server, client and sknc are")
    ap.add_argument("--suffix", default="", help='"" for the shared build, "-static" for the static one')
    ap.add_argument("--peers-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers"),
                    help="where the notes' server.py and client.py are")
    ap.add_argument("case", nargs="?")
    args = ap.parse_args()
    if args.list:
        print("\n".join(CASES))
        return 0
    if args.case not in CASES or not args.bin_dir:
        ap.error(f"give --bin-dir and one of: {', '.join(CASES)}")

    with tempfile.TemporaryDirectory(prefix="sk-example-") as tmp:
        ctx = Ctx(args, tmp)
        try:
            CASES[args.case](ctx)
        except Skip as e:
            print(f"SKIP {args.case}: {e}")
            return SKIP
        except Failure as e:
            print(f"FAIL {args.case}: {e}")
            for p in ctx.procs:
                p.stop()
                print(f"  [{p.name}] {' '.join(p.argv)} -> {p.p.returncode}\n"
                      f"    stdout: {p.out()[:400]!r}\n    stderr: {p.err()[:400]!r}")
            return 1
        finally:
            for p in ctx.procs:
                p.stop()
    print(f"PASS {args.case}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
