/* sknc: a small netcat on libsockkit -- the notes' "nc localhost 1234" and
 * "nc -nlvp 1234".
 *
 *   sknc [-u] [-v] [-K] [-w secs] host port              connect to host:port
 *   sknc -l [-u] [-v] [-k] [-K] [-w secs] [host] port    listen on [host:]port
 *   sknc [-l] -U [-u] [-v] [-k] [-w secs] path      the same on a Unix domain socket
 *
 * Copies standard input to the socket and the socket to standard output, byte for
 * byte, in both directions at once: one poll() watches standard input and the
 * socket's descriptor (sk_tcp_fd / sk_udp_fd), and the library call that follows a
 * "ready" is made with a budget of 0, so it never blocks.
 *
 *   -l       listen instead of connecting; without host, on every local address.
 *   -U       a Unix domain socket at path ("@name": Linux's abstract namespace), as
 *            OpenBSD nc -U; with -u, datagrams. A listener's socket file is removed
 *            when sknc stops listening.
 *   -u       UDP instead of TCP. Every read from standard input becomes one datagram.
 *            When listening, the sender of the first datagram becomes the peer (as
 *            nc -u -l does); datagrams from anyone else are ignored.
 *   -k       (TCP, with -l) after a connection ends, accept the next one.
 *   -K       (TCP) keepalive: a peer that vanished ends the session (about 2.5 min).
 *   -w secs  give up connecting, or waiting for a connection or a first datagram,
 *            after secs; close a connection on which nothing moved for secs.
 *   -v       say what happens on standard error ("listening on 127.0.0.1:40255").
 *
 * A regular file on standard input (sknc host port < file) goes to a TCP or Unix
 * stream with sk_tcp_sendfile, straight from the page cache: sknc never copies it.
 * A stream socket on standard input or output (sknc run by inetd, socat or systemd's
 * socket activation, or `sknc host port <&3 >&3` from a shell) becomes an endpoint of
 * its own (sk_tcp_from_fd), and the bytes between it and the connection go with
 * sk_tcp_splice, through a pipe in the kernel: sknc never copies them either. What the
 * receiving side cannot take yet stays in the sending endpoint's read buffer (nothing
 * is lost) until poll() says it can. When the connection's peer closes its side, a
 * socket on standard output is half-closed, so that its far end sees the end too.
 *
 * End of input half-closes a TCP connection (the peer sees end of stream and can still
 * answer); the connection is over when both directions are: our input has ended and
 * the peer has closed its side. UDP has no end of stream: use -w, or stop sknc.
 * Exit status: 0 when the transfer ended normally (idle timeout included), 1 on an
 * error, 2 on a usage error.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sockkit.h>

#define IN_CHUNK 16384   /* one read from standard input; one datagram with -u */
#define NET_CHUNK 65536  /* room for any UDP datagram */
/* One splice per wake-up: a pipe-load, which a socket that polled writable usually
 * takes whole (what it does not take is copied back into the source's read buffer). */
#define SPLICE_STEP 65536

static struct {
    int listen, udp, verbose, keep;
    int keepalive;       /* -K: TCP keepalive with the library's preset */
    const char *path;    /* -U: the Unix socket's path; NULL: IP */
    int wait_ms;         /* -w in milliseconds; 0: no limit */
    const char *host;    /* NULL: every local address (listen mode only) */
    int port;
} opt;

static int input_done;   /* standard input has ended (for good: shared by -k sessions) */
static int input_file;   /* standard input is a regular file: TCP sends it with sendfile */
static sk_tcp *sock_in;  /* standard input is a stream socket: relayed with sk_tcp_splice */
static sk_tcp *sock_out; /* standard output is a stream socket: the same */

/* The other end: a TCP connection, or a UDP endpoint. A bound UDP endpoint (listen
 * mode) learns its peer from the first datagram and then sends with sendto. */
typedef struct peer {
    sk_tcp *tcp;
    sk_udp *udp;
    int udp_bound;
    int have_addr;
    sk_addr addr;
} peer;

static void usage(FILE *out)
{
    fprintf(out, "usage: sknc [-u] [-v] [-K] [-w secs] host port\n"
                 "       sknc -l [-u] [-v] [-k] [-K] [-w secs] [host] port\n"
                 "       sknc [-l] -U [-u] [-v] [-k] [-w secs] path\n");
}

