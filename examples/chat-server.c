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
 * Why one thread and poll(): a chat server spends its time waiting on many sockets at
 * once, and each event needs only a little work. One thread that asks poll() which
 * sockets are ready and then does exactly that work needs no locks, no per-client
 * stacks, and holds thousands of clients in a few hundred bytes each. It never blocks:
 * every library call here has timeout_ms == 0, so it makes one non-blocking system
 * call and returns at once (sk_tcp_recv gives SK_ETIMEDOUT when nothing has arrived,
 * sk_tcp_send takes what fits now, sk_tcp_accept SK_ETIMEDOUT when nobody waits).
 * sk_tcp_fd lends us the descriptors to poll; the endpoints keep owning them.
 *
 * Rules that keep one client from hurting the others:
 *   - output waiting for a client is bounded (MAX_QUEUE): a client that stops reading
 *     is dropped when it would exceed it, so nobody else ever waits for it;
 *   - a line longer than MAX_LINE drops its sender (the server never holds more);
 *   - a client that vanishes (reset, broken connection) is dropped like one that leaves;
 *   - when accept() runs out of descriptors (SK_EMFILE) the listener rests for a moment
 *     instead of waking poll() in a busy loop.
 * SIGINT and SIGTERM end the loop through a self-pipe; everything is then closed.
 *
 * Limits of this simple design: poll() looks at every descriptor on every round, which
 * is fine for thousands of clients but not for hundreds of thousands; each line is
 * copied into every reader's queue; and input is never paused, so a reader slower
 * than all the senders together is dropped once it is 1 MiB behind. A client that
 * closes gets one last send of its queue; the system delivers what that took.
 * The event-loop glue is confined to main_loop(): the handlers (on_readable,
 * flush_output, accept_clients, reap) do not know it is poll(). */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <sockkit.h>

#define DEFAULT_HOST "localhost"
#define DEFAULT_PORT 1234

#define MAX_LINE (64 * 1024)      /* bytes in one line, newline excluded */
#define MAX_QUEUE (1024 * 1024)   /* bytes waiting to be sent to one client */
#define READ_CHUNK (64 * 1024)    /* one recv per ready client per round: fairness */
#define BATCH_CAP (2 * MAX_LINE)  /* tagged lines of one sender, broadcast together */
#define ACCEPT_BURST 64           /* connections taken per round */
#define ACCEPT_PAUSE_MS 100       /* rest for the listener after SK_EMFILE */
#define TAG_CAP (SK_ADDR_STRLEN + 4)

struct client {
    sk_tcp *conn;
    char name[SK_ADDR_STRLEN]; /* "127.0.0.1:50432" */
    char tag[TAG_CAP];         /* "[127.0.0.1:50432] " */
    size_t tag_len;
    char *in;                  /* the start of a line whose newline has not come yet */
    size_t in_len, in_cap;
    char *out;                 /* bytes waiting to be sent: out[out_head .. +out_len] */
    size_t out_head, out_len, out_cap;
    int blocked;               /* the socket took less than we had: wait until writable */
    int said_bye;              /* it closed its sending half: flush once before closing */
    const char *gone;          /* why it is being dropped; NULL while connected */
};

struct server {
    sk_tcp *listener;
    struct client **clients;   /* in no particular order */
    size_t n, cap;
    size_t n_gone;             /* clients marked gone, not yet removed */
    char *batch;               /* BATCH_CAP bytes: one sender's tagged lines */
    size_t batch_len;
    char *rbuf;                /* READ_CHUNK bytes for recv */
    int64_t accept_resume_ms;  /* listener rests until then (0: not resting) */
};

static int stop_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
    int err = errno; /* a handler must leave errno as it found it */
    char c = (char)sig;
    ssize_t r = write(stop_pipe[1], &c, 1);
    (void)r; /* the pipe is non-blocking; one byte already there is enough */
    errno = err;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void usage(FILE *to)
{
    fprintf(to, "usage: chat-server [host [port]]   (default: %s %d; port 0 picks a free one)\n",
            DEFAULT_HOST, DEFAULT_PORT);
}

static int parse_port(const char *text, int *port)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < 0 || v > 65535)
        return -1;
    *port = (int)v;
    return 0;
}

/* A chat server needs one descriptor per client: take all the system allows. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            perror("chat-server: setrlimit(RLIMIT_NOFILE)");
    }
}

/* Mark a client for removal; it is closed and announced after this round. */
static void drop(struct server *s, struct client *c, const char *why)
{
    if (c->gone == NULL) {
        c->gone = why;
        s->n_gone++;
    }
}

