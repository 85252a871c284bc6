/* The chat server's broadcast engine (see engine.h; the design is in docs/CHAT.md).
 *
 * A line's way: the I/O half reads up to READ_CHUNK bytes of one client into rbuf;
 * its complete lines are copied once, tagged, into this round's block, a
 * reference-counted buffer every queue shares (queue.c). When the block holds
 * ROUND_TARGET bytes, or the batch of events is done, the round ends: each client's
 * queue gets at most two pieces of the block (all but its own lines), and goes out in
 * one gather write. A client above HIGH_WATER that is still draining holds everybody's input
 * (review_backlogs); while it is above, what the system may hold unsent for it is
 * bounded lower (ops->bound_unsent) and what its reader acknowledges counts as
 * progress (probe); clients are dropped, and removed only between batches (reap). */
#define _POSIX_C_SOURCE 200809L

#include "engine.h"
#include "queue.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define DEFAULT_HOST "localhost"
#define DEFAULT_PORT 1234

#define MAX_LINE (64 * 1024)         /* bytes in one line, newline excluded */
#define MAX_QUEUE (1024 * 1024)      /* bytes waiting for one client, at most */
#define HIGH_WATER (256 * 1024)      /* a client this far behind holds the input... */
#define LOW_WATER (64 * 1024)        /* ...until it is no more than this behind */
#define DRAIN_MS 1000                /* "still draining": the system took bytes this recently */
#define HOLD_MS 5000                 /* one backed-up spell holds the input this long at most */
#define STALL_MS 5000                /* above HIGH_WATER with no progress this long: dropped */
#define READ_CHUNK (64 * 1024)       /* one read per ready client per batch: fairness */
#define ROUND_TARGET (256 * 1024)    /* a round ends once its block holds this much */
#define PROBE_MS 200                 /* a client behind with no send this long: ask the system */
#define LINGER_MS 2000               /* a dropped client's graceful close awaits its end of stream this long */
#define STOP_LINGER_MS 1000          /* the same when the server stops */
#define LINGER_BYTES (1024 * 1024)   /* and throws away this much of its input at most */

struct chat_client {
    chat_conn conn;
    size_t idx;                  /* in engine.clients */
    size_t pidx;                 /* in engine.paused, while in_off */
    size_t bidx;                 /* in engine.backed, while backed */
    char name[CHAT_NAME_CAP];    /* "127.0.0.1:50432" */
    size_t name_len;
    char *carry;                 /* the start of a line whose newline has not come yet */
    size_t carry_len, carry_cap;
    struct chat_queue out;       /* what waits to be sent to it */
    uint64_t round;              /* the round that own_* and from refer to */
    size_t from;                 /* it arrived during that round: it gets from here */
    size_t own_start, own_end;   /* its own bytes in that round's block: not for it */
    int64_t progress_ms;         /* when the system last took bytes of its queue */
    int64_t hold_ms;             /* when this backed-up spell began holding input (0: never) */
    int64_t probe_ms;            /* backed: when the system's count was last asked */
    long unacked;                /* backed: what the system then held for it (-1: unknown) */
    unsigned events;             /* what it is watched for (CHAT_IN, CHAT_OUT) */
    unsigned blocked : 1;        /* the socket took less than we had: wait for CHAT_OUT */
    unsigned in_off : 1;         /* CHAT_IN switched off while the input is held */
    unsigned backed : 1;         /* above HIGH_WATER, not yet back below LOW_WATER */
    unsigned no_hold : 1;        /* held the input for HOLD_MS in this spell */
    unsigned said_bye : 1;       /* it closed its sending half: flush once before closing */
    unsigned broken : 1;         /* a read or write failed (reset): close at once */
    unsigned closing : 1;        /* gone, our end of stream sent: waiting for its (retire) */
    size_t cidx;                 /* in engine.closing, while closing */
    int64_t close_by_ms;         /* closing: closed then at the latest */
    size_t discarded;            /* closing: input bytes read and thrown away */
    const char *gone;            /* why it is being dropped; NULL while connected */
};

