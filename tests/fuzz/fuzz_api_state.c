/* Fuzz harness: a stateful API fuzzer. The input chooses a bounded sequence of calls
 * (at most 64) on a few endpoints: three stream connections (a Unix stream pair, or a
 * TCP pair over 127.0.0.1, connected and accepted), two UDP endpoints on 127.0.0.1 and
 * a poller; the calls are sk_tcp_send, send_all, recv, recv_exact, recv_until,
 * shutdown, cancel, close, close_graceful, abort, the poller's add, mod, del and wait,
 * and sk_udp_sendto / recvfrom (and sk_udp_cancel), with budgets of 0 or 1 ms.
 *
 * Checked, whatever the timing (only what holds however fast the system is):
 *   - every code is SK_OK or one of enum sk_error, and one the call may give in the
 *     endpoint's state: SK_ECANCELED exactly when the endpoint was cancelled (sticky:
 *     every later transfer, shutdown and graceful close on it gives SK_ECANCELED);
 *     a send after our own SK_SHUT_WR is SK_ECLOSED (or SK_ECONNRESET once the
 *     connection may have been reset); SK_ECONNRESET only once the peer closed,
 *     aborted or was cancelled, or either end shut its receiving half; SK_ECLOSED on a
 *     receive only once the peer closed, shut down or was cancelled, or we shut our
 *     receiving half; a bad @c how is SK_EINVAL;
 *   - byte counts never exceed what was asked, SK_OK means all of it for send_all and
 *     recv_exact and at least one byte for send and recv, a record from recv_until
 *     ends at its delimiter and has no other, SK_ETOOLONG fills the buffer;
 *   - the bytes received on each direction of a connection are exactly the next bytes
 *     of what was reported sent on it (a prefix of the sent stream, in order);
 *   - a datagram received is one that was sent, later than the last one received, from
 *     the other endpoint's address, whole (or cut to the buffer with SK_ETRUNCATED);
 *   - the poller: adding a registered endpoint or removing one that is not is
 *     SK_EINVAL, the others SK_OK; a wait's events name registered endpoints only, IN
 *     and OUT only when watched for, SK_POLL_CANCELED only for a cancelled endpoint;
 *     closing an endpoint takes it out of its poller;
 *   - no crash, no sanitizer report, and no descriptor leaked: /proc/self/fd counts
 *     the same before and after each input.
 *
 * TCP pairs leave TIME_WAIT sockets when closed in order, so a process makes at most
 * MAX_TCP_PAIRS of them (later inputs get Unix pairs instead): the fuzzer must not
 * use up the machine's ephemeral ports.
 *
 * Input layout: [kinds of the three connections: bit i set = TCP] then operations of
 * two bytes each, [op] [argument]: op bits 0-3 the call, bits 4-5 the connection (or
 * the UDP endpoint), bit 6 which end, bit 7 a budget of 1 ms instead of 0.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sockkit.h>

#include "fuzz.h"

#define N_PAIRS 3
#define MAX_OPS 64
#define MAX_WAIT_MS 4          /* budget of all the waits of one input, in ms */
#define MAX_TCP_PAIRS 20000    /* per process */
#define STREAM_CAP (1 << 20)   /* bytes one direction may carry in one input */

static sk_tcp *tcp_listener, *unix_listener;
static int tcp_port;
static char unix_name[64];
static long tcp_pairs;

/* One end of a stream connection. */
typedef struct end {
    sk_tcp *t;                  /* NULL once closed */
    int closed, aborted, cancelled, shut_rd, shut_wr;
    int registered;             /* with the poller */
    unsigned watched;
    /* What it sent (the direction towards its peer) and what its peer received. */
    uint8_t *sent;
    size_t n_sent, n_taken, cap;
} end;

typedef struct pair {
    int open, tcp;
    end e[2];
} pair;

typedef struct dgram {
    size_t len;
    uint32_t seq;
} dgram;

typedef struct uend {
    sk_udp *u;
    sk_addr addr;
    int cancelled, registered;
    unsigned watched;
    dgram sent[MAX_OPS];        /* datagrams it sent to the other */
    size_t n_sent, next;        /* the next of the other's datagrams it may receive */
} uend;

static pair pairs[N_PAIRS];
static uend uends[2];
static int have_udp;
static sk_poller *poller;
static int wait_left;

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;
    FUZZ_CHECK(d != NULL, "/proc/self/fd");
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1;
}