/* Queue bytes for one client; a client whose backlog would pass MAX_QUEUE is dropped. */
static void enqueue(struct server *s, struct client *c, const char *data, size_t len)
{
    if (c->out_len + len > MAX_QUEUE) {
        drop(s, c, "not reading: output queue full");
        return;
    }
    if (c->out_head + c->out_len + len > c->out_cap) {
        /* Slide the pending bytes to the front when that frees at least as much as
         * it moves, else grow: each byte is moved at most once on average. */
        if (c->out_head > 0 && c->out_head >= c->out_len) {
            memmove(c->out, c->out + c->out_head, c->out_len);
            c->out_head = 0;
        }
        if (c->out_head + c->out_len + len > c->out_cap) {
            size_t need = c->out_head + c->out_len + len;
            size_t cap = c->out_cap ? c->out_cap : 1024;
            char *p;
            while (cap < need)
                cap *= 2;
            if ((p = realloc(c->out, cap)) == NULL) {
                drop(s, c, "out of memory");
                return;
            }
            c->out = p;
            c->out_cap = cap;
        }
    }
    memcpy(c->out + c->out_head + c->out_len, data, len);
    c->out_len += len;
}

/* Everyone but `from` (NULL: everyone) gets the bytes. */
static void broadcast(struct server *s, const struct client *from, const char *data, size_t len)
{
    for (size_t i = 0; i < s->n; i++) {
        struct client *c = s->clients[i];
        if (c != from && c->gone == NULL)
            enqueue(s, c, data, len);
    }
}

static void announce(struct server *s, const struct client *about, const char *what)
{
    char line[SK_ADDR_STRLEN + 32];
    int n = snprintf(line, sizeof line, "* %s %s\n", about->name, what);
    broadcast(s, about, line, (size_t)n);
}

/* Hand the batch of tagged lines to everyone else: one copy per reader, not per line. */
static void flush_batch(struct server *s, const struct client *from)
{
    if (s->batch_len > 0)
        broadcast(s, from, s->batch, s->batch_len);
    s->batch_len = 0;
}

/* One complete line, in two pieces (the part carried over and the part just read). */
static void add_line(struct server *s, const struct client *from, const char *a, size_t alen,
                     const char *b, size_t blen)
{
    if (s->batch_len + from->tag_len + alen + blen > BATCH_CAP)
        flush_batch(s, from);
    memcpy(s->batch + s->batch_len, from->tag, from->tag_len);
    s->batch_len += from->tag_len;
    if (alen > 0)
        memcpy(s->batch + s->batch_len, a, alen);
    s->batch_len += alen;
    memcpy(s->batch + s->batch_len, b, blen);
    s->batch_len += blen;
}

/* Keep the start of a line until its newline comes. */
static int keep_partial(struct client *c, const char *p, size_t len)
{
    if (c->in_len + len > c->in_cap) {
        size_t cap = c->in_cap ? c->in_cap : 256;
        char *q;
        while (cap < c->in_len + len)
            cap *= 2;
        if ((q = realloc(c->in, cap)) == NULL)
            return -1;
        c->in = q;
        c->in_cap = cap;
    }
    memcpy(c->in + c->in_len, p, len);
    c->in_len += len;
    return 0;
}

static void forget_partial(struct client *c)
{
    c->in_len = 0;
    if (c->in_cap > 4096) {
        free(c->in);
        c->in = NULL;
        c->in_cap = 0;
    }
}

/* The client's socket is readable: take what is there and pass on its whole lines. */
static void on_readable(struct server *s, struct client *c)
{
    size_t n;
    int rc = sk_tcp_recv(c->conn, s->rbuf, READ_CHUNK, &n, 0);

    if (rc == SK_ETIMEDOUT)
        return; /* nothing after all */
    if (rc == SK_ECLOSED) {
        /* It said goodbye. A last line without its newline still counts. */
        if (c->in_len > 0) {
            add_line(s, c, c->in, c->in_len, "\n", 1);
            flush_batch(s, c);
            forget_partial(c);
        }
        c->said_bye = 1;
        drop(s, c, "closed the connection");
        return;
    }
    if (rc != SK_OK) {
        drop(s, c, sk_errname(rc)); /* SK_ECONNRESET: it vanished */
        return;
    }

    for (const char *p = s->rbuf, *end = s->rbuf + n; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL) {
            /* No newline yet: the line is at least this long. */
            if (c->in_len + (size_t)(end - p) > MAX_LINE)
                drop(s, c, "line too long");
            else if (keep_partial(c, p, (size_t)(end - p)) != 0)
                drop(s, c, "out of memory");
            break;
        }
        if (c->in_len + (size_t)(nl - p) > MAX_LINE) {
            drop(s, c, "line too long");
            break;
        }
        add_line(s, c, c->in, c->in_len, p, (size_t)(nl + 1 - p));
        if (c->in_len > 0)
            forget_partial(c);
        p = nl + 1;
    }
    /* Lines that were complete before a bad one still go out, in order. */
    flush_batch(s, c);
}