struct chat_engine {
    const char *prog;
    FILE *log;                   /* where the log lines go: stderr (chat_engine_set_log) */
    const struct chat_ops *ops;
    void *io;
    struct chat_client **clients; /* in no particular order */
    size_t n, cap;
    size_t n_gone;               /* clients marked gone, not yet removed */
    struct chat_client **paused; /* clients whose CHAT_IN is off */
    size_t n_paused, paused_cap;
    struct chat_client **backed; /* clients above HIGH_WATER (see struct chat_client) */
    size_t n_backed, backed_cap;
    int holding;                 /* the input is held: read from nobody */
    uint64_t holds;              /* how many times it was, for the log */
    int64_t held_ms;             /* for how long in all */
    int64_t hold_began_ms;
    struct chat_block *round_blk; /* this round's block, or NULL */
    uint64_t round;
    struct chat_pool pool;
    char *rbuf;                  /* READ_CHUNK bytes to read into */
    struct chat_iov *iov;        /* ops->max_iov pieces for a gather write */
    int64_t now_ms;              /* the clock, read once per wait */
    int64_t accept_resume_ms;    /* the listener rests until then (0: not resting) */
    struct chat_client **closing; /* gone clients in their graceful close (retire) */
    size_t n_closing, closing_cap;
    int stopping;                /* chat_engine_stop: everybody leaves, unannounced */
};

static int64_t clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Grow an array of client pointers to hold one more. */
static int reserve(struct chat_client ***arr, size_t n, size_t *cap)
{
    if (n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        struct chat_client **p = realloc(*arr, ncap * sizeof *p);
        if (p == NULL)
            return -1;
        *arr = p;
        *cap = ncap;
    }
    return 0;
}

/* ---- the round's block ------------------------------------------------------ */

/* Room for `more` bytes at the end of this round's block (it is nobody's yet). */
static char *round_room(struct chat_engine *e, size_t more)
{
    struct chat_block *b = e->round_blk;
    if (b == NULL && (b = e->round_blk = chat_block_new(&e->pool, more)) == NULL)
        return NULL;
    if ((b = chat_block_grow(b, more)) == NULL)
        return NULL;
    e->round_blk = b;
    return b->data + b->len;
}

static size_t round_len(const struct chat_engine *e)
{
    return e->round_blk != NULL ? e->round_blk->len : 0;
}

/* ---- what a client is watched for ------------------------------------------------ */

static void drop(struct chat_engine *e, struct chat_client *c, const char *why)
{
    if (c->gone == NULL) {
        c->gone = why;
        e->n_gone++;
    }
}

/* Watch for what the client needs now: input unless held, output while blocked. */
static void set_events(struct chat_engine *e, struct chat_client *c)
{
    unsigned want = (c->in_off ? 0u : CHAT_IN) | (c->blocked ? CHAT_OUT : 0u);
    const char *why;
    if (want == c->events || c->gone != NULL)
        return;
    if ((why = e->ops->watch(e->io, c->conn, c, want)) != NULL) {
        drop(e, c, why);
        return;
    }
    c->events = want;
}

/* The input is held and this client turned out readable: stop watching its input. */
static void pause_input(struct chat_engine *e, struct chat_client *c)
{
    if (reserve(&e->paused, e->n_paused, &e->paused_cap) != 0) {
        drop(e, c, "out of memory");
        return;
    }
    c->in_off = 1;
    c->pidx = e->n_paused;
    e->paused[e->n_paused++] = c;
    set_events(e, c);
}

static void unlist_paused(struct chat_engine *e, struct chat_client *c)
{
    if (!c->in_off)
        return;
    e->paused[c->pidx] = e->paused[--e->n_paused];
    e->paused[c->pidx]->pidx = c->pidx;
    c->in_off = 0;
}

static void resume_input(struct chat_engine *e)
{
    while (e->n_paused > 0) {
        struct chat_client *c = e->paused[--e->n_paused];
        c->in_off = 0;
        set_events(e, c);
    }
}

/* ---- output ---------------------------------------------------------------------- */

static void unlist_backed(struct chat_engine *e, struct chat_client *c)
{
    e->backed[c->bidx] = e->backed[--e->n_backed];
    e->backed[c->bidx]->bidx = c->bidx;
    c->backed = 0;
}