static int known_code(int rc)
{
    return rc <= 0 && rc >= SK_ECANCELED;
}

static int budget(unsigned op)
{
    if ((op & 0x80) && wait_left > 0) {
        wait_left--;
        return 1;
    }
    return 0;
}

/* Byte i of what an end sends: every value, delimiters included, at known places. */
static uint8_t pattern(size_t i, int side)
{
    return (uint8_t)(i * 7 + (i >> 8) + (size_t)side * 101);
}

static void setup(void)
{
    sk_addr a;
    if (tcp_listener != NULL)
        return;
    FUZZ_CHECK(sk_tcp_listen(&tcp_listener, "127.0.0.1", 0, 64) == SK_OK, "tcp listen");
    FUZZ_CHECK(sk_tcp_local_addr(tcp_listener, &a) == SK_OK, "local addr");
    tcp_port = sk_addr_port(&a);
    snprintf(unix_name, sizeof unix_name, "@sk-fuzz-api-state-%ld", (long)getpid());
    FUZZ_CHECK(sk_unix_listen(&unix_listener, unix_name, 64) == SK_OK, "unix listen");
}

static void open_pair(pair *p, int tcp)
{
    sk_tcp *c = NULL, *s = NULL;
    int rc;
    memset(p, 0, sizeof *p);
    p->tcp = tcp && tcp_pairs < MAX_TCP_PAIRS;
    if (p->tcp) {
        tcp_pairs++;
        rc = sk_tcp_connect(&c, "127.0.0.1", tcp_port, 2000);
        FUZZ_CHECK(rc == SK_OK, "connect: %s", sk_errname(rc));
        rc = sk_tcp_accept(tcp_listener, &s, 2000);
    } else {
        rc = sk_unix_connect(&c, unix_name, 2000);
        FUZZ_CHECK(rc == SK_OK, "unix connect: %s", sk_errname(rc));
        rc = sk_tcp_accept(unix_listener, &s, 2000);
    }
    FUZZ_CHECK(rc == SK_OK, "accept: %s", sk_errname(rc));
    p->open = 1;
    p->e[0].t = c;
    p->e[1].t = s;
}

/* The connection may have been reset: the peer closed, aborted or was cancelled, or
 * either end shut its receiving half (a Unix peer refuses what comes after with EPIPE;
 * TCP resets a connection when data comes after SHUT_RD in FIN_WAIT). */
static int reset_possible(const end *me, const end *peer)
{
    return peer->closed || peer->cancelled || peer->shut_rd || me->shut_rd;
}

/* An end of stream may come: the peer closed, shut its sending half or was cancelled,
 * or we shut our receiving half. */
static int eof_possible(const end *me, const end *peer)
{
    return peer->closed || peer->cancelled || peer->shut_wr || me->shut_rd;
}

static void check_send(const end *me, const end *peer, int rc, size_t sent, size_t len, int all)
{
    FUZZ_CHECK(known_code(rc), "send: code %d", rc);
    FUZZ_CHECK(sent <= len, "sent %zu of %zu", sent, len);
    if (me->cancelled) {
        FUZZ_CHECK(rc == SK_ECANCELED, "send on a cancelled end: %s", sk_errname(rc));
        return;
    }
    FUZZ_CHECK(rc != SK_ECANCELED, "SK_ECANCELED on an end never cancelled");
    if (me->shut_wr && len > 0) {
        /* SK_ECONNRESET when the peer's reset came first (it closed with bytes unread). */
        FUZZ_CHECK(rc == SK_ECLOSED || (rc == SK_ECONNRESET && reset_possible(me, peer)), "send after our SK_SHUT_WR: %s",
                   sk_errname(rc));
        return;
    }
    switch (rc) {
    case SK_OK:
        FUZZ_CHECK(all ? sent == len : (len == 0 ? sent == 0 : sent >= 1), "SK_OK with %zu of %zu", sent, len);
        break;
    case SK_ETIMEDOUT:
        FUZZ_CHECK(sent < len, "SK_ETIMEDOUT with everything sent");
        break;
    case SK_ECONNRESET:
        FUZZ_CHECK(reset_possible(me, peer), "SK_ECONNRESET while the peer is there");
        break;
    default:
        FUZZ_CHECK(0, "send gave %s", sk_errname(rc));
    }
}

