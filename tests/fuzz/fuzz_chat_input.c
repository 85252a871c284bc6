/* Fuzz harness: the chat server's input path (examples/chat/engine.c and queue.c)
 * against a model of what every client must receive.
 *
 * The engine makes no socket call: it asks its I/O half through struct chat_ops, so
 * the harness is that I/O half, with fake connections whose input, output room,
 * end of stream and reset the input chooses, and it drives the engine's loop as
 * examples/chat/server.c does (chat_wait_timeout, chat_tick, one chat_event per
 * ready connection, level-triggered as the poller is, chat_batch_done). Up to four
 * clients at once, joining, leaving and joining again.
 *
 * The model sits at the I/O boundary: whatever the engine reads from a client, the
 * harness splits into lines itself (a line ends at '\n'; NUL and CR are bytes like
 * any other) and appends "[name] line\n" to the expected stream of every other
 * client that has joined, in the order the engine read them; "* name joined\n" at
 * chat_join and "* name left\n" when the engine retires a client (its shutdown or
 * close), "* welcome name, K others here\n" first for the newcomer. Checked:
 *   - every byte the engine sends a client is the next byte of its expected stream
 *     (nothing lost, repeated, reordered, or sent to its own author);
 *   - at the end, with every socket writable, each client still connected has
 *     received exactly its expected stream: every complete line once, in order;
 *   - a line longer than 64 KiB (newline excluded, however it was cut) drops its
 *     sender after the lines before it, as docs/CHAT.md says; an end of stream or a
 *     reset drops it too (a last line without its newline still goes out, with one);
 *     a send that fails drops its client too; a dropped client is retired within the
 *     batch, no other client is ever dropped, nothing is read from a dropped client
 *     before its graceful close (except in the event whose send failed: chat_event
 *     reads after it flushed, and passes that input on), nothing is sent to it after
 *     its shutdown;
 *   - the ops are only called on live connections, with the registration data the
 *     engine gave, gather writes of 1 to max_iov pieces; every connection is closed
 *     exactly once by chat_engine_close; no leak (LeakSanitizer, Valgrind).
 *
 * Input layout: [read limit] then operations, one byte each (kind in bits 0-2, slot in
 * bits 3-4, 0x20: no batch after it, bits 6-7: which ready connection goes first) with
 * their arguments: 0 join; 1 feed [n] + n bytes; 2 fill [byte] [hi] [lo]: hi*256+lo+1
 * copies of byte, no newline; 3 end of stream; 4 reset; 5 output room [r] (r*64 bytes,
 * 255: unbounded); 6 the next send fails (broken pipe); 7 nothing (a batch).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "fuzz.h"

#define SLOTS 4
#define MAX_CONNS 32
#define MAX_IOV 8
#define LINE_MAX_BYTES (64 * 1024) /* the engine's MAX_LINE, as docs/CHAT.md gives it */
#define FILL_BUDGET (640 * 1024)  /* per input: keeps every queue under the engine's 1 MiB */
#define INPUT_MAX 8192            /* bytes of input used (bounds the lines, hence the queues) */
#define ROOM_ALL ((size_t)-1)

typedef struct bytes {
    uint8_t *p;
    size_t len, cap;
} bytes;

typedef struct conn {
    int attached, closed, shut;  /* the engine's view: registered, closed, shut down */
    int retired;                 /* shut or closed by the engine ("left") */
    struct chat_client *c;       /* its registration data */
    unsigned want;               /* what the engine watches it for */
    bytes in;                    /* what the client sent */
    size_t in_off;               /* how much of it the engine read */
    int eof, reset, send_fails;
    bytes carry;                 /* model: the start of its current line */
    int dropped;                 /* model: the engine must drop it */
    int send_broke;              /* a send failed: dropped too, but its input of the same
                                    event may still be read (chat_event reads after it
                                    flushed), and is passed on */
    size_t room;                 /* what its socket takes now */
    bytes expect;                /* model: what it must receive, in order */
    size_t got;                  /* how much of it it received */
    int subscribed;
    char name[32];
} conn;

static conn conns[MAX_CONNS];
static size_t n_conns, read_limit;
static int stopping;
static FILE *devnull;

static void put(bytes *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        FUZZ_CHECK(b->p != NULL, "out of memory");
        b->cap = cap;
    }
    if (n > 0 && p != NULL) /* NULL: room only */
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

static conn *live(chat_conn cc, const char *op)
{
    FUZZ_CHECK(cc.fd >= 0 && (size_t)cc.fd < n_conns, "%s on an unknown connection %d", op, cc.fd);
    FUZZ_CHECK(conns[cc.fd].attached && !conns[cc.fd].closed, "%s on connection %d, closed", op, cc.fd);
    return &conns[cc.fd];
}