/* Keep track of the clients above HIGH_WATER; below LOW_WATER a spell ends. */
static void note_backlog(struct chat_engine *e, struct chat_client *c)
{
    if (!c->backed && c->out.bytes >= HIGH_WATER && c->gone == NULL) {
        if (reserve(&e->backed, e->n_backed, &e->backed_cap) != 0) {
            drop(e, c, "out of memory");
            return;
        }
        c->backed = 1;
        c->hold_ms = 0;
        c->no_hold = 0;
        c->bidx = e->n_backed;
        c->probe_ms = e->now_ms;
        c->unacked = -1;
        e->backed[e->n_backed++] = c;
        if (e->ops->bound_unsent != NULL)
            e->ops->bound_unsent(e->io, c->conn, 1);
        fprintf(e->log, "%s: %s is %zu bytes behind\n", e->prog, c->name, c->out.bytes);
    } else if (c->backed && (c->out.bytes < LOW_WATER || c->gone != NULL)) {
        unlist_backed(e, c);
        if (c->gone == NULL && e->ops->bound_unsent != NULL)
            e->ops->bound_unsent(e->io, c->conn, 0);
    }
}

/* Append a piece of a block to a client's queue (one more reference). */
static void enqueue(struct chat_engine *e, struct chat_client *c, struct chat_block *b, size_t off,
                    size_t len)
{
    if (len == 0 || c->gone != NULL)
        return;
    if (c->out.bytes + len > MAX_QUEUE)
        drop(e, c, "not reading: output queue full");
    else if (chat_queue_push(&c->out, b, off, len) != 0)
        drop(e, c, "out of memory");
}

/* Send what the client's socket takes now: one gather write of the queue's pieces
 * (more only when the socket took more than max_iov pieces' worth), never a wait. */
static void flush_output(struct chat_engine *e, struct chat_client *c)
{
    while (c->out.n > 0 && c->gone == NULL) {
        size_t cnt = chat_queue_gather(&c->out, e->iov, e->ops->max_iov), sent = 0;
        const char *why = "SK_EOS";
        enum chat_io r = e->ops->send(e->io, c->conn, e->iov, cnt, &sent, &why);
        if (sent > 0) {
            c->progress_ms = e->now_ms;
            c->unacked = -1; /* the system's count grew: a new baseline at the next probe */
            chat_queue_consume(&e->pool, &c->out, sent);
        }
        if (r == CHAT_IO_AGAIN) {
            c->blocked = 1; /* the socket is full: wait until it is writable */
            break;
        }
        if (r != CHAT_IO_DONE) {
            c->broken = 1;
            drop(e, c, why); /* reset, or broken pipe */
            return;
        }
        c->blocked = 0;
    }
    if (c->out.n == 0)
        c->blocked = 0;
    set_events(e, c);
    note_backlog(e, c);
}

/* ---- rounds ---------------------------------------------------------------------- */

/* The round ends: every client but the authors gets its pieces of the block, and
 * every queue that is not blocked goes out. */
static void end_round(struct chat_engine *e)
{
    struct chat_block *b = e->round_blk;
    if (b == NULL)
        return;
    e->round_blk = NULL;
    if (b->len > 0) {
        for (size_t i = 0; i < e->n; i++) {
            struct chat_client *c = e->clients[i];
            size_t from = 0;
            if (c->gone != NULL)
                continue;
            if (c->round == e->round) {
                from = c->from;
                if (c->own_end > c->own_start) {
                    enqueue(e, c, b, from, c->own_start - from);
                    from = c->own_end;
                }
            }
            enqueue(e, c, b, from, b->len - from);
            if (!c->blocked && c->out.n > 0)
                flush_output(e, c);
            else
                note_backlog(e, c);
        }
    }
    e->round++;
    chat_block_release(&e->pool, b);
}

/* About to add bytes of client c's own (its lines, its join): they must be one range
 * of this round's block, so a second range starts a new round. */
static void own_begin(struct chat_engine *e, struct chat_client *c)
{
    if (c->round == e->round && c->own_end > c->own_start && c->own_end != round_len(e))
        end_round(e);
    if (c->round != e->round) {
        c->round = e->round;
        c->from = 0;
        c->own_start = c->own_end = 0;
    }
    if (c->own_end == c->own_start)
        c->own_start = c->own_end = round_len(e);
}

static void own_end(struct chat_engine *e, struct chat_client *c)
{
    c->own_end = round_len(e);
}

/* Append "[name] " + a + b to the round block (a line, its newline included in b). */
static int add_line(struct chat_engine *e, const struct chat_client *c, const char *a, size_t alen,
                    const char *b, size_t blen)
{
    char *p = round_room(e, c->name_len + 3 + alen + blen);
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
    e->round_blk->len += c->name_len + 3 + alen + blen;
    return 0;
}