static void do_send(end *me, end *peer, int side, int all, size_t len, int ms)
{
    static uint8_t buf[65536];
    size_t sent = 12345;
    int rc;
    if (me->n_sent + len > STREAM_CAP)
        len = STREAM_CAP - me->n_sent;
    for (size_t i = 0; i < len; i++)
        buf[i] = pattern(me->n_sent + i, side);
    rc = all ? sk_tcp_send_all(me->t, buf, len, &sent, ms) : sk_tcp_send(me->t, buf, len, &sent, ms);
    check_send(me, peer, rc, sent, len, all);
    if (me->n_sent + sent > me->cap) {
        size_t cap = me->cap ? me->cap : 65536;
        while (cap < me->n_sent + sent)
            cap *= 2;
        FUZZ_CHECK((me->sent = realloc(me->sent, cap)) != NULL, "out of memory");
        me->cap = cap;
    }
    if (sent > 0)
        memcpy(me->sent + me->n_sent, buf, sent);
    me->n_sent += sent;
}

/* What a receive on `me` stored: the next bytes its peer sent. */
static void check_taken(end *peer, const uint8_t *got, size_t n, const char *call)
{
    FUZZ_CHECK(peer->n_taken + n <= peer->n_sent, "%s received %zu bytes, only %zu were sent", call,
               peer->n_taken + n, peer->n_sent);
    FUZZ_CHECK(n == 0 || memcmp(got, peer->sent + peer->n_taken, n) == 0, "%s received other bytes than sent, at %zu",
               call, peer->n_taken);
    peer->n_taken += n;
}

static void check_recv_code(const end *me, const end *peer, int rc, const char *call)
{
    FUZZ_CHECK(known_code(rc), "%s: code %d", call, rc);
    if (me->cancelled) {
        FUZZ_CHECK(rc == SK_ECANCELED, "%s on a cancelled end: %s", call, sk_errname(rc));
        return;
    }
    FUZZ_CHECK(rc != SK_ECANCELED, "%s: SK_ECANCELED on an end never cancelled", call);
    if (rc == SK_ECLOSED)
        FUZZ_CHECK(eof_possible(me, peer), "%s: SK_ECLOSED with the connection open both ways", call);
    else if (rc == SK_ECONNRESET)
        FUZZ_CHECK(reset_possible(me, peer), "%s: SK_ECONNRESET while the peer is there", call);
    else
        FUZZ_CHECK(rc == SK_OK || rc == SK_ETIMEDOUT || rc == SK_ETOOLONG, "%s gave %s", call, sk_errname(rc));
}

static void do_recv(end *me, end *peer, unsigned kind, unsigned arg, int ms)
{
    static uint8_t buf[4096];
    size_t n = 12345;
    int rc;
    if (kind == 0) {
        size_t cap = (size_t)arg * 16 + 1;
        rc = sk_tcp_recv(me->t, buf, cap, &n, ms);
        check_recv_code(me, peer, rc, "recv");
        FUZZ_CHECK(n <= cap, "recv stored %zu of %zu", n, cap);
        FUZZ_CHECK(rc == SK_OK ? n >= 1 : n == 0, "recv: %s with %zu bytes", sk_errname(rc), n);
        FUZZ_CHECK(rc != SK_ETOOLONG, "recv gave SK_ETOOLONG");
        check_taken(peer, buf, n, "recv");
    } else if (kind == 1) {
        size_t len = (size_t)arg * 16 + 1;
        rc = sk_tcp_recv_exact(me->t, buf, len, &n, ms);
        check_recv_code(me, peer, rc, "recv_exact");
        FUZZ_CHECK(rc == SK_OK ? n == len : n < len, "recv_exact: %s with %zu of %zu", sk_errname(rc), n, len);
        FUZZ_CHECK(rc != SK_ETOOLONG, "recv_exact gave SK_ETOOLONG");
        check_taken(peer, buf, n, "recv_exact");
    } else {
        int delim = (int)(arg & 0xf0);
        size_t cap = (size_t)(arg & 15) * 64 + 1;
        rc = sk_tcp_recv_until(me->t, delim, buf, cap, &n, ms);
        check_recv_code(me, peer, rc, "recv_until");
        FUZZ_CHECK(n <= cap, "recv_until stored %zu of %zu", n, cap);
        if (rc == SK_OK)
            FUZZ_CHECK(n >= 1 && buf[n - 1] == delim && memchr(buf, delim, n - 1) == NULL,
                       "recv_until: a record that does not end at its only delimiter");
        else
            FUZZ_CHECK(memchr(buf, delim, n) == NULL, "recv_until: %s with a delimiter stored", sk_errname(rc));
        if (rc == SK_ETOOLONG)
            FUZZ_CHECK(n == cap, "SK_ETOOLONG with %zu of %zu", n, cap);
        check_taken(peer, buf, n, "recv_until");
    }
}

