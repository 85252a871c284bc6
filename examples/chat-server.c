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
 * One thread and a poller. A chat server spends its time waiting on many sockets at
 * once, and each event needs only a little work: one thread that asks an sk_poller
 * which endpoints are ready and does exactly that work needs no locks and no stacks
 * per client, and holds thousands of clients in a few hundred bytes each. It never
 * blocks: every transfer has timeout_ms == 0, so it makes one non-blocking system
 * call and returns at once (sk_tcp_recv gives SK_ETIMEDOUT when nothing has arrived,
 * sk_tcp_send_allv sends what fits now and says how much, sk_tcp_accept gives
 * SK_ETIMEDOUT when nobody waits).
 *
 * How a line travels, with as little copying and as few system calls as we can:
 *   - one sk_tcp_recv per ready client takes up to 64 KiB into one large buffer, and
 *     its complete lines are split in place and copied once, tagged, into the
 *     "round block": a reference-counted buffer that every client shares;
 *   - when the round block holds enough (or the poller's batch of events is done) the
 *     round ends: every client's output queue gets at most two pieces of the block,
 *     everything except its own lines (a reference, no copy), and each client's queue
 *     goes out with one gather write (sk_tcp_send_allv) of all its pieces;
 *   - a block is freed when the last queue that holds a piece of it has sent it.
 * A client accepted during a round gets only what follows its arrival; its welcome is
 * a small block of its own, queued first.
 *
 * Rules that keep one client from hurting the others:
 *   - a line longer than MAX_LINE drops its sender, after the complete lines it sent
 *     before it (the server never holds more of one line);
 *   - output waiting for one client never passes MAX_QUEUE (1 MiB): a client it would
 *     overflow is dropped, so nobody waits for it indefinitely;
 *   - a client that vanishes (reset, broken connection) is dropped like one that
 *     leaves; one that closes its sending half gets one last send of its queue;
 *   - when accept runs out of descriptors (SK_EMFILE) the listener rests for a moment
 *     instead of waking the poller in a busy loop.
 *
 * Flow control: a slow reader that keeps reading is not dropped. A client whose queue
 * passes HIGH_WATER (256 KiB) "holds" the input while it is still draining: as long
 * as the system took some of its queue within the last DRAIN_MS (1 s), the server
 * reads from nobody (the clients' registrations lose SK_POLL_IN, lazily: only those
 * that turn out to be readable), so no sender can push it further behind; its
 * queue drains, and when it falls below LOW_WATER (64 KiB) reading resumes. Every
 * sender waits: the simplest fair policy, since every line goes to everybody. What
 * bounds the wait:
 *   - a client that stops draining (nothing taken for DRAIN_MS) holds nothing: the
 *     others' input resumes, and it is dropped when its queue would pass MAX_QUEUE;
 *   - a client may hold the input for at most HOLD_MS (5 s) in one backed-up spell
 *     (from passing HIGH_WATER to falling below LOW_WATER): one that reads a trickle,
 *     just enough to look alive, then holds nothing and meets MAX_QUEUE like any other;
 *   - a client above HIGH_WATER that takes nothing for STALL_MS (5 s) is dropped even
 *     when the room is quiet, so a dead reader does not keep its backlog forever.
 * So one stalled reader pauses everybody for at most DRAIN_MS, once; a reader that
 * keeps up with at least part of the traffic pauses the senders as often as it needs.
 * "Took some of its queue" must mean the reader read: left alone, the system would
 * hold megabytes per connection (Linux grows a socket's send buffer up to the
 * tcp_wmem maximum, 4 MiB by default) and say "writable" only after draining a third
 * of that, which a slow reader can take longer than DRAIN_MS to do. TCP_NOTSENT_LOWAT bounds what the system holds unsent
 * to UNSENT_LOWAT, so every 128 KiB or so that the reader takes shows as progress,
 * and what the server holds for a client is counted in its queue, where it is
 * bounded and seen. The library has no call for that option: it is set through
 * sk_tcp_fd, as the header allows for options the library lacks.
 *
 * Clients are closed (and removed from the poller) only once a batch of events has
 * been handled; the loop skips events whose `events` is 0 all the same, which is how
 * the poller marks an event of an endpoint closed earlier in the batch.
 * SIGINT and SIGTERM end the loop through sk_poller_wake, the one poller call a
 * signal handler may make; everything is then closed and the exit status is 0.
 * tests/bench/chat_raw_epoll.c is this program's twin written on raw epoll without
 * the library (same algorithm, same behaviour), for the benchmark. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include <sockkit.h>

#define DEFAULT_HOST "localhost"
#define DEFAULT_PORT 1234

#define MAX_LINE (64 * 1024)         /* bytes in one line, newline excluded */
#define MAX_QUEUE (1024 * 1024)      /* bytes waiting for one client, at most */
#define HIGH_WATER (256 * 1024)      /* a client this far behind holds the input... */
#define LOW_WATER (64 * 1024)        /* ...until it is no more than this behind */
#define DRAIN_MS 1000                /* "still draining": the system took bytes this recently */
#define HOLD_MS 5000                 /* one backed-up spell holds the input this long at most */
#define STALL_MS 5000                /* above HIGH_WATER with no progress this long: dropped */
#define UNSENT_LOWAT (128 * 1024)    /* unsent bytes the system holds for one client */
#define READ_CHUNK (64 * 1024)       /* one recv per ready client per batch: fairness */
#define ROUND_TARGET (128 * 1024)    /* a round ends once its block holds this much */
#define BLOCK_CAP (256 * 1024)       /* usual size of a round block (it grows if need be) */
#define BLOCK_POOL 16                /* free round blocks kept for reuse */
#define SEND_IOV 64                  /* pieces per gather write */
#define MAX_EVENTS 256               /* events per wait (the poller's own limit) */
#define ACCEPT_BURST 64              /* connections taken per listener event */
#define ACCEPT_PAUSE_MS 100          /* rest for the listener after SK_EMFILE */

/* Bytes shared by every queue that holds a piece of them. */
struct block {
    size_t refs;
    size_t len, cap;
    char data[];
};

/* A range of a block waiting in one client's queue. */
struct piece {
    struct block *b;
    size_t off, len;
};

struct client {
    sk_tcp *conn;
    size_t idx;                  /* in server.clients */
    size_t pidx;                 /* in server.paused, while in_off */
    size_t bidx;                 /* in server.backed, while backed */
    char name[SK_ADDR_STRLEN];   /* "127.0.0.1:50432" */
    size_t name_len;
    char *carry;                 /* the start of a line whose newline has not come yet */
    size_t carry_len, carry_cap;
    struct piece *q;             /* ring of pieces to send: q[q_head .. +q_n) modulo q_cap */
    size_t q_head, q_n, q_cap;
    size_t q_bytes;              /* bytes in those pieces */
    uint64_t round;              /* the round that own_* and from refer to */
    size_t from;                 /* it arrived during that round: it gets from here */
    size_t own_start, own_end;   /* its own bytes in that round's block: not for it */
    int64_t progress_ms;         /* when the system last took bytes of its queue */
    int64_t hold_ms;             /* when this backed-up spell began holding input (0: never) */
    unsigned events;             /* what it is registered for */
    unsigned blocked : 1;        /* the socket took less than we had: wait for SK_POLL_OUT */
    unsigned in_off : 1;         /* SK_POLL_IN switched off while the input is held */
    unsigned backed : 1;         /* above HIGH_WATER, not yet back below LOW_WATER */
    unsigned no_hold : 1;        /* held the input for HOLD_MS in this spell */
    unsigned said_bye : 1;       /* it closed its sending half: flush once before closing */
    const char *gone;            /* why it is being dropped; NULL while connected */
};

struct server {
    sk_poller *poller;
    sk_tcp *listener;
    struct client **clients;     /* in no particular order */
    size_t n, cap;
    size_t n_gone;               /* clients marked gone, not yet removed */
    struct client **paused;      /* clients whose SK_POLL_IN is off */
    size_t n_paused, paused_cap;
    struct client **backed;      /* clients above HIGH_WATER (see struct client) */
    size_t n_backed, backed_cap;
    int holding;                 /* the input is held: read from nobody */
    uint64_t holds;              /* how many times it was, for the log */
    int64_t held_ms;             /* for how long in all */
    int64_t hold_began_ms;
    struct block *round_blk;     /* this round's block, or NULL */
    uint64_t round;
    struct block *pool[BLOCK_POOL];
    size_t n_pool;
    char *rbuf;                  /* READ_CHUNK bytes for recv */
    sk_event evs[MAX_EVENTS];    /* the poller marks cancelled events here until the next
                                    wait, so it lives as long as the endpoints */
    int64_t now_ms;              /* the clock, read once per wait */
    int64_t accept_resume_ms;    /* the listener rests until then (0: not resting) */
};

static sk_poller *volatile stop_poller;
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    int err = errno;
    sk_poller *p = stop_poller;
    (void)sig;
    stop_requested = 1;
    if (p != NULL)
        sk_poller_wake(p); /* one write to an eventfd: never blocks */
    errno = err;
}