/* "* name what\n", for everyone but c. */
static void announce(struct chat_engine *e, struct chat_client *c, const char *what)
{
    char line[CHAT_NAME_CAP + 32];
    int n = snprintf(line, sizeof line, "* %s %s\n", c->name, what);
    char *p;
    own_begin(e, c);
    if ((p = round_room(e, (size_t)n)) == NULL) {
        fprintf(e->log, "%s: out of memory: a notice is lost\n", e->prog);
        return;
    }
    memcpy(p, line, (size_t)n);
    e->round_blk->len += (size_t)n;
    own_end(e, c);
}

/* ---- input ----------------------------------------------------------------------- */

/* Keep the start of a line until its newline comes. */
static int keep_partial(struct chat_client *c, const char *p, size_t len)
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

static void forget_partial(struct chat_client *c)
{
    c->carry_len = 0;
    if (c->carry_cap > 4096) {
        free(c->carry);
        c->carry = NULL;
        c->carry_cap = 0;
    }
}

/* Pass on the whole lines of n bytes just read; keep the start of the last one. */
static void take_lines(struct chat_engine *e, struct chat_client *c, size_t n)
{
    const char *p = e->rbuf, *end = e->rbuf + n;
    if (c->carry_len > 0) {
        /* The end of the line begun earlier, if it is here. */
        const char *nl = memchr(p, '\n', n);
        if (nl == NULL) {
            if (c->carry_len + n > MAX_LINE)
                drop(e, c, "line too long");
            else if (keep_partial(c, p, n) != 0)
                drop(e, c, "out of memory");
            return;
        }
        if (c->carry_len + (size_t)(nl - p) > MAX_LINE) {
            drop(e, c, "line too long");
            return;
        }
        if (add_line(e, c, c->carry, c->carry_len, p, (size_t)(nl + 1 - p)) != 0) {
            drop(e, c, "out of memory");
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
                drop(e, c, "line too long");
            else if (keep_partial(c, p, (size_t)(end - p)) != 0)
                drop(e, c, "out of memory");
            return;
        }
        if ((size_t)(nl - p) > MAX_LINE) {
            drop(e, c, "line too long"); /* the lines before it still go out, in order */
            return;
        }
        if (add_line(e, c, NULL, 0, p, (size_t)(nl + 1 - p)) != 0) {
            drop(e, c, "out of memory");
            return;
        }
        p = nl + 1;
    }
}

/* The client's socket is readable: take what is there and pass on its whole lines. */
static void on_readable(struct chat_engine *e, struct chat_client *c)
{
    size_t n = 0;
    const char *why = "SK_EOS";
    enum chat_io r = e->ops->recv(e->io, c->conn, e->rbuf, READ_CHUNK, &n, &why);

    if (r == CHAT_IO_AGAIN)
        return; /* nothing after all */
    if (r == CHAT_IO_CLOSED) {
        /* It said goodbye. A last line without its newline still counts. */
        if (c->carry_len > 0) {
            own_begin(e, c);
            if (add_line(e, c, c->carry, c->carry_len, "\n", 1) != 0)
                fprintf(e->log, "%s: out of memory: a line is lost\n", e->prog);
            own_end(e, c);
            forget_partial(c);
        }
        c->said_bye = 1;
        drop(e, c, "closed the connection");
        return;
    }
    if (r != CHAT_IO_DONE) {
        c->broken = 1;
        drop(e, c, why); /* SK_ECONNRESET: it vanished */
        return;
    }
    own_begin(e, c);
    take_lines(e, c, n);
    own_end(e, c);
}

/* ---- clients come and go --------------------------------------------------------- */

static void client_free(struct chat_engine *e, struct chat_client *c)
{
    chat_queue_clear(&e->pool, &c->out);
    e->ops->close(e->io, c->conn);
    free(c->carry);
    free(c);
}

