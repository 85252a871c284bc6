/* chat-server: the notes' stated goal, one server and many clients at once.
 *
 *   chat-server [host [port]]          (default: localhost 1234)
 *
 * Every line a client sends goes to every other connected client, prefixed with the
 * sender's tag, "[127.0.0.1:50432] hello". Joins and departures are announced as
 * "* 127.0.0.1:50432 joined" and "* 127.0.0.1:50432 left"; a newcomer is greeted with
 * "* welcome 127.0.0.1:50432, 3 others here". Any line-based client will do:
 * chat-client, or `nc localhost 1234`.
 *
 * One thread and a poller: it asks an sk_poller which endpoints are ready and makes
 * only calls with timeout_ms == 0, which do one non-blocking system call and return at
 * once (SK_ETIMEDOUT: nothing now). So it needs no locks and no stack per client.
 * This file is the I/O half: the poller, accept, recv, gather writes. What to send to
 * whom, the bounded queues and the flow control that holds everybody's input while a
 * slow reader drains (dropping one that stops) are in engine.c, which calls back into
 * the `ops` below; tests/bench/chat_raw_epoll.c drives the same engine on raw epoll.
 * docs/CHAT.md explains the design and its reasons.
 *
 * Events of an endpoint closed earlier in a batch come with `events` 0 and are skipped
 * (the engine closes clients only between batches anyway). SIGINT and SIGTERM end the
 * loop through sk_poller_wake, the one poller call a signal handler may make; the
 * clients are then closed gracefully (a second signal stops waiting for them) and the
 * exit status is 0. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <sockkit.h>

#if defined(__linux__)
#include <sys/ioctl.h>
/* SIOCOUTQ is linux/sockios.h's name for TIOCOUTQ, which <sys/ioctl.h> has with glibc
 * and musl alike (musl-gcc has no kernel headers). */
#if !defined(SIOCOUTQ) && defined(TIOCOUTQ)
#define SIOCOUTQ TIOCOUTQ
#endif
#endif

#include "engine.h"

#define SEND_IOV 64                  /* pieces per gather write */

_Static_assert(SK_ADDR_STRLEN <= CHAT_NAME_CAP, "a peer's name must fit the engine's tag");

struct io {
    sk_poller *poller;
    sk_tcp *listener;
    struct chat_engine *chat;
    sk_event evs[CHAT_MAX_EVENTS];   /* the poller marks cancelled events here until the
                                        next wait, so it lives as long as the endpoints */
};

static sk_poller *volatile stop_poller;
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    int err = errno;
    sk_poller *p = stop_poller;
    (void)sig;
    if (stop_requested < 2)
        stop_requested++;
    if (p != NULL)
        sk_poller_wake(p); /* one write to an eventfd: never blocks */
    errno = err;
}

/* ---- what the engine asks of us (struct chat_ops) ---------------------------------- */

static unsigned poll_bits(unsigned want)
{
    return (want & CHAT_IN ? SK_POLL_IN : 0u) | (want & CHAT_OUT ? SK_POLL_OUT : 0u);
}

static int io_attach(void *io, chat_conn conn, struct chat_client *c)
{
    struct io *s = io;
    int rc = sk_poller_add_tcp(s->poller, conn.ptr, SK_POLL_IN, c);
    if (rc != SK_OK)
        fprintf(stderr, "chat-server: poller: %s (%s): turning a client away\n", sk_errname(rc),
                sk_strerror(rc));
    return rc == SK_OK ? 0 : -1;
}

static const char *io_watch(void *io, chat_conn conn, struct chat_client *c, unsigned want)
{
    struct io *s = io;
    int rc = sk_poller_mod_tcp(s->poller, conn.ptr, poll_bits(want), c);
    return rc == SK_OK ? NULL : sk_errname(rc);
}

static enum chat_io io_recv(void *io, chat_conn conn, char *buf, size_t cap, size_t *got, const char **why)
{
    int rc = sk_tcp_recv(conn.ptr, buf, cap, got, 0);
    (void)io;
    if (rc == SK_OK)
        return CHAT_IO_DONE;
    if (rc == SK_ETIMEDOUT)
        return CHAT_IO_AGAIN;
    if (rc == SK_ECLOSED)
        return CHAT_IO_CLOSED;
    *why = sk_errname(rc); /* SK_ECONNRESET: it vanished */
    return CHAT_IO_FAILED;
}