static int64_t clock_ms(void)
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

/* Grow an array of client pointers to hold one more. */
static int reserve(struct client ***arr, size_t n, size_t *cap)
{
    if (n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        struct client **p = realloc(*arr, ncap * sizeof *p);
        if (p == NULL)
            return -1;
        *arr = p;
        *cap = ncap;
    }
    return 0;
}

/* What the system holds unsent for this client stays near UNSENT_LOWAT (see the top
 * of the file). Where the option does not exist, flow control still works, coarser. */
static void bound_unsent(sk_tcp *conn)
{
#ifdef TCP_NOTSENT_LOWAT
    int v = UNSENT_LOWAT;
    if (setsockopt(sk_tcp_fd(conn), IPPROTO_TCP, TCP_NOTSENT_LOWAT, &v, sizeof v) != 0)
        perror("chat-server: setsockopt(TCP_NOTSENT_LOWAT)");
#else
    (void)conn;
#endif
}

/* ---- blocks ------------------------------------------------------------------ */

static struct block *block_new(size_t cap)
{
    struct block *b;
    if (cap <= BLOCK_CAP) {
        cap = BLOCK_CAP;
    }
    b = malloc(sizeof *b + cap);
    if (b == NULL)
        return NULL;
    b->refs = 1;
    b->len = 0;
    b->cap = cap;
    return b;
}