void chat_join(struct chat_engine *e, chat_conn conn, const char *name)
{
    struct chat_client *c = NULL;
    struct chat_block *w = NULL;
    size_t others;
    int n;

    if (reserve(&e->clients, e->n, &e->cap) != 0 || (c = calloc(1, sizeof *c)) == NULL ||
        (w = malloc(sizeof *w + CHAT_NAME_CAP + 64)) == NULL) {
        fprintf(e->log, "%s: out of memory: turning a client away\n", e->prog);
        free(c);
        e->ops->close(e->io, conn);
        return;
    }
    c->conn = conn;
    snprintf(c->name, sizeof c->name, "%s", name);
    c->name_len = strlen(c->name);
    c->progress_ms = e->now_ms;
    c->round = e->round;
    c->from = c->own_start = c->own_end = round_len(e); /* what came before is not for it */
    if (e->ops->attach(e->io, conn, c) != 0) {
        free(w);
        free(c);
        e->ops->close(e->io, conn);
        return;
    }
    c->events = CHAT_IN;

    /* Its welcome: a block of its own, first in its queue. */
    others = e->n - e->n_gone;
    n = snprintf(w->data, CHAT_NAME_CAP + 64, "* welcome %s, %zu other%s here\n", c->name, others,
                 others == 1 ? "" : "s");
    w->refs = 1;
    w->len = w->cap = (size_t)n;
    enqueue(e, c, w, 0, w->len);
    chat_block_release(&e->pool, w);

    c->idx = e->n;
    e->clients[e->n++] = c;
    announce(e, c, "joined");
    fprintf(e->log, "%s: %s joined (%zu connected)\n", e->prog, c->name, e->n - e->n_gone);
}

/* ---- graceful close ------------------------------------------------------------ */

/* A client that is gone leaves at once when its connection already ended (its end of
 * stream came, or a reset). Otherwise its close is graceful: our end of stream now,
 * after what it was sent, then its input read and thrown away until its own end of
 * stream, for LINGER_MS and LINGER_BYTES at most. Closing with its input unread would
 * send a reset, and a reset makes the client's system throw away what it received and
 * has not read yet: the last lines sent to it (sk_tcp_close_graceful does the same
 * for a blocking program). */
static void retire(struct chat_engine *e, struct chat_client *c)
{
    if (c->said_bye || c->broken || reserve(&e->closing, e->n_closing, &e->closing_cap) != 0 ||
        e->ops->shutdown(e->io, c->conn) != 0 || e->ops->watch(e->io, c->conn, c, CHAT_IN) != NULL) {
        client_free(e, c);
        return;
    }
    chat_queue_clear(&e->pool, &c->out);
    free(c->carry);
    c->carry = NULL;
    c->carry_len = c->carry_cap = 0;
    c->closing = 1;
    c->close_by_ms = e->now_ms + (e->stopping ? STOP_LINGER_MS : LINGER_MS);
    c->cidx = e->n_closing;
    e->closing[e->n_closing++] = c;
}

static void closed(struct chat_engine *e, struct chat_client *c)
{
    e->closing[c->cidx] = e->closing[--e->n_closing];
    e->closing[c->cidx]->cidx = c->cidx;
    client_free(e, c);
}

/* A closing client is readable: throw its input away until its end of stream. */
static void linger_read(struct chat_engine *e, struct chat_client *c)
{
    for (int i = 0; i < 4; i++) { /* a bounded share per batch, as for any client */
        size_t n = 0;
        const char *why;
        enum chat_io r = e->ops->recv(e->io, c->conn, e->rbuf, READ_CHUNK, &n, &why);
        if (r == CHAT_IO_AGAIN)
            return;
        if (r != CHAT_IO_DONE || (c->discarded += n) > LINGER_BYTES) {
            closed(e, c); /* its end of stream (or a reset, or too much): done */
            return;
        }
    }
}

/* Close the graceful closes whose time is up; the next deadline among the others. */
static int64_t expire_closing(struct chat_engine *e)
{
    int64_t next = -1;
    for (size_t i = 0; i < e->n_closing;) {
        struct chat_client *c = e->closing[i];
        if (e->now_ms >= c->close_by_ms) {
            closed(e, c); /* moves the last one here */
            continue;
        }
        if (next < 0 || c->close_by_ms < next)
            next = c->close_by_ms;
        i++;
    }
    return next;
}

/* Remove the clients marked gone and tell the others; telling them (and the last
 * round's sends) can drop another client, which is removed the same way. */