/* -h and --help: the usage, then every flag, as OpenBSD nc -h lists its own (the
 * flags both have mean the same; man sknc says where they differ). */
static void help(void)
{
    usage(stdout);
    fputs("\tCommand Summary:\n"
          "\t\t-h\t\tThis help text (also --help)\n"
          "\t\t-K\t\tTCP keepalive: a vanished peer ends the session\n"
          "\t\t-k\t\tKeep inbound sockets open for multiple connects\n"
          "\t\t-l\t\tListen mode, for inbound connects\n"
          "\t\t-U\t\tUse UNIX domain socket (@name: abstract)\n"
          "\t\t-u\t\tUDP mode\n"
          "\t\t-v\t\tVerbose\n"
          "\t\t-w timeout\tTimeout for connects and final net reads, and idle connections\n",
          stdout);
}

/* -v messages. */
static void say(const char *fmt, ...)
{
    va_list ap;
    if (!opt.verbose)
        return;
    va_start(ap, fmt);
    fputs("sknc: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stderr);
}

/* One line on stderr: what failed, the library's error name and its text. For
 * SK_EOS ("any other system error") errno tells the real cause, so show it too. */
static void report(const char *what, int rc, int err)
{
    if (rc == SK_EOS)
        fprintf(stderr, "sknc: %s: %s (%s: %s)\n", what, sk_errname(rc), sk_strerror(rc), strerror(err));
    else
        fprintf(stderr, "sknc: %s: %s (%s)\n", what, sk_errname(rc), sk_strerror(rc));
}

/* A whole decimal number in [min, max], or -1. */
static long parse_number(const char *text, long min, long max)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max)
        return -1;
    return v;
}

static const char *addr_text(const sk_addr *a, char buf[SK_ADDR_STRLEN])
{
    if (sk_addr_format(a, buf, SK_ADDR_STRLEN) != SK_OK)
        strcpy(buf, "?");
    return buf;
}

/* write() until everything is out; 0 or -1 with errno. */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t k = write(fd, buf, len);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += k;
        len -= (size_t)k;
    }
    return 0;
}

static int net_fd(const peer *p)
{
    return p->tcp != NULL ? sk_tcp_fd(p->tcp) : sk_udp_fd(p->udp);
}

/* Sends what the system takes now (a budget of 0 never blocks) and says how much in
 * *sent; SK_ETIMEDOUT means nothing fitted: poll() for POLLOUT and try again.
 * A datagram goes whole or not at all. */
static int net_send(peer *p, const char *buf, size_t len, size_t *sent)
{
    int rc;
    *sent = 0;
    if (p->tcp != NULL)
        return sk_tcp_send(p->tcp, buf, len, sent, 0);
    if (p->udp_bound)
        rc = sk_udp_sendto(p->udp, buf, len, &p->addr, 0);
    else
        rc = sk_udp_send(p->udp, buf, len, 0);
    if (rc == SK_OK)
        *sent = len;
    return rc;
}

/* Called when the socket is readable, so a budget of 0 is enough. *got == 0 with
 * SK_OK: nothing for standard output (a datagram from a stranger, a spurious wake). */
static int net_recv(peer *p, char *buf, size_t cap, size_t *got)
{
    int rc;
    *got = 0;
    if (p->tcp != NULL) {
        rc = sk_tcp_recv(p->tcp, buf, cap, got, 0);
    } else if (!p->udp_bound) {
        rc = sk_udp_recv(p->udp, buf, cap, got, 0);
    } else {
        sk_addr from;
        char a[SK_ADDR_STRLEN], b[SK_ADDR_STRLEN];
        rc = sk_udp_recvfrom(p->udp, buf, cap, got, &from, 0);
        if (rc != SK_OK && rc != SK_ETRUNCATED)
            return rc == SK_ETIMEDOUT ? SK_OK : rc;
        if (!p->have_addr) {
            p->addr = from;
            p->have_addr = 1;
            say("datagrams from %s", addr_text(&from, a));
        } else if (strcmp(addr_text(&from, a), addr_text(&p->addr, b)) != 0) {
            say("ignored a datagram from %s", a);
            *got = 0;
            return SK_OK;
        }
        return rc;
    }
    return rc == SK_ETIMEDOUT ? SK_OK : rc;
}