static void block_release(struct server *s, struct block *b)
{
    if (--b->refs > 0)
        return;
    if (b->cap == BLOCK_CAP && s->n_pool < BLOCK_POOL)
        s->pool[s->n_pool++] = b;
    else
        free(b);
}

/* Room for `more` bytes at the end of this round's block (it is nobody's yet). */
static char *round_room(struct server *s, size_t more)
{
    struct block *b = s->round_blk;
    if (b == NULL) {
        if (s->n_pool > 0 && more <= BLOCK_CAP) {
            b = s->pool[--s->n_pool];
            b->refs = 1;
            b->len = 0;
        } else if ((b = block_new(more)) == NULL) {
            return NULL;
        }
        s->round_blk = b;
    }
    if (b->len + more > b->cap) {
        size_t cap = b->cap * 2;
        struct block *nb;
        while (cap < b->len + more)
            cap *= 2;
        if ((nb = realloc(b, sizeof *b + cap)) == NULL)
            return NULL;
        nb->cap = cap;
        s->round_blk = b = nb;
    }
    return b->data + b->len;
}

static size_t round_len(const struct server *s)
{
    return s->round_blk != NULL ? s->round_blk->len : 0;
}

/* ---- registration -------------------------------------------------------------- */

static void drop(struct server *s, struct client *c, const char *why)
{
    if (c->gone == NULL) {
        c->gone = why;
        s->n_gone++;
    }
}

/* Register what the client needs now: input unless held, output while blocked. */
static void set_events(struct server *s, struct client *c)
{
    unsigned want = (c->in_off ? 0u : SK_POLL_IN) | (c->blocked ? SK_POLL_OUT : 0u);
    int rc;
    if (want == c->events || c->gone != NULL)
        return;
    if ((rc = sk_poller_mod_tcp(s->poller, c->conn, want, c)) != SK_OK) {
        drop(s, c, sk_errname(rc));
        return;
    }
    c->events = want;
}