/* A message for every client that has joined, but its author. */
static void broadcast(const conn *author, const void *msg, size_t len)
{
    for (size_t i = 0; i < n_conns; i++)
        if (&conns[i] != author && conns[i].subscribed && !conns[i].retired)
            put(&conns[i].expect, msg, len);
}

static void emit_line(conn *k, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    bytes m = {0};
    put(&m, "[", 1);
    put(&m, k->name, strlen(k->name));
    put(&m, "] ", 2);
    put(&m, a, alen);
    put(&m, b, blen);
    put(&m, "\n", 1);
    broadcast(k, m.p, m.len);
    free(m.p);
}

/* The model of one client's line splitting, on the bytes the engine read. */
static void model_read(conn *k, const uint8_t *p, size_t n)
{
    FUZZ_CHECK(!k->dropped || k->shut, "%s: read after it was to be dropped, before its graceful close", k->name);
    if (k->shut)
        return; /* its graceful close: thrown away */
    while (n > 0) {
        const uint8_t *nl = memchr(p, '\n', n);
        size_t seg = nl != NULL ? (size_t)(nl - p) : n;
        if (k->carry.len + seg > LINE_MAX_BYTES) {
            k->dropped = 1; /* line too long */
            return;
        }
        if (nl == NULL) {
            put(&k->carry, p, n);
            return;
        }
        emit_line(k, k->carry.p, k->carry.len, p, seg);
        k->carry.len = 0;
        p = nl + 1;
        n -= seg + 1;
    }
}

/* ---- the I/O half ---------------------------------------------------------------- */

static int op_attach(void *io, chat_conn cc, struct chat_client *c)
{
    conn *k;
    (void)io;
    FUZZ_CHECK(cc.fd >= 0 && (size_t)cc.fd < n_conns && !conns[cc.fd].attached, "attach of %d", cc.fd);
    k = &conns[cc.fd];
    FUZZ_CHECK(c != NULL, "attach without data");
    k->attached = 1;
    k->c = c;
    k->want = CHAT_IN;
    return 0;
}

static const char *op_watch(void *io, chat_conn cc, struct chat_client *c, unsigned want)
{
    conn *k = live(cc, "watch");
    (void)io;
    FUZZ_CHECK(c == k->c, "%s: watch with other data", k->name);
    FUZZ_CHECK((want & ~(CHAT_IN | CHAT_OUT)) == 0, "%s: watch for %#x", k->name, want);
    k->want = want;
    return NULL;
}

static enum chat_io op_recv(void *io, chat_conn cc, char *buf, size_t cap, size_t *got, const char **why)
{
    conn *k = live(cc, "recv");
    (void)io;
    *got = 0;
    FUZZ_CHECK(cap > 0, "%s: a read of 0 bytes", k->name);
    if (k->reset) {
        if (!k->shut)
            k->dropped = 1;
        *why = "SK_ECONNRESET";
        return CHAT_IO_FAILED;
    }
    if (k->in_off < k->in.len) {
        size_t n = k->in.len - k->in_off;
        if (n > cap)
            n = cap;
        if (read_limit && n > read_limit)
            n = read_limit;
        memcpy(buf, k->in.p + k->in_off, n);
        k->in_off += n;
        *got = n;
        model_read(k, (const uint8_t *)buf, n);
        return CHAT_IO_DONE;
    }
    if (k->eof) {
        FUZZ_CHECK(!k->dropped || k->shut, "%s: read after it was to be dropped", k->name);
        if (!k->shut) {
            if (k->carry.len > 0)
                emit_line(k, k->carry.p, k->carry.len, NULL, 0);
            k->carry.len = 0;
            k->dropped = 1;
        }
        return CHAT_IO_CLOSED;
    }
    return CHAT_IO_AGAIN;
}