/* End of our input: a TCP connection is half-closed, so the peer sees end of stream. */
static int end_input(peer *p)
{
    input_done = 1;
    say("end of input");
    if (p->tcp != NULL) {
        int rc = sk_tcp_shutdown(p->tcp, SK_SHUT_WR);
        if (rc != SK_OK) {
            report("half-closing the connection", rc, errno);
            return 1;
        }
    }
    return 0;
}

/* Copies in both directions until both are over, the idle timeout, or an error.
 * Returns the exit status.
 *
 * Nothing here blocks but poll(): input that the socket cannot take yet waits in
 * `in` (and standard input is not read meanwhile) until poll() says POLLOUT. So two
 * programs that both send a lot at once cannot end up both stuck in a send while
 * neither reads. (Writing to standard output may block; that only slows us down.) */
static int copy_loop(peer *p)
{
    static char in[IN_CHUNK], out[NET_CHUNK];
    size_t pend_off = 0, pend_len = 0; /* input read but not yet sent: in[pend_off..] */
    const int file_in = input_file && p->tcp != NULL;
    /* Socket to socket: splice. held_*: bytes the other side could not take yet, kept
     * in the source endpoint's read buffer; poll() then waits for room, not for input. */
    sk_tcp *const splice_in = p->tcp != NULL ? sock_in : NULL, *const splice_out = p->tcp != NULL ? sock_out : NULL;
    int net_open = 1;                  /* the peer may still send (UDP: always) */

    if (input_done && end_input(p) != 0) /* a later -k connection: input is over already */
        return 1;
    while (net_open || !input_done) {
        struct pollfd fds[3];
        int n, rc;
        const int held_in = splice_in != NULL && sk_tcp_buffered(splice_in) > 0;
        const int held_net = splice_out != NULL && sk_tcp_buffered(p->tcp) > 0;

        /* Standard input is read only when everything read before has gone out, and
         * (listening for UDP) once there is someone to send it to. */
        fds[0].fd = (pend_len > 0 || input_done || (p->udp_bound && !p->have_addr)) ? -1 : STDIN_FILENO;
        if (file_in || held_in)
            fds[0].fd = -1; /* a file is always readable: the socket's POLLOUT decides */
        fds[0].events = POLLIN;
        fds[0].revents = 0;
        fds[1].fd = net_fd(p);
        fds[1].events = (short)((net_open && !held_net ? POLLIN : 0) |
                                (pend_len > 0 || (file_in && !input_done) || held_in ? POLLOUT : 0));
        fds[1].revents = 0;
        if (fds[1].events == 0)
            fds[1].fd = -1;
        /* Standard output, when it is a socket that could not take all yet. */
        fds[2].fd = net_open && held_net ? STDOUT_FILENO : -1;
        fds[2].events = POLLOUT;
        fds[2].revents = 0;

        n = poll(fds, 3, opt.wait_ms > 0 ? opt.wait_ms : -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "sknc: poll: %s\n", strerror(errno));
            return 1;
        }
        if (n == 0) {
            if (p->udp_bound && !p->have_addr) {
                fprintf(stderr, "sknc: no datagram within %d s\n", opt.wait_ms / 1000);
                return 1;
            }
            say("nothing moved for %d s, closing", opt.wait_ms / 1000);
            return 0;
        }

        /* Socket to a socket on standard output: spliced, up to a pipe-load that both
         * take now (budget 0); SK_OK short of it means the peer closed its side. */
        if (splice_out != NULL && net_open &&
            ((!held_net && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) || fds[2].revents != 0)) {
            size_t moved = 0;
            rc = sk_tcp_splice(p->tcp, splice_out, SPLICE_STEP, &moved, 0);
            if (rc == SK_OK && moved < SPLICE_STEP) {
                /* As at the end of our input: the socket's far end sees the end too. */
                say("the peer closed its side");
                net_open = 0;
                if ((rc = sk_tcp_shutdown(splice_out, SK_SHUT_WR)) != SK_OK) {
                    report("half-closing standard output", rc, errno);
                    return 1;
                }
            } else if (rc != SK_OK && rc != SK_ETIMEDOUT) {
                report("relaying to standard output", rc, errno);
                return 1;
            }
        } else if (splice_out == NULL && net_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            /* Socket to standard output. */
            size_t got;
            rc = net_recv(p, out, sizeof out, &got);
            if (rc == SK_ECLOSED) {
                say("the peer closed its side");
                net_open = 0;
            } else if (rc != SK_OK && rc != SK_ETRUNCATED) {
                report("receiving", rc, errno);
                return 1;
            } else {
                if (rc == SK_ETRUNCATED)
                    fprintf(stderr, "sknc: a datagram was truncated to %zu bytes\n", got);
                if (write_all(STDOUT_FILENO, out, got) != 0) {
                    fprintf(stderr, "sknc: writing to standard output: %s\n", strerror(errno));
                    return 1;
                }
            }
        }

        /* A socket on standard input to the connection: the same; SK_OK short of a
         * pipe-load means its stream ended. */
        if (splice_in != NULL && !input_done &&
            (fds[0].revents != 0 || (held_in && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP))))) {
            fds[0].revents = 0; /* (not read below) */
            size_t moved = 0;
            rc = sk_tcp_splice(splice_in, p->tcp, SPLICE_STEP, &moved, 0);
            if (rc == SK_OK && moved < SPLICE_STEP && end_input(p) != 0)
                return 1;
            if (rc != SK_OK && rc != SK_ETIMEDOUT) {
                report("relaying standard input", rc, errno);
                return 1;
            }
        }

        /* Standard input into `in`: at end of input, half-close. */
        if (fds[0].revents != 0) {
            ssize_t k = (fds[0].revents & POLLNVAL) ? 0 : read(STDIN_FILENO, in, sizeof in);
            if (k < 0 && errno != EINTR && errno != EAGAIN) {
                fprintf(stderr, "sknc: reading standard input: %s\n", strerror(errno));
                return 1;
            }
            if (k == 0 && end_input(p) != 0)
                return 1;
            if (k > 0) {
                pend_off = 0;
                pend_len = (size_t)k;
            }
        }

        /* A file on standard input goes from the page cache to the socket, as much as
         * the socket takes now (budget 0), from the file's position on; SK_OK means
         * the file ended. */
        if (file_in && !input_done && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
            rc = sk_tcp_sendfile(p->tcp, STDIN_FILENO, -1, SIZE_MAX, NULL, 0);
            if (rc == SK_OK && end_input(p) != 0)
                return 1;
            if (rc != SK_OK && rc != SK_ETIMEDOUT) {
                report("sending", rc, errno);
                return 1;
            }
        }

        /* `in` to the socket: tried at once (it usually fits), else on POLLOUT. */
        if (pend_len > 0) {
            size_t sent;
            rc = net_send(p, in + pend_off, pend_len, &sent);
            if (rc != SK_OK && rc != SK_ETIMEDOUT) {
                report("sending", rc, errno);
                return 1;
            }
            pend_off += sent;
            pend_len -= sent;
        }
    }
    say("connection over");
    return 0;
}