/* The input is held and this client turned out readable: stop watching its input. */
static void pause_input(struct server *s, struct client *c)
{
    if (reserve(&s->paused, s->n_paused, &s->paused_cap) != 0) {
        drop(s, c, "out of memory");
        return;
    }
    c->in_off = 1;
    c->pidx = s->n_paused;
    s->paused[s->n_paused++] = c;
    set_events(s, c);
}

static void unlist_paused(struct server *s, struct client *c)
{
    if (!c->in_off)
        return;
    s->paused[c->pidx] = s->paused[--s->n_paused];
    s->paused[c->pidx]->pidx = c->pidx;
    c->in_off = 0;
}

static void resume_input(struct server *s)
{
    while (s->n_paused > 0) {
        struct client *c = s->paused[--s->n_paused];
        c->in_off = 0;
        set_events(s, c);
    }
}

/* ---- output ---------------------------------------------------------------------- */

/* Keep track of the clients above HIGH_WATER; below LOW_WATER a spell ends. */
static void note_backlog(struct server *s, struct client *c)
{
    if (!c->backed && c->q_bytes >= HIGH_WATER && c->gone == NULL) {
        if (reserve(&s->backed, s->n_backed, &s->backed_cap) != 0) {
            drop(s, c, "out of memory");
            return;
        }
        c->backed = 1;
        c->hold_ms = 0;
        c->no_hold = 0;
        c->bidx = s->n_backed;
        s->backed[s->n_backed++] = c;
        fprintf(stderr, "chat-server: %s is %zu bytes behind\n", c->name, c->q_bytes);
    } else if (c->backed && (c->q_bytes < LOW_WATER || c->gone != NULL)) {
        s->backed[c->bidx] = s->backed[--s->n_backed];
        s->backed[c->bidx]->bidx = c->bidx;
        c->backed = 0;
    }
}

/* Append a piece of a block to a client's queue (one more reference). */
static void enqueue(struct server *s, struct client *c, struct block *b, size_t off, size_t len)
{
    if (len == 0 || c->gone != NULL)
        return;
    if (c->q_bytes + len > MAX_QUEUE) {
        drop(s, c, "not reading: output queue full");
        return;
    }
    if (c->q_n == c->q_cap) {
        size_t cap = c->q_cap ? c->q_cap * 2 : 4;
        struct piece *q = malloc(cap * sizeof *q);
        if (q == NULL) {
            drop(s, c, "out of memory");
            return;
        }
        for (size_t i = 0; i < c->q_n; i++)
            q[i] = c->q[(c->q_head + i) % c->q_cap];
        free(c->q);
        c->q = q;
        c->q_cap = cap;
        c->q_head = 0;
    }
    c->q[(c->q_head + c->q_n) % c->q_cap] = (struct piece){b, off, len};
    c->q_n++;
    c->q_bytes += len;
    b->refs++;
}

/* The system took `sent` bytes from the front of the queue. */
static void consume(struct server *s, struct client *c, size_t sent)
{
    c->q_bytes -= sent;
    while (sent > 0) {
        struct piece *p = &c->q[c->q_head];
        if (sent < p->len) {
            p->off += sent;
            p->len -= sent;
            break;
        }
        sent -= p->len;
        block_release(s, p->b);
        c->q_head = (c->q_head + 1) % c->q_cap;
        c->q_n--;
    }
    if (c->q_n == 0) {
        /* An idle client holds no queue: thousands of them cost little. */
        free(c->q);
        c->q = NULL;
        c->q_head = c->q_cap = 0;
    }
}

/* Send what the client's socket takes now: one gather write of the queue's pieces
 * (more only when the socket took more than SEND_IOV pieces' worth), never a wait. */