/* Send what the client's socket takes now: one system call, never a wait. */
static void flush_output(struct server *s, struct client *c)
{
    size_t sent;
    int rc = sk_tcp_send(c->conn, c->out + c->out_head, c->out_len, &sent, 0);

    if (rc == SK_OK) {
        c->out_head += sent;
        c->out_len -= sent;
    } else if (rc != SK_ETIMEDOUT) {
        drop(s, c, sk_errname(rc)); /* reset, or broken pipe */
        return;
    }
    c->blocked = c->out_len > 0;
    if (c->out_len == 0) {
        /* An idle client holds no buffer: thousands of them cost little. */
        free(c->out);
        c->out = NULL;
        c->out_head = c->out_cap = 0;
    }
}

static void client_free(struct client *c)
{
    sk_tcp_close(c->conn);
    free(c->in);
    free(c->out);
    free(c);
}

static void add_client(struct server *s, sk_tcp *conn)
{
    struct client *c;
    sk_addr peer;
    char hello[SK_ADDR_STRLEN + 64];
    size_t others;
    int rc, n;

    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        struct client **p = realloc(s->clients, cap * sizeof *p);
        if (p == NULL) {
            fprintf(stderr, "chat-server: out of memory: turning a client away\n");
            sk_tcp_close(conn);
            return;
        }
        s->clients = p;
        s->cap = cap;
    }
    if ((rc = sk_tcp_peer_addr(conn, &peer)) != SK_OK) {
        /* It reset before we got to it: nothing to announce. */
        sk_tcp_close(conn);
        return;
    }
    if ((c = calloc(1, sizeof *c)) == NULL) {
        fprintf(stderr, "chat-server: out of memory: turning a client away\n");
        sk_tcp_close(conn);
        return;
    }
    c->conn = conn;
    sk_addr_format(&peer, c->name, sizeof c->name);
    c->tag_len = (size_t)snprintf(c->tag, sizeof c->tag, "[%s] ", c->name);

    others = s->n - s->n_gone;
    n = snprintf(hello, sizeof hello, "* welcome %s, %zu other%s here\n", c->name, others,
                 others == 1 ? "" : "s");
    enqueue(s, c, hello, (size_t)n);
    s->clients[s->n++] = c;
    announce(s, c, "joined");
    fprintf(stderr, "chat-server: %s joined (%zu connected)\n", c->name, s->n - s->n_gone);
}

/* The listener is readable: take the waiting connections, a bounded number per round. */
static void accept_clients(struct server *s)
{
    for (int i = 0; i < ACCEPT_BURST; i++) {
        sk_tcp *conn;
        int rc = sk_tcp_accept(s->listener, &conn, 0);
        if (rc == SK_ETIMEDOUT)
            return; /* nobody else is waiting */
        if (rc != SK_OK) {
            /* SK_EMFILE above all: the connection stays queued, so poll() would report
             * the listener again at once. Rest it briefly; clients leaving free
             * descriptors meanwhile. */
            fprintf(stderr, "chat-server: accept: %s (%s); pausing %d ms\n", sk_errname(rc),
                    sk_strerror(rc), ACCEPT_PAUSE_MS);
            s->accept_resume_ms = now_ms() + ACCEPT_PAUSE_MS;
            return;
        }
        add_client(s, conn);
    }
}

/* Remove the clients marked gone and tell the others. Telling them can overflow
 * another stalled client, which is then removed in the same way. */
static void reap(struct server *s)
{
    while (s->n_gone > 0) {
        for (size_t i = 0; i < s->n;) {
            struct client *c = s->clients[i];
            if (c->gone == NULL) {
                i++;
                continue;
            }
            s->clients[i] = s->clients[--s->n]; /* order does not matter */
            s->n_gone--;
            if (c->said_bye && c->out_len > 0)
                flush_output(s, c); /* a last try; the system delivers what it took */
            fprintf(stderr, "chat-server: %s left: %s (%zu connected)\n", c->name, c->gone,
                    s->n - s->n_gone);
            announce(s, c, "left");
            client_free(c);
        }
    }
}