static void unregister(end *e)
{
    e->registered = 0;
    e->watched = 0;
}

/* The end is gone: everything about it that its peer may see. */
static void gone(end *e)
{
    e->t = NULL;
    e->closed = 1;
    unregister(e);
}

static void stream_op(unsigned op, unsigned arg)
{
    pair *p = &pairs[((op >> 4) & 3) % N_PAIRS];
    int side = (op >> 6) & 1, rc, ms;
    end *me = &p->e[side], *peer = &p->e[!side];
    unsigned kind = op & 15;
    if (!p->open || me->t == NULL)
        return;
    ms = budget(op);
    switch (kind) {
    case 0: /* send */
        do_send(me, peer, side, 0, (size_t)arg * 8, ms);
        break;
    case 1: /* send_all: up to 64 KiB, enough to fill a socket buffer with a few */
        do_send(me, peer, side, 1, (size_t)arg * 256, ms);
        break;
    case 2:
    case 3:
    case 4:
        do_recv(me, peer, kind - 2, arg, ms);
        break;
    case 5: { /* shutdown; how 0 or 4 is bad */
        int how = (int)(arg % 5);
        rc = sk_tcp_shutdown(me->t, how);
        FUZZ_CHECK(known_code(rc), "shutdown: code %d", rc);
        if (how == 0 || how == 4)
            FUZZ_CHECK(rc == SK_EINVAL, "shutdown with how %d: %s", how, sk_errname(rc));
        else if (me->cancelled)
            FUZZ_CHECK(rc == SK_ECANCELED, "shutdown of a cancelled end: %s", sk_errname(rc));
        else
            FUZZ_CHECK(rc == SK_OK || (rc == SK_EOS && (peer->closed || peer->cancelled || me->shut_rd ||
                                                        me->shut_wr || peer->shut_rd || peer->shut_wr)),
                       "shutdown(%d): %s", how, sk_errname(rc));
        if (rc == SK_OK) {
            me->shut_rd |= how & SK_SHUT_RD ? 1 : 0;
            me->shut_wr |= how & SK_SHUT_WR ? 1 : 0;
        }
        break;
    }
    case 6:
        FUZZ_CHECK(sk_tcp_cancel(me->t) == SK_OK, "cancel");
        me->cancelled = 1;
        break;
    case 7:
        sk_tcp_close(me->t);
        gone(me);
        break;
    case 8:
        rc = sk_tcp_close_graceful(me->t, ms);
        FUZZ_CHECK(known_code(rc), "close_graceful: code %d", rc);
        if (me->cancelled)
            FUZZ_CHECK(rc == SK_ECANCELED, "close_graceful of a cancelled end: %s", sk_errname(rc));
        else
            FUZZ_CHECK(rc == SK_OK || rc == SK_ETIMEDOUT || rc == SK_ECONNRESET || rc == SK_EOS,
                       "close_graceful: %s", sk_errname(rc));
        gone(me);
        break;
    case 9:
        sk_tcp_abort(me->t);
        gone(me);
        me->aborted = 1;
        break;
    case 10: { /* poller add, or mod when registered */
        unsigned ev = arg & (SK_POLL_IN | SK_POLL_OUT);
        if (!me->registered) {
            rc = sk_poller_add_tcp(poller, me->t, ev, me);
            FUZZ_CHECK(rc == SK_OK || (me->cancelled && rc == SK_ECANCELED), "poller add: %s", sk_errname(rc));
            if (rc == SK_OK) {
                me->registered = 1;
                me->watched = ev;
            }
            rc = sk_poller_add_tcp(poller, me->t, ev, me);
            FUZZ_CHECK(rc == SK_EINVAL || (me->cancelled && rc == SK_ECANCELED), "adding twice: %s",
                       sk_errname(rc));
        } else {
            rc = sk_poller_mod_tcp(poller, me->t, ev, me);
            FUZZ_CHECK(rc == SK_OK || (me->cancelled && (rc == SK_ECANCELED || rc == SK_EOS)), "poller mod: %s",
                       sk_errname(rc));
            if (rc == SK_OK)
                me->watched = ev;
        }
        break;
    }
    case 11:
        rc = sk_poller_del_tcp(poller, me->t);
        FUZZ_CHECK(rc == (me->registered ? SK_OK : SK_EINVAL), "poller del (registered %d): %s", me->registered,
                   sk_errname(rc));
        unregister(me);
        break;
    default:
        break;
    }
}