static void flush_output(struct server *s, struct client *c)
{
    while (c->q_n > 0 && c->gone == NULL) {
        sk_iovec iov[SEND_IOV];
        size_t cnt = 0, sent = 0;
        int rc;
        for (size_t i = 0; i < c->q_n && cnt < SEND_IOV; i++, cnt++) {
            const struct piece *p = &c->q[(c->q_head + i) % c->q_cap];
            iov[cnt].base = p->b->data + p->off;
            iov[cnt].len = p->len;
        }
        rc = sk_tcp_send_allv(c->conn, iov, cnt, &sent, 0);
        if (sent > 0) {
            c->progress_ms = s->now_ms;
            consume(s, c, sent);
        }
        if (rc == SK_ETIMEDOUT) {
            c->blocked = 1; /* the socket is full: wait until it is writable */
            break;
        }
        if (rc != SK_OK) {
            drop(s, c, sk_errname(rc)); /* reset, or broken pipe */
            return;
        }
        c->blocked = 0;
    }
    if (c->q_n == 0)
        c->blocked = 0;
    set_events(s, c);
    note_backlog(s, c);
}

/* ---- rounds ---------------------------------------------------------------------- */

/* The round ends: every client but the authors gets its pieces of the block, and
 * every queue that is not blocked goes out. */
static void end_round(struct server *s)
{
    struct block *b = s->round_blk;
    if (b == NULL)
        return;
    s->round_blk = NULL;
    if (b->len > 0) {
        for (size_t i = 0; i < s->n; i++) {
            struct client *c = s->clients[i];
            size_t from = 0;
            if (c->gone != NULL)
                continue;
            if (c->round == s->round) {
                from = c->from;
                if (c->own_end > c->own_start) {
                    enqueue(s, c, b, from, c->own_start - from);
                    from = c->own_end;
                }
            }
            enqueue(s, c, b, from, b->len - from);
            if (!c->blocked && c->q_n > 0)
                flush_output(s, c);
            else
                note_backlog(s, c);
        }
    }
    s->round++;
    block_release(s, b);
}

/* About to add bytes of client c's own (its lines, its join): they must be one range
 * of this round's block, so a second range starts a new round. */
static void own_begin(struct server *s, struct client *c)
{
    if (c->round == s->round && c->own_end > c->own_start && c->own_end != round_len(s))
        end_round(s);
    if (c->round != s->round) {
        c->round = s->round;
        c->from = 0;
        c->own_start = c->own_end = 0;
    }
    if (c->own_end == c->own_start)
        c->own_start = c->own_end = round_len(s);
}

static void own_end(struct server *s, struct client *c)
{
    c->own_end = round_len(s);
}

/* Append "[name] " + a + b to the round block (a line, its newline included in b). */
static int add_line(struct server *s, const struct client *c, const char *a, size_t alen, const char *b,
                    size_t blen)
{
    char *p = round_room(s, c->name_len + 3 + alen + blen);
    if (p == NULL)
        return -1;
    *p++ = '[';
    memcpy(p, c->name, c->name_len);
    p += c->name_len;
    *p++ = ']';
    *p++ = ' ';
    if (alen > 0) {
        memcpy(p, a, alen);
        p += alen;
    }
    memcpy(p, b, blen);
    s->round_blk->len += c->name_len + 3 + alen + blen;
    return 0;
}

/* "* name what\n", for everyone but c. */
static void announce(struct server *s, struct client *c, const char *what)
{
    char line[SK_ADDR_STRLEN + 32];
    int n = snprintf(line, sizeof line, "* %s %s\n", c->name, what);
    char *p;
    own_begin(s, c);
    if ((p = round_room(s, (size_t)n)) == NULL) {
        fprintf(stderr, "chat-server: out of memory: a notice is lost\n");
        return;
    }
    memcpy(p, line, (size_t)n);
    s->round_blk->len += (size_t)n;
    own_end(s, c);
}

/* ---- input ----------------------------------------------------------------------- */

/* Keep the start of a line until its newline comes. */
static int keep_partial(struct client *c, const char *p, size_t len)
{
    if (c->carry_len + len > c->carry_cap) {
        size_t cap = c->carry_cap ? c->carry_cap : 256;
        char *q;
        while (cap < c->carry_len + len)
            cap *= 2;
        if ((q = realloc(c->carry, cap)) == NULL)
            return -1;
        c->carry = q;
        c->carry_cap = cap;
    }
    memcpy(c->carry + c->carry_len, p, len);
    c->carry_len += len;
    return 0;
}