/* -v after a failed connect: every attempt, as the library reports it. */
static void say_attempts(const sk_connect_attempt *att, size_t stored, size_t count)
{
    char a[SK_ADDR_STRLEN];
    for (size_t i = 0; i < stored; i++) {
        const sk_connect_attempt *t = &att[i];
        const char *detail = t->sys_errno < 0 ? gai_strerror(t->sys_errno)
                             : t->sys_errno > 0 ? strerror(t->sys_errno) : "-";
        if (sk_addr_format(&t->addr, a, sizeof a) != SK_OK)
            snprintf(a, sizeof a, "(name lookup)");
        say("attempt %zu: %s %s (%s), %d..%d ms", i + 1, a, sk_errname(t->code), detail, t->started_ms,
            t->ended_ms);
    }
    if (count > stored)
        say("and %zu more attempts", count - stored);
}

/* -K: a TCP peer that vanishes without a word (host down, cable cut) ends the session
 * after about 15 s idle and 9 probes 15 s apart (the library's preset, Go's), instead
 * of never. Not for Unix streams, which cannot lose their peer that way. */
static int set_keepalive(sk_tcp *conn)
{
    int rc;
    if (!opt.keepalive || opt.path != NULL)
        return SK_OK;
    rc = sk_tcp_set_keepalive(conn, SK_KEEPALIVE_IDLE_S, SK_KEEPALIVE_INTERVAL_S, SK_KEEPALIVE_COUNT);
    if (rc != SK_OK)
        report("keepalive", rc, errno);
    else
        say("keepalive on: %d s idle, %d probes %d s apart", SK_KEEPALIVE_IDLE_S, SK_KEEPALIVE_COUNT,
            SK_KEEPALIVE_INTERVAL_S);
    return rc;
}