static void reap(struct chat_engine *e)
{
    while (e->n_gone > 0) {
        for (size_t i = 0; i < e->n;) {
            struct chat_client *c = e->clients[i];
            if (c->gone == NULL) {
                i++;
                continue;
            }
            e->clients[i] = e->clients[--e->n]; /* order does not matter */
            e->clients[i]->idx = i;
            e->n_gone--;
            if (c->said_bye && c->out.n > 0) {
                /* A last try; the system delivers what it took. A send that fails
                 * drops it again (broken): it is not in clients any more, so that
                 * drop must not count among those left to remove, or this loop
                 * would never end. */
                const char *why = c->gone;
                c->gone = NULL;
                flush_output(e, c);
                if (c->gone != NULL)
                    e->n_gone--;
                c->gone = why;
            }
            unlist_paused(e, c);
            if (c->backed)
                unlist_backed(e, c);
            if (!e->stopping) {
                fprintf(e->log, "%s: %s left: %s (%zu connected)\n", e->prog, c->name, c->gone,
                        e->n - e->n_gone);
                announce(e, c, "left");
            }
            retire(e, c);
        }
        end_round(e);
    }
}

/* ---- flow control ---------------------------------------------------------------- */

/* A client behind that the system took nothing from for PROBE_MS: has its reader
 * taken some of what the system holds for it? What the system took before the client
 * fell behind can be most of a send buffer (megabytes), which the socket must work
 * through before it says "writable" again; a reader that works through it is draining. */
static void probe(struct chat_engine *e, struct chat_client *c)
{
    long now_unacked;
    if (e->ops->unacked == NULL || e->now_ms - c->progress_ms < PROBE_MS || e->now_ms - c->probe_ms < PROBE_MS)
        return;
    now_unacked = e->ops->unacked(e->io, c->conn);
    if (now_unacked >= 0 && c->unacked >= 0 && now_unacked < c->unacked)
        c->progress_ms = e->now_ms;
    c->unacked = now_unacked;
    c->probe_ms = e->now_ms;
}

/* Decide whether the input is held (docs/CHAT.md), drop the clients that stalled,
 * and say when this must be looked at again (-1: no deadline). */
static int64_t review_backlogs(struct chat_engine *e)
{
    int64_t next = -1, now = e->now_ms;
    int hold = 0;

    for (size_t i = 0; i < e->n_backed; i++) {
        struct chat_client *c = e->backed[i];
        int64_t idle = now - c->progress_ms, at;
        if (c->gone != NULL)
            continue;
        probe(e, c);
        idle = now - c->progress_ms;
        if (idle >= STALL_MS) {
            drop(e, c, "not reading: no progress for 5 s");
            continue;
        }
        at = c->progress_ms + STALL_MS;
        if (!c->no_hold && idle < DRAIN_MS) {
            if (c->hold_ms == 0)
                c->hold_ms = now;
            if (now - c->hold_ms >= HOLD_MS) {
                c->no_hold = 1; /* too slow to hold the others any longer */
                fprintf(e->log, "%s: %s: %zu bytes behind after holding the input %d ms\n", e->prog,
                        c->name, c->out.bytes, HOLD_MS);
            } else {
                hold = 1;
                if (c->progress_ms + DRAIN_MS < at)
                    at = c->progress_ms + DRAIN_MS;
                if (c->hold_ms + HOLD_MS < at)
                    at = c->hold_ms + HOLD_MS;
            }
        }
        if (e->ops->unacked != NULL) {
            int64_t ask = (c->probe_ms > c->progress_ms ? c->probe_ms : c->progress_ms) + PROBE_MS;
            if (ask < at)
                at = ask;
        }
        if (next < 0 || at < next)
            next = at;
    }
    if (hold && !e->holding) {
        e->holding = 1;
        e->holds++;
        e->hold_began_ms = now;
    } else if (!hold && e->holding) {
        e->holding = 0;
        e->held_ms += now - e->hold_began_ms;
        resume_input(e);
    }
    return next;
}

/* ---- the loop's steps, called by the I/O half -------------------------------------- */

int chat_wait_timeout(struct chat_engine *e)
{
    int64_t next = review_backlogs(e);
    while (e->n_gone > 0) {
        reap(e);
        next = review_backlogs(e);
    }
    if (e->accept_resume_ms != 0 && (next < 0 || e->accept_resume_ms < next))
        next = e->accept_resume_ms;
    {
        int64_t at = expire_closing(e);
        if (at >= 0 && (next < 0 || at < next))
            next = at;
    }
    if (next < 0)
        return -1;
    return next > e->now_ms ? (int)(next - e->now_ms) : 0;
}

void chat_tick(struct chat_engine *e)
{
    e->now_ms = clock_ms();
}