static void forget_partial(struct client *c)
{
    c->carry_len = 0;
    if (c->carry_cap > 4096) {
        free(c->carry);
        c->carry = NULL;
        c->carry_cap = 0;
    }
}

/* The client's socket is readable: take what is there and pass on its whole lines. */
static void on_readable(struct server *s, struct client *c)
{
    size_t n;
    const char *p, *end;
    int rc = sk_tcp_recv(c->conn, s->rbuf, READ_CHUNK, &n, 0);

    if (rc == SK_ETIMEDOUT)
        return; /* nothing after all */
    if (rc == SK_ECLOSED) {
        /* It said goodbye. A last line without its newline still counts. */
        if (c->carry_len > 0) {
            own_begin(s, c);
            if (add_line(s, c, c->carry, c->carry_len, "\n", 1) != 0)
                fprintf(stderr, "chat-server: out of memory: a line is lost\n");
            own_end(s, c);
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

    own_begin(s, c);
    p = s->rbuf;
    end = s->rbuf + n;
    if (c->carry_len > 0) {
        /* The end of the line begun earlier, if it is here. */
        const char *nl = memchr(p, '\n', n);
        if (nl == NULL) {
            if (c->carry_len + n > MAX_LINE)
                drop(s, c, "line too long");
            else if (keep_partial(c, p, n) != 0)
                drop(s, c, "out of memory");
            own_end(s, c);
            return;
        }
        if (c->carry_len + (size_t)(nl - p) > MAX_LINE) {
            drop(s, c, "line too long");
            own_end(s, c);
            return;
        }
        if (add_line(s, c, c->carry, c->carry_len, p, (size_t)(nl + 1 - p)) != 0) {
            drop(s, c, "out of memory");
            own_end(s, c);
            return;
        }
        forget_partial(c);
        p = nl + 1;
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL) {
            /* No newline yet: the line is at least this long. */
            if ((size_t)(end - p) > MAX_LINE)
                drop(s, c, "line too long");
            else if (keep_partial(c, p, (size_t)(end - p)) != 0)
                drop(s, c, "out of memory");
            break;
        }
        if ((size_t)(nl - p) > MAX_LINE) {
            drop(s, c, "line too long"); /* the lines before it still go out, in order */
            break;
        }
        if (add_line(s, c, NULL, 0, p, (size_t)(nl + 1 - p)) != 0) {
            drop(s, c, "out of memory");
            break;
        }
        p = nl + 1;
    }
    own_end(s, c);
}

/* ---- clients come and go --------------------------------------------------------- */

static void client_free(struct server *s, struct client *c)
{
    while (c->q_n > 0) {
        block_release(s, c->q[c->q_head].b);
        c->q_head = (c->q_head + 1) % c->q_cap;
        c->q_n--;
    }
    sk_tcp_close(c->conn); /* removes it from the poller too */
    free(c->q);
    free(c->carry);
    free(c);
}

static void add_client(struct server *s, sk_tcp *conn)
{
    struct client *c;
    struct block *w;
    sk_addr peer;
    size_t others;
    int rc, n;

    if (reserve(&s->clients, s->n, &s->cap) != 0) {
        fprintf(stderr, "chat-server: out of memory: turning a client away\n");
        sk_tcp_close(conn);
        return;
    }
    if ((rc = sk_tcp_peer_addr(conn, &peer)) != SK_OK) {
        /* It reset before we got to it: nothing to announce. */
        sk_tcp_close(conn);
        return;
    }
    if ((c = calloc(1, sizeof *c)) == NULL || (w = malloc(sizeof *w + SK_ADDR_STRLEN + 64)) == NULL) {
        fprintf(stderr, "chat-server: out of memory: turning a client away\n");
        free(c);
        sk_tcp_close(conn);
        return;
    }
    c->conn = conn;
    bound_unsent(conn);
    sk_addr_format(&peer, c->name, sizeof c->name);
    c->name_len = strlen(c->name);
    c->progress_ms = s->now_ms;
    c->round = s->round;
    c->from = c->own_start = c->own_end = round_len(s); /* what came before is not for it */
    if ((rc = sk_poller_add_tcp(s->poller, conn, SK_POLL_IN, c)) != SK_OK) {
        fprintf(stderr, "chat-server: poller: %s (%s): turning a client away\n", sk_errname(rc),
                sk_strerror(rc));
        free(w);
        free(c);
        sk_tcp_close(conn);
        return;
    }
    c->events = SK_POLL_IN;

    /* Its welcome: a block of its own, first in its queue. */
    others = s->n - s->n_gone;
    n = snprintf(w->data, SK_ADDR_STRLEN + 64, "* welcome %s, %zu other%s here\n", c->name, others,
                 others == 1 ? "" : "s");
    w->refs = 1;
    w->len = w->cap = (size_t)n;
    enqueue(s, c, w, 0, w->len);
    block_release(s, w);

    c->idx = s->n;
    s->clients[s->n++] = c;
    announce(s, c, "joined");
    fprintf(stderr, "chat-server: %s joined (%zu connected)\n", c->name, s->n - s->n_gone);
}

/* The listener is readable: take the waiting connections, a bounded number per event. */
static void accept_clients(struct server *s)
{
    for (int i = 0; i < ACCEPT_BURST; i++) {
        sk_tcp *conn;
        int rc = sk_tcp_accept(s->listener, &conn, 0);
        if (rc == SK_ETIMEDOUT)
            return; /* nobody else is waiting */
        if (rc != SK_OK) {
            /* SK_EMFILE above all: the connection stays queued, so the poller would
             * report the listener again at once. Rest it briefly; clients leaving
             * free descriptors meanwhile. */
            fprintf(stderr, "chat-server: accept: %s (%s); pausing %d ms\n", sk_errname(rc),
                    sk_strerror(rc), ACCEPT_PAUSE_MS);
            if (sk_poller_mod_tcp(s->poller, s->listener, 0, NULL) == SK_OK)
                s->accept_resume_ms = s->now_ms + ACCEPT_PAUSE_MS;
            return;
        }
        add_client(s, conn);
    }
}

/* Remove the clients marked gone and tell the others; telling them (and the last
 * round's sends) can drop another client, which is removed the same way. */
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
            s->clients[i]->idx = i;
            s->n_gone--;
            if (c->said_bye && c->q_n > 0) {
                /* A last try; the system delivers what it took. */
                const char *why = c->gone;
                c->gone = NULL;
                flush_output(s, c);
                c->gone = why;
            }
            unlist_paused(s, c);
            if (c->backed) {
                s->backed[c->bidx] = s->backed[--s->n_backed];
                s->backed[c->bidx]->bidx = c->bidx;
                c->backed = 0;
            }
            fprintf(stderr, "chat-server: %s left: %s (%zu connected)\n", c->name, c->gone,
                    s->n - s->n_gone);
            announce(s, c, "left");
            client_free(s, c);
        }
        end_round(s);
    }
}