static void poll_op(unsigned op)
{
    static sk_event ev[8]; /* the poller marks cancelled events in it until the next wait */
    size_t n = 99;
    int rc = sk_poller_wait(poller, ev, 1 + (op >> 4) % 8, &n, 0);
    FUZZ_CHECK(rc == SK_OK || rc == SK_ETIMEDOUT, "poller wait: %s", sk_errname(rc));
    FUZZ_CHECK(rc == SK_OK ? n >= 1 && n <= 1 + (op >> 4) % 8 : n == 0, "wait: %s with %zu events", sk_errname(rc),
               n);
    for (size_t i = 0; i < n; i++) {
        unsigned x = ev[i].events;
        int found = 0;
        if (x == 0)
            continue;
        FUZZ_CHECK((x & ~(SK_POLL_IN | SK_POLL_OUT | SK_POLL_HUP | SK_POLL_ERR | SK_POLL_CANCELED)) == 0,
                   "event bits %#x", x);
        for (int p = 0; p < N_PAIRS; p++)
            for (int s = 0; s < 2; s++)
                if (ev[i].data == &pairs[p].e[s]) {
                    const end *e = &pairs[p].e[s];
                    found = 1;
                    FUZZ_CHECK(e->registered, "an event for an end not registered");
                    FUZZ_CHECK(!(x & SK_POLL_IN) || (e->watched & SK_POLL_IN), "SK_POLL_IN not watched for");
                    FUZZ_CHECK(!(x & SK_POLL_OUT) || (e->watched & SK_POLL_OUT), "SK_POLL_OUT not watched for");
                    FUZZ_CHECK(!(x & SK_POLL_CANCELED) || e->cancelled, "SK_POLL_CANCELED, never cancelled");
                }
        for (int u = 0; u < 2; u++)
            if (ev[i].data == &uends[u]) {
                found = 1;
                FUZZ_CHECK(uends[u].registered, "an event for a UDP endpoint not registered");
                FUZZ_CHECK(!(x & SK_POLL_CANCELED) || uends[u].cancelled, "SK_POLL_CANCELED, never cancelled");
            }
        FUZZ_CHECK(found, "an event with unknown data %p", ev[i].data);
    }
}

static uint8_t dgram_byte(uint32_t seq, size_t i)
{
    return (uint8_t)(seq * 31 + i * 3);
}