/* sk_tcp_send_allv with 0 sends what the socket takes now and says how much. */
static enum chat_io io_send(void *io, chat_conn conn, const struct chat_iov *iov, size_t n, size_t *sent,
                            const char **why)
{
    sk_iovec v[SEND_IOV];
    int rc;
    (void)io;
    for (size_t i = 0; i < n; i++) {
        v[i].base = iov[i].base;
        v[i].len = iov[i].len;
    }
    rc = sk_tcp_send_allv(conn.ptr, v, n, sent, 0);
    if (rc == SK_OK)
        return CHAT_IO_DONE;
    if (rc == SK_ETIMEDOUT)
        return CHAT_IO_AGAIN; /* the socket is full */
    *why = sk_errname(rc); /* reset, or broken pipe */
    return CHAT_IO_FAILED;
}

/* A client fell behind or caught up: what the system may hold unsent for it. A Unix
 * stream has no such bound (SK_EINVAL): it goes without. */
static void io_bound_unsent(void *io, chat_conn conn, int behind)
{
    (void)io;
    (void)sk_tcp_set_notsent_lowat(conn.ptr, behind ? CHAT_UNSENT_LOWAT : CHAT_UNSENT_LOWAT_UP);
}

#if defined(SIOCOUTQ)
/* What the system holds for the client that its reader has not acknowledged: an
 * option the library lacks, asked through sk_tcp_fd (only of clients behind). */
static long io_unacked(void *io, chat_conn conn)
{
    int n;
    (void)io;
    if (ioctl(sk_tcp_fd(conn.ptr), SIOCOUTQ, &n) != 0)
        return -1;
    return n;
}
#else
#define io_unacked NULL /* a client behind shows progress only when its socket takes more */
#endif

static int io_shutdown(void *io, chat_conn conn)
{
    (void)io;
    return sk_tcp_shutdown(conn.ptr, SK_SHUT_WR) == SK_OK ? 0 : -1;
}

static void io_close(void *io, chat_conn conn)
{
    (void)io;
    sk_tcp_close(conn.ptr); /* removes it from the poller too */
}

static const struct chat_ops ops = {SEND_IOV,        io_attach,  io_watch,    io_recv, io_send,
                                    io_bound_unsent, io_unacked, io_shutdown, io_close};

/* ---- the loop ---------------------------------------------------------------------- */

/* What the system holds unsent for a client that keeps up stays below
 * CHAT_UNSENT_LOWAT_UP, about one round, so that a round goes out in one send; the
 * engine lowers it to CHAT_UNSENT_LOWAT while the client is behind, so that its
 * reader's progress shows (docs/CHAT.md). A Unix stream has no such option (SK_EINVAL),
 * and where the system lacks it (SK_EOS) flow control still works, coarser: neither
 * is worth more than a word. */
static void bound_unsent(sk_tcp *conn)
{
    int rc = sk_tcp_set_notsent_lowat(conn, CHAT_UNSENT_LOWAT_UP);
    if (rc != SK_OK && rc != SK_EINVAL)
        fprintf(stderr, "chat-server: TCP_NOTSENT_LOWAT: %s\n", sk_strerror(rc));
}

/* The listener is readable: take the waiting connections, a bounded number per event. */
static void accept_clients(struct io *s)
{
    for (int i = 0; i < CHAT_ACCEPT_BURST; i++) {
        sk_tcp *conn;
        sk_addr peer;
        char name[SK_ADDR_STRLEN];
        int rc = sk_tcp_accept(s->listener, &conn, 0);
        if (rc == SK_ETIMEDOUT)
            return; /* nobody else is waiting */
        if (rc != SK_OK) {
            /* SK_EMFILE above all: the connection stays queued, so the poller would
             * report the listener again at once. Rest it briefly; clients leaving
             * free descriptors meanwhile. */
            fprintf(stderr, "chat-server: accept: %s (%s); pausing %d ms\n", sk_errname(rc),
                    sk_strerror(rc), CHAT_ACCEPT_PAUSE_MS);
            if (sk_poller_mod_tcp(s->poller, s->listener, 0, NULL) == SK_OK)
                chat_rest_listener(s->chat, 1);
            return;
        }
        if (sk_tcp_peer_addr(conn, &peer) != SK_OK) {
            sk_tcp_close(conn); /* it reset before we got to it: nothing to announce */
            continue;
        }
        bound_unsent(conn);
        sk_addr_format(&peer, name, sizeof name);
        chat_join(s->chat, (chat_conn){.ptr = conn}, name);
    }
}