/* Decide whether the input is held (see the top of the file), drop the clients that
 * stalled, and say when this must be looked at again (-1: no deadline). */
static int64_t review_backlogs(struct server *s)
{
    int64_t next = -1, now = s->now_ms;
    int hold = 0;

    for (size_t i = 0; i < s->n_backed; i++) {
        struct client *c = s->backed[i];
        int64_t idle = now - c->progress_ms, at;
        if (c->gone != NULL)
            continue;
        if (idle >= STALL_MS) {
            drop(s, c, "not reading: no progress for 5 s");
            continue;
        }
        at = c->progress_ms + STALL_MS;
        if (!c->no_hold && idle < DRAIN_MS) {
            if (c->hold_ms == 0)
                c->hold_ms = now;
            if (now - c->hold_ms >= HOLD_MS) {
                c->no_hold = 1; /* too slow to hold the others any longer */
                fprintf(stderr, "chat-server: %s: %zu bytes behind after holding the input %d ms\n",
                        c->name, c->q_bytes, HOLD_MS);
            } else {
                hold = 1;
                if (c->progress_ms + DRAIN_MS < at)
                    at = c->progress_ms + DRAIN_MS;
                if (c->hold_ms + HOLD_MS < at)
                    at = c->hold_ms + HOLD_MS;
            }
        }
        if (next < 0 || at < next)
            next = at;
    }
    if (hold && !s->holding) {
        s->holding = 1;
        s->holds++;
        s->hold_began_ms = now;
    } else if (!hold && s->holding) {
        s->holding = 0;
        s->held_ms += now - s->hold_began_ms;
        resume_input(s);
    }
    return next;
}