static enum chat_io op_send(void *io, chat_conn cc, const struct chat_iov *iov, size_t n, size_t *sent,
                            const char **why)
{
    conn *k = live(cc, "send");
    size_t total = 0, take;
    (void)io;
    *sent = 0;
    FUZZ_CHECK(!k->shut, "%s: a send after its shutdown", k->name);
    FUZZ_CHECK(n >= 1 && n <= MAX_IOV, "%s: a gather write of %zu pieces", k->name, n);
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(iov[i].base != NULL && iov[i].len > 0, "%s: an empty piece", k->name);
        total += iov[i].len;
    }
    if (k->send_fails) {
        k->send_broke = 1;
        *why = "SK_ECONNRESET";
        return CHAT_IO_FAILED;
    }
    take = total < k->room ? total : k->room;
    FUZZ_CHECK(k->got + take <= k->expect.len, "%s: sent %zu bytes more than it should ever receive (%zu)",
               k->name, k->got + take - k->expect.len, k->expect.len);
    for (size_t i = 0, left = take; i < n && left > 0; i++) {
        size_t m = iov[i].len < left ? iov[i].len : left;
        FUZZ_CHECK(memcmp(iov[i].base, k->expect.p + k->got, m) == 0,
                   "%s: received other bytes than expected at offset %zu: \"%.*s\" instead of \"%.*s\"", k->name,
                   k->got, (int)(m < 60 ? m : 60), iov[i].base, (int)(m < 60 ? m : 60), k->expect.p + k->got);
        k->got += m;
        left -= m;
    }
    if (k->room != ROOM_ALL)
        k->room -= take;
    *sent = take;
    return take == total ? CHAT_IO_DONE : CHAT_IO_AGAIN;
}

static void op_bound_unsent(void *io, chat_conn cc, int behind)
{
    (void)io;
    (void)behind;
    (void)live(cc, "bound_unsent");
}

static long op_unacked(void *io, chat_conn cc)
{
    (void)io;
    (void)live(cc, "unacked");
    return -1;
}

/* The engine retires a client: the others are told it left. */
static void retired(conn *k)
{
    if (k->retired)
        return;
    k->retired = 1;
    if (stopping)
        return;
    FUZZ_CHECK(k->dropped || k->send_broke, "%s was dropped; the model keeps it", k->name);
    {
        char msg[64];
        int n = snprintf(msg, sizeof msg, "* %s left\n", k->name);
        broadcast(k, msg, (size_t)n);
    }
}

static int op_shutdown(void *io, chat_conn cc)
{
    conn *k = live(cc, "shutdown");
    (void)io;
    FUZZ_CHECK(!k->shut, "%s: shut down twice", k->name);
    retired(k);
    k->shut = 1;
    return 0;
}

static void op_close(void *io, chat_conn cc)
{
    conn *k = live(cc, "close");
    (void)io;
    retired(k);
    k->closed = 1;
}

static const struct chat_ops ops = {MAX_IOV, op_attach, op_watch, op_recv, op_send, op_bound_unsent,
                                    op_unacked, op_shutdown, op_close};

/* ---- the loop -------------------------------------------------------------------- */

static int has_input(const conn *k)
{
    return k->in_off < k->in.len || k->eof || k->reset;
}