static int run_connect(void)
{
    peer p = { 0 };
    char a[SK_ADDR_STRLEN], what[300];
    int rc, status;

    if (opt.path != NULL) {
        snprintf(what, sizeof what, "cannot connect to %.200s", opt.path);
        rc = opt.udp ? sk_unix_dgram_connect(&p.udp, opt.path)
                     : sk_unix_connect(&p.tcp, opt.path, opt.wait_ms > 0 ? opt.wait_ms : SK_FOREVER);
        if (rc != SK_OK) {
            report(what, rc, errno);
            return 1;
        }
        say("connected to %s (unix %s)", opt.path, opt.udp ? "datagrams" : "stream");
        status = copy_loop(&p);
        sk_udp_close(p.udp);
        sk_tcp_close(p.tcp);
        return status;
    }
    snprintf(what, sizeof what, "cannot connect to %.200s port %d", opt.host, opt.port);
    if (opt.udp) {
        rc = sk_udp_connect(&p.udp, opt.host, opt.port);
        if (rc != SK_OK) {
            report(what, rc, errno);
            return 1;
        }
        say("sending to %s port %d (udp)", opt.host, opt.port);
        status = copy_loop(&p);
        sk_udp_close(p.udp);
        return status;
    }
    {
        sk_connect_attempt att[16];
        size_t count = 0;
        rc = sk_tcp_connect_report(&p.tcp, opt.host, opt.port, opt.wait_ms > 0 ? opt.wait_ms : SK_FOREVER, att,
                                   sizeof att / sizeof att[0], &count);
        if (rc != SK_OK) {
            int err = errno;
            say_attempts(att, count < sizeof att / sizeof att[0] ? count : sizeof att / sizeof att[0], count);
            report(what, rc, err);
            return 1;
        }
    }
    if (sk_tcp_peer_addr(p.tcp, &p.addr) == SK_OK)
        say("connected to %s (tcp)", addr_text(&p.addr, a));
    if (set_keepalive(p.tcp) != SK_OK) {
        sk_tcp_close(p.tcp);
        return 1;
    }
    status = copy_loop(&p);
    sk_tcp_close(p.tcp);
    return status;
}

static int run_listen_udp(void)
{
    peer p = { 0 };
    sk_addr local;
    char a[SK_ADDR_STRLEN], what[300];
    int rc, status;

    rc = opt.path != NULL ? sk_unix_dgram_bind(&p.udp, opt.path) : sk_udp_bind(&p.udp, opt.host, opt.port);
    if (rc != SK_OK) {
        if (opt.path != NULL)
            snprintf(what, sizeof what, "cannot listen on %.200s", opt.path);
        else
            snprintf(what, sizeof what, "cannot listen on %.200s port %d", opt.host ? opt.host : "*", opt.port);
        report(what, rc, errno);
        return 1;
    }
    p.udp_bound = 1;
    if ((rc = sk_udp_local_addr(p.udp, &local)) != SK_OK) {
        report("local address", rc, errno);
        sk_udp_close(p.udp);
        return 1;
    }
    say("listening on %s (%s)", addr_text(&local, a), opt.path != NULL ? "unix datagrams" : "udp");
    status = copy_loop(&p);
    sk_udp_close(p.udp);
    return status;
}