static int main_loop(struct server *s)
{
    sk_event *evs = s->evs;

    for (;;) {
        size_t count;
        int timeout = SK_FOREVER, rc;
        int64_t next = review_backlogs(s);

        if (s->n_gone > 0) {
            reap(s);
            continue;
        }
        if (s->accept_resume_ms != 0 && (next < 0 || s->accept_resume_ms < next))
            next = s->accept_resume_ms;
        if (next >= 0)
            timeout = next > s->now_ms ? (int)(next - s->now_ms) : 0;

        rc = sk_poller_wait(s->poller, evs, MAX_EVENTS, &count, timeout);
        s->now_ms = clock_ms();
        if (rc == SK_ETIMEDOUT)
            count = 0;
        else if (rc != SK_OK) {
            fprintf(stderr, "chat-server: poller: %s (%s)\n", sk_errname(rc), sk_strerror(rc));
            return 1;
        }
        if (s->accept_resume_ms != 0 && s->now_ms >= s->accept_resume_ms) {
            if (sk_poller_mod_tcp(s->poller, s->listener, SK_POLL_IN, NULL) == SK_OK)
                s->accept_resume_ms = 0;
        }

        for (size_t i = 0; i < count; i++) {
            const sk_event *e = &evs[i];
            struct client *c = e->data;
            if (e->events == 0)
                continue; /* cancelled: its endpoint was closed */
            if (e->events & SK_POLL_WAKE) {
                if (stop_requested)
                    return 0; /* SIGINT or SIGTERM */
                continue;
            }
            if (e->tcp == s->listener) {
                accept_clients(s);
                continue;
            }
            if (c->gone != NULL)
                continue;
            if (e->events & SK_POLL_OUT) {
                c->blocked = 0;
                flush_output(s, c);
            }
            /* Hang-up and error are read too: recv tells end of stream from reset. */
            if (e->events & (SK_POLL_IN | SK_POLL_HUP | SK_POLL_ERR)) {
                if (s->holding && !(e->events & (SK_POLL_HUP | SK_POLL_ERR))) {
                    if (!c->in_off)
                        pause_input(s, c);
                } else {
                    on_readable(s, c);
                }
            }
            if (round_len(s) >= ROUND_TARGET) {
                end_round(s);
                review_backlogs(s); /* hold the input as soon as someone falls behind */
            }
        }
        end_round(s);
        reap(s);
        if (stop_requested)
            return 0;
    }
}

int main(int argc, char **argv)
{
    const char *host = DEFAULT_HOST;
    int port = DEFAULT_PORT, rc, status;
    struct server s;
    struct sigaction sa;
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
    memset(&s, 0, sizeof s);
    s.now_ms = clock_ms();
    if ((s.rbuf = malloc(READ_CHUNK)) == NULL) {
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

    rc = sk_tcp_listen(&s.listener, host, port, 0); /* 0: the system's largest queue */
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

    if (s.holding)
        s.held_ms += s.now_ms - s.hold_began_ms;
    fprintf(stderr, "chat-server: input held %llu times, %lld ms in all\n", (unsigned long long)s.holds,
            (long long)s.held_ms);
    fprintf(stderr, "chat-server: shutting down, closing %zu clients\n", s.n);
    /* The poller first: the endpoints then close without touching it. */
    stop_poller = NULL;
    sk_poller_close(s.poller);
    for (size_t i = 0; i < s.n; i++)
        client_free(&s, s.clients[i]);
    if (s.round_blk != NULL)
        block_release(&s, s.round_blk);
    while (s.n_pool > 0)
        free(s.pool[--s.n_pool]);
    free(s.clients);
    free(s.paused);
    free(s.backed);
    sk_tcp_close(s.listener);
    free(s.rbuf);
    return status;
}