/* One turn of the server's loop: the events a level-triggered poller reports now. */
static void batch(struct chat_engine *e, unsigned rot)
{
    size_t ready[MAX_CONNS], n = 0;
    unsigned ev[MAX_CONNS];
    (void)chat_wait_timeout(e);
    chat_tick(e);
    for (size_t i = 0; i < n_conns; i++) {
        size_t j = (i + rot) % n_conns;
        conn *k = &conns[j];
        unsigned x = 0;
        if (!k->attached || k->closed)
            continue;
        if ((k->want & CHAT_IN) && has_input(k))
            x |= CHAT_IN;
        if ((k->want & CHAT_OUT) && k->room > 0)
            x |= CHAT_OUT;
        if (k->reset)
            x |= CHAT_HUP;
        if (x) {
            ready[n] = j;
            ev[n++] = x;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (!conns[ready[i]].closed) /* the poller blanks events of endpoints closed in the batch */
            chat_event(e, conns[ready[i]].c, ev[i]);
    chat_batch_done(e);
    for (size_t i = 0; i < n_conns; i++)
        FUZZ_CHECK(!(conns[i].dropped || conns[i].send_broke) || conns[i].retired || !conns[i].attached,
                   "%s is to be dropped and still there after the batch", conns[i].name);
}

static void join(struct chat_engine *e, size_t *slot)
{
    conn *k;
    size_t others = 0;
    char msg[96];
    int n;
    if (*slot != SIZE_MAX && !conns[*slot].closed)
        return; /* still there */
    if (n_conns == MAX_CONNS)
        return;
    for (size_t i = 0; i < n_conns; i++)
        others += conns[i].attached && !conns[i].retired;
    k = &conns[n_conns];
    {
        /* The buffers stay from one input to the next (fewer fresh pages to fault in). */
        bytes in = k->in, carry = k->carry, expect = k->expect;
        memset(k, 0, sizeof *k);
        k->in = in;
        k->carry = carry;
        k->expect = expect;
        k->in.len = k->carry.len = k->expect.len = 0;
    }
    snprintf(k->name, sizeof k->name, "127.0.0.1:%zu", 50000 + n_conns);
    k->room = ROOM_ALL;
    *slot = n_conns++;
    n = snprintf(msg, sizeof msg, "* welcome %s, %zu other%s here\n", k->name, others, others == 1 ? "" : "s");
    put(&k->expect, msg, (size_t)n);
    chat_join(e, (chat_conn){.fd = (int)*slot}, k->name);
    FUZZ_CHECK(k->attached && !k->closed, "%s was turned away", k->name);
    n = snprintf(msg, sizeof msg, "* %s joined\n", k->name);
    broadcast(k, msg, (size_t)n);
    k->subscribed = 1;
}

/* Everything writable and every input read: the engine must settle. */
static void settle(struct chat_engine *e)
{
    for (size_t i = 0; i < n_conns; i++)
        conns[i].room = ROOM_ALL;
    read_limit = 0; /* whole reads: what is left goes in a few batches */
    for (int round = 0;; round++) {
        int busy = 0;
        batch(e, 0); /* at least one: an operation may have left its batch to the next */
        for (size_t i = 0; i < n_conns; i++) {
            const conn *k = &conns[i];
            if (k->attached && !k->closed && ((k->want & CHAT_OUT) || (!k->retired && has_input(k))))
                busy = 1;
        }
        if (!busy)
            return;
        FUZZ_CHECK(round < 400, "the engine does not settle");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct chat_engine *e;
    size_t slots[SLOTS], at = 1, fill_left = FILL_BUDGET;

    if (size < 1)
        return 0;
    if (size > INPUT_MAX)
        size = INPUT_MAX;
    if (devnull == NULL)
        FUZZ_CHECK((devnull = fopen("/dev/null", "w")) != NULL, "/dev/null");
    n_conns = 0;
    stopping = 0;
    read_limit = (size_t)data[0] * 64;
    for (int s = 0; s < SLOTS; s++)
        slots[s] = SIZE_MAX;
    FUZZ_CHECK((e = chat_engine_new("fuzz_chat_input", &ops, NULL)) != NULL, "chat_engine_new");
    chat_engine_set_log(e, devnull);

    while (at < size) {
        unsigned op = data[at++], kind = op & 7, slot = (op >> 3) & 3;
        conn *k = slots[slot] != SIZE_MAX ? &conns[slots[slot]] : NULL;
        if (k != NULL && k->closed)
            k = NULL;
        switch (kind) {
        case 0:
            join(e, &slots[slot]);
            break;
        case 1: {
            size_t n = at < size ? data[at++] : 0;
            if (n > size - at)
                n = size - at;
            if (k != NULL && !k->eof && !k->reset)
                put(&k->in, data + at, n);
            at += n;
            break;
        }
        case 2: {
            uint8_t b = at < size ? data[at] : 'x';
            size_t n = 1;
            if (at + 2 < size)
                n += (size_t)data[at + 1] << 8 | data[at + 2];
            at += 3;
            if (b == '\n')
                b = 'x'; /* newlines come from feeds only, so the lines stay few */
            if (n > fill_left)
                n = fill_left;
            fill_left -= n;
            if (k != NULL && !k->eof && !k->reset && n > 0) {
                size_t from = k->in.len;
                put(&k->in, NULL, n);
                memset(k->in.p + from, b, n);
            }
            break;
        }
        case 3:
            if (k != NULL)
                k->eof = 1;
            break;
        case 4:
            if (k != NULL) {
                k->reset = 1;
                k->in.len = k->in_off; /* a reset loses what was not read */
            }
            break;
        case 5: {
            unsigned r = at < size ? data[at++] : 255;
            if (k != NULL)
                k->room = r == 255 ? ROOM_ALL : (size_t)r * 64;
            break;
        }
        case 6:
            if (k != NULL)
                k->send_fails = 1;
            break;
        default:
            break;
        }
        if (!(op & 0x20))
            batch(e, op >> 6);
    }

    settle(e);
    for (size_t i = 0; i < n_conns; i++) {
        const conn *k = &conns[i];
        if (k->attached && !k->retired)
            FUZZ_CHECK(k->got == k->expect.len, "%s received %zu bytes of %zu", k->name, k->got, k->expect.len);
    }

    /* The server stops: everybody's end of stream comes, and the graceful closes end. */
    stopping = 1;
    for (size_t i = 0; i < n_conns; i++)
        conns[i].eof = 1;
    chat_engine_stop(e);
    for (int round = 0; chat_engine_closing(e) > 0; round++) {
        FUZZ_CHECK(round < 50, "%zu graceful closes do not end", chat_engine_closing(e));
        batch(e, 0);
    }
    chat_engine_close(e);
    for (size_t i = 0; i < n_conns; i++) {
        conn *k = &conns[i];
        FUZZ_CHECK(k->closed, "%s was never closed", k->name);
    }
    return 0;
}