static int run_listen_tcp(void)
{
    sk_tcp *listener;
    sk_addr local;
    char a[SK_ADDR_STRLEN], what[300];
    int rc, status = 0, served = 0;

    rc = opt.path != NULL ? sk_unix_listen(&listener, opt.path, 1) : sk_tcp_listen(&listener, opt.host, opt.port, 1);
    if (rc != SK_OK) {
        if (opt.path != NULL)
            snprintf(what, sizeof what, "cannot listen on %.200s", opt.path);
        else
            snprintf(what, sizeof what, "cannot listen on %.200s port %d", opt.host ? opt.host : "*", opt.port);
        report(what, rc, errno);
        return 1;
    }
    if ((rc = sk_tcp_local_addr(listener, &local)) != SK_OK) {
        report("local address", rc, errno);
        sk_tcp_close(listener);
        return 1;
    }
    say("listening on %s (%s)", addr_text(&local, a), opt.path != NULL ? "unix stream" : "tcp");

    do {
        peer p = { 0 };
        rc = sk_tcp_accept(listener, &p.tcp, opt.wait_ms > 0 ? opt.wait_ms : SK_FOREVER);
        if (rc == SK_ETIMEDOUT && served > 0) {
            say("no new connection for %d s", opt.wait_ms / 1000);
            break;
        }
        if (rc != SK_OK) {
            report("accept", rc, errno);
            status = 1;
            break;
        }
        if (!opt.keep) { /* one connection only: stop listening, as nc does */
            sk_tcp_close(listener);
            listener = NULL;
        }
        if (sk_tcp_peer_addr(p.tcp, &p.addr) == SK_OK)
            say("connection from %s", addr_text(&p.addr, a));
        if (set_keepalive(p.tcp) != SK_OK) {
            sk_tcp_close(p.tcp);
            status = 1;
            break;
        }
        status = copy_loop(&p);
        sk_tcp_close(p.tcp);
        served++;
    } while (opt.keep);
    sk_tcp_close(listener);
    return status;
}

/* The endpoints of standard input and output, at exit (their own descriptors). */
static void close_std_sockets(void)
{
    sk_tcp_close(sock_in);
    sk_tcp_close(sock_out);
}

int main(int argc, char **argv)
{
    int c, npos;
    long v;

    if (argc > 1 && strcmp(argv[1], "--help") == 0) {
        help();
        return 0;
    }
    while ((c = getopt(argc, argv, "hlUuvkKw:")) != -1) {
        switch (c) {
        case 'h': help(); return 0;
        case 'l': opt.listen = 1; break;
        case 'u': opt.udp = 1; break;
        case 'U': opt.path = ""; break;
        case 'v': opt.verbose = 1; break;
        case 'k': opt.keep = 1; break;
        case 'K': opt.keepalive = 1; break;
        case 'w':
            if ((v = parse_number(optarg, 1, 86400)) < 0) {
                fprintf(stderr, "sknc: bad -w (1 to 86400 seconds)\n");
                return 2;
            }
            opt.wait_ms = (int)v * 1000;
            break;
        default: usage(stderr); return 2;
        }
    }
    npos = argc - optind;
    if (opt.path != NULL ? npos != 1 : (opt.listen ? (npos < 1 || npos > 2) : npos != 2)) {
        usage(stderr);
        return 2;
    }
    if (opt.keep && (!opt.listen || opt.udp)) {
        fprintf(stderr, "sknc: -k goes with -l, over TCP\n");
        usage(stderr);
        return 2;
    }
    if (opt.keepalive && opt.udp) {
        fprintf(stderr, "sknc: -K is for TCP, not -u\n");
        usage(stderr);
        return 2;
    }
    {
        struct stat st;
        input_file = !opt.udp && fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode);
        if (input_file)
            say("standard input is a file: sent with sk_tcp_sendfile");
        /* Sockets on standard input or output: endpoints of their own, for splice. */
        atexit(close_std_sockets);
        if (!opt.udp && fstat(STDIN_FILENO, &st) == 0 && S_ISSOCK(st.st_mode) &&
            sk_tcp_from_fd(&sock_in, STDIN_FILENO) == SK_OK)
            say("standard input is a socket: relayed with sk_tcp_splice");
        if (!opt.udp && fstat(STDOUT_FILENO, &st) == 0 && S_ISSOCK(st.st_mode) &&
            sk_tcp_from_fd(&sock_out, STDOUT_FILENO) == SK_OK)
            say("standard output is a socket: relayed with sk_tcp_splice");
    }
    if (opt.path != NULL) {
        opt.path = argv[optind];
        if (opt.path[0] == '\0') {
            fprintf(stderr, "sknc: -U needs a path\n");
            return 2;
        }
        if (!opt.listen)
            return run_connect();
        return opt.udp ? run_listen_udp() : run_listen_tcp();
    }
    opt.host = npos == 2 ? argv[optind] : NULL;
    if ((v = parse_number(argv[argc - 1], opt.listen ? 0 : 1, 65535)) < 0) {
        fprintf(stderr, "sknc: bad port '%s'\n", argv[argc - 1]);
        return 2;
    }
    opt.port = (int)v;

    if (!opt.listen)
        return run_connect();
    return opt.udp ? run_listen_udp() : run_listen_tcp();
}