/* SIGINT or SIGTERM: no newcomers, and every client is closed gracefully (the engine
 * sends our end of stream, then waits a second at most for each client's). */
static void begin_stop(struct io *s)
{
    sk_tcp_close(s->listener); /* leaves the poller with it */
    s->listener = NULL;
    chat_engine_stop(s->chat);
}

static int main_loop(struct io *s)
{
    for (;;) {
        size_t count;
        int rc, timeout;
        if (stop_requested && s->listener != NULL)
            begin_stop(s);
        timeout = chat_wait_timeout(s->chat); /* also ends the graceful closes whose time is up */
        if (s->listener == NULL && (chat_engine_closing(s->chat) == 0 || stop_requested > 1))
            return 0; /* all closed, or a second signal: no more waiting */
        rc = sk_poller_wait(s->poller, s->evs, CHAT_MAX_EVENTS, &count, timeout);
        chat_tick(s->chat);
        if (rc == SK_ETIMEDOUT)
            count = 0;
        else if (rc != SK_OK) {
            fprintf(stderr, "chat-server: poller: %s (%s)\n", sk_errname(rc), sk_strerror(rc));
            return 1;
        }
        if (s->listener != NULL && chat_listener_rested(s->chat) &&
            sk_poller_mod_tcp(s->poller, s->listener, SK_POLL_IN, NULL) == SK_OK)
            chat_rest_listener(s->chat, 0);

        for (size_t i = 0; i < count; i++) {
            const sk_event *e = &s->evs[i];
            if (e->events == 0)
                continue; /* cancelled: its endpoint was closed */
            if (e->events & SK_POLL_WAKE)
                continue; /* SIGINT or SIGTERM: seen at the top of the loop */
            if (e->tcp == s->listener && s->listener != NULL) {
                accept_clients(s);
                continue;
            }
            chat_event(s->chat, e->data,
                       (e->events & SK_POLL_IN ? CHAT_IN : 0u) | (e->events & SK_POLL_OUT ? CHAT_OUT : 0u) |
                           (e->events & (SK_POLL_HUP | SK_POLL_ERR) ? CHAT_HUP : 0u));
        }
        chat_batch_done(s->chat);
    }
}

int main(int argc, char **argv)
{
    const char *host;
    int port, rc, status;
    static struct io s; /* static: its evs array is large */
    struct sigaction sa;
    sk_addr local;
    char where[SK_ADDR_STRLEN];

    if ((status = chat_parse_args("chat-server", argc, argv, &host, &port)) >= 0)
        return status;
    chat_raise_fd_limit("chat-server");
    if ((s.chat = chat_engine_new("chat-server", &ops, &s)) == NULL) {
        fprintf(stderr, "chat-server: out of memory\n");
        return 1;
    }
    if ((rc = sk_poller_create(&s.poller)) != SK_OK) {
        fprintf(stderr, "chat-server: poller: %s (%s)\n", sk_errname(rc), sk_strerror(rc));
        return 1;
    }
    stop_poller = s.poller;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0) {
        perror("chat-server: sigaction");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN); /* the library never raises it; this covers a closed stderr */

    /* 0: the system's largest queue. "unix:PATH" (or "unix:@name") is a Unix socket. */
    if (strncmp(host, "unix:", 5) == 0)
        rc = sk_unix_listen(&s.listener, host + 5, 0);
    else
        rc = sk_tcp_listen(&s.listener, host, port, 0);
    if (rc != SK_OK) {
        fprintf(stderr, "chat-server: cannot listen on %s port %d: %s (%s)\n", host, port,
                sk_errname(rc), sk_strerror(rc));
        return 1;
    }
    if ((rc = sk_tcp_local_addr(s.listener, &local)) != SK_OK ||
        (rc = sk_addr_format(&local, where, sizeof where)) != SK_OK ||
        (rc = sk_poller_add_tcp(s.poller, s.listener, SK_POLL_IN, NULL)) != SK_OK) {
        fprintf(stderr, "chat-server: %s (%s)\n", sk_errname(rc), sk_strerror(rc));
        sk_tcp_close(s.listener);
        return 1;
    }
    fprintf(stderr, "chat-server: listening on %s\n", where);
    fflush(stderr);

    status = main_loop(&s);

    /* The poller first: the endpoints then close without touching it. */
    stop_poller = NULL;
    sk_poller_close(s.poller);
    chat_engine_close(s.chat);
    sk_tcp_close(s.listener);
    return status;
}