static int main_loop(struct server *s)
{
    struct pollfd *pfds = NULL;
    size_t pcap = 0;
    int status = 0;

    for (;;) {
        size_t npoll = s->n; /* clients accepted during this round wait for the next */
        int timeout = -1, ready;

        if (npoll + 2 > pcap) {
            size_t cap = (npoll + 2) * 2;
            struct pollfd *p = realloc(pfds, cap * sizeof *p);
            if (p == NULL) {
                fprintf(stderr, "chat-server: out of memory\n");
                status = 1;
                break;
            }
            pfds = p;
            pcap = cap;
        }
        pfds[0].fd = stop_pipe[0];
        pfds[0].events = POLLIN;
        pfds[1].fd = sk_tcp_fd(s->listener);
        pfds[1].events = POLLIN;
        if (s->accept_resume_ms != 0) {
            int64_t left = s->accept_resume_ms - now_ms();
            if (left > 0) {
                pfds[1].fd = -1; /* poll() skips negative descriptors */
                timeout = (int)left;
            } else {
                s->accept_resume_ms = 0;
            }
        }
        for (size_t i = 0; i < npoll; i++) {
            struct client *c = s->clients[i];
            pfds[i + 2].fd = sk_tcp_fd(c->conn);
            pfds[i + 2].events = (short)(POLLIN | (c->blocked ? POLLOUT : 0));
            pfds[i + 2].revents = 0;
        }

        ready = poll(pfds, (nfds_t)(npoll + 2), timeout);
        if (ready < 0) {
            if (errno == EINTR)
                continue; /* a signal: the self-pipe tells whether it was ours */
            perror("chat-server: poll");
            status = 1;
            break;
        }
        if (pfds[0].revents != 0)
            break; /* SIGINT or SIGTERM */

        for (size_t i = 0; i < npoll; i++) {
            struct client *c = s->clients[i];
            short ev = pfds[i + 2].revents;
            if (c->gone != NULL)
                continue;
            /* Hang-up and error are read too: recv tells end of stream from reset. */
            if (ev & (POLLIN | POLLHUP | POLLERR))
                on_readable(s, c);
            if (ev & POLLOUT)
                c->blocked = 0;
        }
        if (pfds[1].fd >= 0 && (pfds[1].revents & POLLIN))
            accept_clients(s);

        /* One send per client with something to say, after the whole round has been
         * read: lines from many senders leave in one system call. Departures are
         * announced first, and a send that fails is a departure to announce too. */
        do {
            reap(s);
            for (size_t i = 0; i < s->n; i++) {
                struct client *c = s->clients[i];
                if (c->gone == NULL && c->out_len > 0 && !c->blocked)
                    flush_output(s, c);
            }
        } while (s->n_gone > 0);
    }
    free(pfds);
    return status;
}

static int make_stop_pipe(void)
{
    struct sigaction sa;
    if (pipe(stop_pipe) != 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        int fl = fcntl(stop_pipe[i], F_GETFL);
        if (fl < 0 || fcntl(stop_pipe[i], F_SETFL, fl | O_NONBLOCK) != 0 ||
            fcntl(stop_pipe[i], F_SETFD, FD_CLOEXEC) != 0)
            return -1;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0)
        return -1;
    /* The library never raises SIGPIPE; this covers a closed stderr. */
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

int main(int argc, char **argv)
{
    const char *host = DEFAULT_HOST;
    int port = DEFAULT_PORT, rc, status;
    struct server s;
    sk_addr local;
    char where[SK_ADDR_STRLEN];

    if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc > 3 || (argc > 1 && argv[1][0] == '-') || (argc > 2 && parse_port(argv[2], &port) != 0)) {
        usage(stderr);
        return 2;
    }
    if (argc > 1)
        host = argv[1];

    raise_fd_limit();
    if (make_stop_pipe() != 0) {
        perror("chat-server: signal set-up");
        return 1;
    }

    memset(&s, 0, sizeof s);
    s.batch = malloc(BATCH_CAP);
    s.rbuf = malloc(READ_CHUNK);
    if (s.batch == NULL || s.rbuf == NULL) {
        fprintf(stderr, "chat-server: out of memory\n");
        return 1;
    }
    rc = sk_tcp_listen(&s.listener, host, port, 0); /* 0: the system's largest queue */
    if (rc != SK_OK) {
        fprintf(stderr, "chat-server: cannot listen on %s port %d: %s (%s)\n", host, port,
                sk_errname(rc), sk_strerror(rc));
        return 1;
    }
    if ((rc = sk_tcp_local_addr(s.listener, &local)) != SK_OK ||
        (rc = sk_addr_format(&local, where, sizeof where)) != SK_OK) {
        fprintf(stderr, "chat-server: local address: %s (%s)\n", sk_errname(rc), sk_strerror(rc));
        sk_tcp_close(s.listener);
        return 1;
    }
    fprintf(stderr, "chat-server: listening on %s\n", where);
    fflush(stderr);

    status = main_loop(&s);

    fprintf(stderr, "chat-server: shutting down, closing %zu clients\n", s.n);
    for (size_t i = 0; i < s.n; i++)
        client_free(s.clients[i]);
    free(s.clients);
    sk_tcp_close(s.listener);
    free(s.batch);
    free(s.rbuf);
    close(stop_pipe[0]);
    close(stop_pipe[1]);
    return status;
}