static void udp_op(unsigned op, unsigned arg)
{
    static uint8_t buf[2048];
    static uint32_t seq;
    int side = (op >> 6) & 1, rc, ms;
    uend *me = &uends[side], *peer = &uends[!side];
    unsigned kind = op & 15;
    if (!have_udp) {
        for (int i = 0; i < 2; i++) {
            memset(&uends[i], 0, sizeof uends[i]);
            FUZZ_CHECK(sk_udp_bind(&uends[i].u, "127.0.0.1", 0) == SK_OK, "udp bind");
            FUZZ_CHECK(sk_udp_local_addr(uends[i].u, &uends[i].addr) == SK_OK, "udp addr");
        }
        have_udp = 1;
    }
    ms = budget(op);
    if (kind == 12) { /* sendto the other */
        size_t len = (size_t)arg * 4 + (arg & 3);
        for (size_t i = 0; i < len; i++)
            buf[i] = dgram_byte(seq, i);
        rc = sk_udp_sendto(me->u, buf, len, &peer->addr, ms);
        FUZZ_CHECK(known_code(rc), "sendto: code %d", rc);
        if (me->cancelled)
            FUZZ_CHECK(rc == SK_ECANCELED, "sendto on a cancelled endpoint: %s", sk_errname(rc));
        else
            FUZZ_CHECK(rc == SK_OK || rc == SK_ETIMEDOUT, "sendto: %s", sk_errname(rc));
        if (rc == SK_OK && me->n_sent < MAX_OPS)
            me->sent[me->n_sent++] = (dgram){len, seq};
        seq++;
    } else if (kind == 13) { /* recvfrom */
        size_t cap = (size_t)arg * 8 + 1, n = 12345, j;
        sk_addr from;
        rc = sk_udp_recvfrom(me->u, buf, cap, &n, &from, ms);
        FUZZ_CHECK(known_code(rc), "recvfrom: code %d", rc);
        if (me->cancelled) {
            FUZZ_CHECK(rc == SK_ECANCELED, "recvfrom on a cancelled endpoint: %s", sk_errname(rc));
            return;
        }
        FUZZ_CHECK(rc == SK_OK || rc == SK_ETIMEDOUT || rc == SK_ETRUNCATED, "recvfrom: %s", sk_errname(rc));
        if (rc == SK_ETIMEDOUT) {
            FUZZ_CHECK(n == 0, "a timeout with %zu bytes", n);
            return;
        }
        FUZZ_CHECK(n <= cap, "recvfrom stored %zu of %zu", n, cap);
        FUZZ_CHECK(memcmp(&from, &peer->addr, sizeof from) == 0, "a datagram from elsewhere");
        /* The first datagram of the other's not yet received that it can be. */
        for (j = me->next; j < peer->n_sent; j++) {
            const dgram *d = &peer->sent[j];
            size_t want = d->len < cap ? d->len : cap, i;
            if ((rc == SK_OK) != (d->len <= cap) || n != want)
                continue;
            for (i = 0; i < n && buf[i] == dgram_byte(d->seq, i); i++)
                ;
            if (i == n)
                break;
        }
        FUZZ_CHECK(j < peer->n_sent, "%s: a datagram of %zu bytes that was never sent (or out of order)",
                   sk_errname(rc), n);
        me->next = j + 1;
    } else if (kind == 14) {
        FUZZ_CHECK(sk_udp_cancel(me->u) == SK_OK, "udp cancel");
        me->cancelled = 1;
    } else { /* poller add or del */
        if (!me->registered) {
            rc = sk_poller_add_udp(poller, me->u, SK_POLL_IN, me);
            FUZZ_CHECK(rc == SK_OK || (me->cancelled && rc == SK_ECANCELED), "poller add udp: %s", sk_errname(rc));
            me->registered = rc == SK_OK;
        } else {
            FUZZ_CHECK(sk_poller_del_udp(poller, me->u) == SK_OK, "poller del udp");
            me->registered = 0;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int before, ops = 0;
    if (size < 1)
        return 0;
    setup();
    before = count_fds();
    FUZZ_CHECK(sk_poller_create(&poller) == SK_OK, "poller");
    wait_left = MAX_WAIT_MS;
    have_udp = 0;
    for (int i = 0; i < N_PAIRS; i++)
        pairs[i].open = 0;

    for (size_t at = 1; at + 2 <= size && ops < MAX_OPS; at += 2, ops++) {
        unsigned op = data[at], arg = data[at + 1], kind = op & 15;
        int pi = (int)(((op >> 4) & 3) % N_PAIRS);
        if (kind < 12 && !pairs[pi].open)
            open_pair(&pairs[pi], (data[0] >> pi) & 1);
        if (kind < 12)
            stream_op(op, arg);
        else if ((op & 0x30) == 0x30 && kind == 15)
            poll_op(arg);
        else
            udp_op(op, arg);
    }

    /* Everything closed: the TCP ends with a reset (no TIME_WAIT), the others plainly. */
    for (int i = 0; i < N_PAIRS; i++) {
        if (!pairs[i].open)
            continue;
        for (int s = 0; s < 2; s++) {
            if (pairs[i].e[s].t != NULL) {
                if (pairs[i].tcp)
                    sk_tcp_abort(pairs[i].e[s].t);
                else
                    sk_tcp_close(pairs[i].e[s].t);
            }
            free(pairs[i].e[s].sent);
        }
        pairs[i].open = 0;
    }
    if (have_udp)
        for (int i = 0; i < 2; i++)
            sk_udp_close(uends[i].u);
    sk_poller_close(poller);
    poller = NULL;
    FUZZ_CHECK(count_fds() == before, "%d descriptors open after the input, %d before", count_fds(), before);
    return 0;
}