void chat_event(struct chat_engine *e, struct chat_client *c, unsigned events)
{
    if (c->closing) {
        linger_read(e, c);
        return;
    }
    if (c->gone != NULL)
        return; /* marked during this batch; freed only after it */
    if (events & CHAT_OUT) {
        c->blocked = 0;
        flush_output(e, c);
    }
    /* Hang-up and error are read too: the read tells end of stream from reset. */
    if (events & (CHAT_IN | CHAT_HUP)) {
        if (e->holding && !(events & CHAT_HUP)) {
            if (!c->in_off)
                pause_input(e, c);
        } else {
            on_readable(e, c);
        }
    }
    if (round_len(e) >= ROUND_TARGET) {
        end_round(e);
        review_backlogs(e); /* hold the input as soon as someone falls behind */
    }
}

void chat_batch_done(struct chat_engine *e)
{
    end_round(e);
    reap(e);
}

void chat_rest_listener(struct chat_engine *e, int resting)
{
    e->accept_resume_ms = resting ? e->now_ms + CHAT_ACCEPT_PAUSE_MS : 0;
}

int chat_listener_rested(const struct chat_engine *e)
{
    return e->accept_resume_ms != 0 && e->now_ms >= e->accept_resume_ms;
}

/* ---- start and end --------------------------------------------------------------- */

struct chat_engine *chat_engine_new(const char *prog, const struct chat_ops *ops, void *io)
{
    struct chat_engine *e = calloc(1, sizeof *e);
    if (e == NULL)
        return NULL;
    e->prog = prog;
    e->log = stderr;
    e->ops = ops;
    e->io = io;
    e->now_ms = clock_ms();
    e->rbuf = malloc(READ_CHUNK);
    e->iov = malloc(ops->max_iov * sizeof *e->iov);
    if (e->rbuf == NULL || e->iov == NULL) {
        free(e->rbuf);
        free(e->iov);
        free(e);
        return NULL;
    }
    return e;
}

void chat_engine_set_log(struct chat_engine *e, FILE *log)
{
    e->log = log;
}

void chat_engine_stop(struct chat_engine *e)
{
    fprintf(e->log, "%s: shutting down: %zu clients get our end of stream\n", e->prog, e->n - e->n_gone);
    e->stopping = 1;
    for (size_t i = 0; i < e->n; i++)
        drop(e, e->clients[i], "the server is shutting down");
    reap(e);
}

size_t chat_engine_closing(const struct chat_engine *e)
{
    return e->n_closing;
}

void chat_engine_close(struct chat_engine *e)
{
    if (e->holding)
        e->held_ms += e->now_ms - e->hold_began_ms;
    fprintf(e->log, "%s: input held %llu times, %lld ms in all\n", e->prog, (unsigned long long)e->holds,
            (long long)e->held_ms);
    fprintf(e->log, "%s: shutting down, closing %zu clients\n", e->prog, e->n);
    for (size_t i = 0; i < e->n; i++)
        client_free(e, e->clients[i]);
    for (size_t i = 0; i < e->n_closing; i++)
        client_free(e, e->closing[i]);
    if (e->round_blk != NULL)
        chat_block_release(&e->pool, e->round_blk);
    chat_pool_empty(&e->pool);
    free(e->clients);
    free(e->paused);
    free(e->backed);
    free(e->closing);
    free(e->rbuf);
    free(e->iov);
    free(e);
}

/* ---- the command line ------------------------------------------------------------ */

static void usage(const char *prog, FILE *to)
{
    fprintf(to, "usage: %s [host [port]]   (default: %s %d; port 0 picks a free one)\n"
                "       %s unix:PATH          (a Unix socket; unix:@name: abstract)\n", prog,
            DEFAULT_HOST, DEFAULT_PORT, prog);
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

int chat_parse_args(const char *prog, int argc, char **argv, const char **host, int *port)
{
    *host = DEFAULT_HOST;
    *port = DEFAULT_PORT;
    if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(prog, stdout);
        return 0;
    }
    if (argc > 3 || (argc > 1 && argv[1][0] == '-') || (argc > 2 && parse_port(argv[2], port) != 0)) {
        usage(prog, stderr);
        return 2;
    }
    if (argc > 1)
        *host = argv[1];
    return -1;
}

void chat_raise_fd_limit(const char *prog)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
        return;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        fprintf(stderr, "%s: setrlimit(RLIMIT_NOFILE): %s\n", prog, strerror(errno));
}
