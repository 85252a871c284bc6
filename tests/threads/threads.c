/* Threads: one endpoint used by several threads at once, as the contract allows (one
 * sending and one receiving thread, and any thread calling sk_tcp_shutdown). A plain
 * program, not Criterion, so that it runs under ThreadSanitizer (Criterion 2.4 cannot
 * start there): CTest runs it as threads.shared and threads.static in every build, and
 * the tsan preset is where it matters most.
 *
 *   threads [NAME...]      run every case, or those whose name contains a NAME
 *
 * Prints one "ok"/"not ok" line per case (TAP); exit status 0 only when all passed.
 * Loopback, ephemeral ports; every wait is bounded and a watchdog ends a hung run. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include <sockkit.h>

/* ------------------------------------------------------------------ checks */

#include "harness.h"

/* A byte that depends on its stream offset and on the stream (seed). */
static unsigned char pat(unsigned seed, size_t i)
{
    uint32_t x = (uint32_t)i * 2654435761u + seed * 40503u;
    return (unsigned char)((x >> 24) ^ (x >> 11) ^ i ^ seed);
}

static unsigned char *pattern(unsigned seed, size_t n)
{
    unsigned char *b = malloc(n ? n : 1);
    if (b != NULL)
        for (size_t i = 0; i < n; i++)
            b[i] = pat(seed, i);
    return b;
}

/* Offset of the first byte that differs from the pattern, or n. */
static size_t first_bad(const unsigned char *b, unsigned seed, size_t off, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i] != pat(seed, off + i))
            return i;
    return n;
}

/* A connected pair on 127.0.0.1; returns 0 or -1. */
static int tcp_pair(sk_tcp **c, sk_tcp **s)
{
    sk_tcp *l = NULL;
    sk_addr a;
    int rc;
    *c = *s = NULL;
    if ((rc = sk_tcp_listen(&l, "127.0.0.1", 0, 4)) != SK_OK || (rc = sk_tcp_local_addr(l, &a)) != SK_OK ||
        (rc = sk_tcp_connect(c, "127.0.0.1", sk_addr_port(&a), 5000)) != SK_OK ||
        (rc = sk_tcp_accept(l, s, 5000)) != SK_OK) {
        fprintf(stdout, "#   could not make a connected pair: %s\n", sk_errname(rc));
        sk_tcp_close(l);
        sk_tcp_close(*c);
        *c = NULL;
        return -1;
    }
    sk_tcp_close(l);
    return 0;
}

/* ------------------------------------------------------------------ transfer threads */

enum op { OP_SEND_ALL, OP_RECV_EXACT, OP_SEND_LOOP, OP_RECV_LOOP, OP_DRAIN };

struct job {
    sk_tcp *conn;
    enum op op;
    unsigned seed;        /* the pattern sent or expected */
    size_t len;           /* bytes to move (OP_DRAIN: an upper bound) */
    int timeout_ms;
    unsigned char *buf;   /* OP_SEND_*: the bytes; OP_RECV_*: where they go */
    /* results */
    size_t done;
    int rc;
    int err;
    size_t bad_at;        /* OP_DRAIN: offset of the first wrong byte, or SIZE_MAX */
    atomic_int started;
};

static void *job_thread(void *p)
{
    struct job *j = p;
    atomic_store(&j->started, 1);
    switch (j->op) {
    case OP_SEND_ALL:
        j->rc = sk_tcp_send_all(j->conn, j->buf, j->len, &j->done, j->timeout_ms);
        break;
    case OP_RECV_EXACT:
        j->rc = sk_tcp_recv_exact(j->conn, j->buf, j->len, &j->done, j->timeout_ms);
        break;
    case OP_SEND_LOOP:
        /* sk_tcp_send, at most 3000 bytes a call: what the system takes each time. */
        j->done = 0;
        j->rc = SK_OK;
        while (j->done < j->len && j->rc == SK_OK) {
            size_t n = 0, want = j->len - j->done < 3000 ? j->len - j->done : 3000;
            j->rc = sk_tcp_send(j->conn, j->buf + j->done, want, &n, j->timeout_ms);
            j->done += n;
        }
        break;
    case OP_RECV_LOOP:
        j->done = 0;
        j->rc = SK_OK;
        while (j->done < j->len && j->rc == SK_OK) {
            size_t n = 0, want = j->len - j->done < 5000 ? j->len - j->done : 5000;
            j->rc = sk_tcp_recv(j->conn, j->buf + j->done, want, &n, j->timeout_ms);
            j->done += n;
        }
        break;
    case OP_DRAIN: {
        /* Everything until end of stream, checked against the pattern as it comes. */
        unsigned char chunk[16384];
        j->done = 0;
        j->bad_at = SIZE_MAX;
        for (;;) {
            size_t n = 0, bad;
            j->rc = sk_tcp_recv(j->conn, chunk, sizeof chunk, &n, j->timeout_ms);
            if (j->rc != SK_OK)
                break;
            bad = first_bad(chunk, j->seed, j->done, n);
            if (bad < n && j->bad_at == SIZE_MAX)
                j->bad_at = j->done + bad;
            j->done += n;
            if (j->done > j->len)
                break;
        }
        break;
    }
    }
    j->err = errno;
    return NULL;
}

static int start(pthread_t *th, struct job *j)
{
    atomic_init(&j->started, 0);
    if (pthread_create(th, NULL, job_thread, j) != 0) {
        fprintf(stdout, "#   pthread_create failed\n");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ cases */

#define MIB ((size_t)1 << 20)

/* Four threads, two per endpoint: each endpoint sends and receives 8 MiB at once,
 * one direction with send_all/recv_exact and the other with single send/recv calls. */
static void full_duplex_transfers_with_a_sending_and_a_receiving_thread_on_each_endpoint(void)
{
    const size_t len = 8 * MIB;
    sk_tcp *c, *s;
    pthread_t th[4];
    struct job j[4];
    unsigned char *out_c = pattern(1, len), *out_s = pattern(2, len);
    unsigned char *in_c = calloc(1, len), *in_s = calloc(1, len);

    CHECK(out_c && out_s && in_c && in_s, "out of memory");
    CHECK(tcp_pair(&c, &s) == 0, "no pair");
    memset(j, 0, sizeof j);
    j[0] = (struct job){.conn = c, .op = OP_SEND_ALL, .len = len, .timeout_ms = 60000, .buf = out_c};
    j[1] = (struct job){.conn = c, .op = OP_RECV_LOOP, .len = len, .timeout_ms = 60000, .buf = in_c};
    j[2] = (struct job){.conn = s, .op = OP_SEND_LOOP, .len = len, .timeout_ms = 60000, .buf = out_s};
    j[3] = (struct job){.conn = s, .op = OP_RECV_EXACT, .len = len, .timeout_ms = 60000, .buf = in_s};
    for (int i = 0; i < 4; i++)
        CHECK(start(&th[i], &j[i]) == 0, "thread %d", i);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++)
        CHECK(j[i].rc == SK_OK && j[i].done == len, "thread %d: %s (errno %d) after %zu of %zu bytes", i,
              sk_errname(j[i].rc), j[i].err, j[i].done, len);
    CHECK(first_bad(in_s, 1, 0, len) == len, "c -> s: byte %zu differs", first_bad(in_s, 1, 0, len));
    CHECK(first_bad(in_c, 2, 0, len) == len, "s -> c: byte %zu differs", first_bad(in_c, 2, 0, len));
    sk_tcp_close(c);
    sk_tcp_close(s);
    free(out_c);
    free(out_s);
    free(in_c);
    free(in_s);
}

/* On one endpoint: a thread blocked in recv_exact, a thread sending to a peer that
 * reads, and a third that shuts the receiving half down. The receiver wakes with
 * SK_ECLOSED and exactly the bytes that had come; the sender is not disturbed. Then
 * the third thread shuts the sending half down while the sender is blocked (the peer
 * stopped reading): the sender wakes with SK_ECLOSED, and the peer receives exactly
 * the bytes it reported, then end of stream. */
static void shutdown_from_a_third_thread_wakes_the_receiver_then_the_sender_with_exact_counts(void)
{
    const size_t early = 1000, big = 64 * MIB;
    sk_tcp *c, *s;
    pthread_t tr, ts;
    struct job r, snd;
    unsigned char *rbuf = calloc(1, MIB), *early_bytes = pattern(3, early), *out = pattern(4, big);
    size_t n = 0;
    int64_t t0;

    CHECK(rbuf && early_bytes && out, "out of memory");
    CHECK(tcp_pair(&c, &s) == 0, "no pair");
    /* The peer sends 1000 bytes, then nothing. */
    CHECK(sk_tcp_send_all(s, early_bytes, early, &n, 5000) == SK_OK && n == early, "early bytes");

    memset(&r, 0, sizeof r);
    r = (struct job){.conn = c, .op = OP_RECV_EXACT, .len = MIB, .timeout_ms = SK_FOREVER, .buf = rbuf};
    CHECK(start(&tr, &r) == 0, "receiver");

    /* Phase 1: the sender sends 4 MiB to the peer, which reads everything. */
    memset(&snd, 0, sizeof snd);
    snd = (struct job){.conn = c, .op = OP_SEND_ALL, .len = 4 * MIB, .timeout_ms = 30000, .buf = out};
    CHECK(start(&ts, &snd) == 0, "sender");
    sleep_ms(200);
    t0 = now_ms();
    CHECK(sk_tcp_shutdown(c, SK_SHUT_RD) == SK_OK, "shutdown(SK_SHUT_RD)");
    pthread_join(tr, NULL);
    CHECK(r.rc == SK_ECLOSED, "the blocked receiver returned %s, expected SK_ECLOSED", sk_errname(r.rc));
    CHECK(r.done == early, "the receiver reports %zu bytes, %zu had come", r.done, early);
    CHECK(first_bad(rbuf, 3, 0, early) == early, "received byte %zu differs", first_bad(rbuf, 3, 0, early));
    CHECK(now_ms() - t0 < 5000, "the receiver took %lld ms to wake", (long long)(now_ms() - t0));
    /* A later receive on the shut half: end of stream at once. */
    n = 99;
    CHECK(sk_tcp_recv(c, rbuf, 10, &n, 1000) == SK_ECLOSED && n == 0, "receive after SK_SHUT_RD");

    /* The peer reads the 4 MiB while the sender is still at it. */
    {
        unsigned char *in = malloc(4 * MIB);
        size_t got = 0;
        CHECK(in != NULL, "out of memory");
        CHECK(sk_tcp_recv_exact(s, in, 4 * MIB, &got, 30000) == SK_OK && got == 4 * MIB, "peer read %zu", got);
        CHECK(first_bad(in, 4, 0, 4 * MIB) == 4 * MIB, "byte %zu differs", first_bad(in, 4, 0, 4 * MIB));
        free(in);
    }
    pthread_join(ts, NULL);
    CHECK(snd.rc == SK_OK && snd.done == 4 * MIB, "the sender: %s after %zu bytes", sk_errname(snd.rc), snd.done);

    /* Phase 2: the sender blocks on a peer that does not read; SK_SHUT_WR wakes it. */
    snd = (struct job){.conn = c, .op = OP_SEND_ALL, .len = big - 4 * MIB, .timeout_ms = SK_FOREVER,
                       .buf = out + 4 * MIB};
    CHECK(start(&ts, &snd) == 0, "sender");
    sleep_ms(300);
    t0 = now_ms();
    CHECK(sk_tcp_shutdown(c, SK_SHUT_WR) == SK_OK, "shutdown(SK_SHUT_WR)");
    pthread_join(ts, NULL);
    CHECK(snd.rc == SK_ECLOSED, "the blocked sender returned %s (errno %d), expected SK_ECLOSED",
          sk_errname(snd.rc), snd.err);
    CHECK(snd.done > 0 && snd.done < big - 4 * MIB, "the sender reports %zu bytes", snd.done);
    CHECK(now_ms() - t0 < 5000, "the sender took %lld ms to wake", (long long)(now_ms() - t0));
    /* Exactly the reported bytes arrive, then end of stream (stream offsets go on
     * from 4 MiB). */
    {
        unsigned char chunk[16384];
        size_t total = 0, bad = SIZE_MAX;
        int rc;
        for (;;) {
            size_t k = 0;
            rc = sk_tcp_recv(s, chunk, sizeof chunk, &k, 30000);
            if (rc != SK_OK)
                break;
            if (bad == SIZE_MAX && first_bad(chunk, 4, 4 * MIB + total, k) < k)
                bad = total + first_bad(chunk, 4, 4 * MIB + total, k);
            total += k;
            if (total > big)
                break;
        }
        CHECK(rc == SK_ECLOSED, "the peer's drain ended with %s", sk_errname(rc));
        CHECK(total == snd.done, "the peer received %zu bytes, the sender reported %zu", total, snd.done);
        CHECK(bad == SIZE_MAX, "byte %zu differs", bad);
    }
    sk_tcp_close(c);
    sk_tcp_close(s);
    free(rbuf);
    free(early_bytes);
    free(out);
}

/* Both directions blocked at once (nothing to receive, no room to send), and one
 * SK_SHUT_RDWR from a third thread wakes both. */
static void shutdown_rdwr_wakes_a_blocked_sender_and_a_blocked_receiver_at_once(void)
{
    const size_t big = 64 * MIB;
    sk_tcp *c, *s;
    pthread_t tr, ts;
    struct job r, snd, drain;
    unsigned char rbuf[100], *out = pattern(5, big);
    int64_t t0;

    CHECK(out != NULL, "out of memory");
    CHECK(tcp_pair(&c, &s) == 0, "no pair");
    memset(&r, 0, sizeof r);
    r = (struct job){.conn = c, .op = OP_RECV_EXACT, .len = sizeof rbuf, .timeout_ms = SK_FOREVER, .buf = rbuf};
    memset(&snd, 0, sizeof snd);
    snd = (struct job){.conn = c, .op = OP_SEND_ALL, .len = big, .timeout_ms = SK_FOREVER, .buf = out};
    CHECK(start(&tr, &r) == 0 && start(&ts, &snd) == 0, "threads");
    sleep_ms(300);
    t0 = now_ms();
    CHECK(sk_tcp_shutdown(c, SK_SHUT_RDWR) == SK_OK, "shutdown(SK_SHUT_RDWR)");
    pthread_join(tr, NULL);
    pthread_join(ts, NULL);
    CHECK(now_ms() - t0 < 5000, "the threads took %lld ms to wake", (long long)(now_ms() - t0));
    CHECK(r.rc == SK_ECLOSED && r.done == 0, "the receiver: %s with %zu bytes", sk_errname(r.rc), r.done);
    CHECK(snd.rc == SK_ECLOSED, "the sender: %s (errno %d)", sk_errname(snd.rc), snd.err);
    memset(&drain, 0, sizeof drain);
    drain = (struct job){.conn = s, .op = OP_DRAIN, .seed = 5, .len = big, .timeout_ms = 30000};
    job_thread(&drain);
    CHECK(drain.rc == SK_ECLOSED, "the peer's drain ended with %s", sk_errname(drain.rc));
    CHECK(drain.done == snd.done, "the peer received %zu bytes, the sender reported %zu", drain.done, snd.done);
    CHECK(drain.bad_at == SIZE_MAX, "byte %zu differs", drain.bad_at);
    sk_tcp_close(c);
    sk_tcp_close(s);
    free(out);
}

/* Shutting down while the other side is in the middle of a transfer, many times over:
 * for races between the waking thread and the one woken. Every round both transfers
 * end (no hang), with a code the contract allows, and counts that add up. */
static void repeated_shutdowns_during_transfers_always_end_them_cleanly(void)
{
    const size_t len = 256 * 1024;
    unsigned char *out = pattern(6, len), *in = malloc(len);
    CHECK(out && in, "out of memory");
    for (int round = 0; round < 40; round++) {
        sk_tcp *c, *s;
        pthread_t tr, ts;
        struct job r, snd;
        CHECK(tcp_pair(&c, &s) == 0, "no pair");
        memset(&r, 0, sizeof r);
        r = (struct job){.conn = c, .op = OP_RECV_EXACT, .len = len, .timeout_ms = 10000, .buf = in};
        memset(&snd, 0, sizeof snd);
        snd = (struct job){.conn = s, .op = OP_SEND_ALL, .len = len, .timeout_ms = 10000, .buf = out};
        CHECK(start(&tr, &r) == 0 && start(&ts, &snd) == 0, "threads");
        sleep_ms(round % 4); /* 0..3 ms: before, during or after the transfer */
        CHECK(sk_tcp_shutdown(round % 2 ? c : s, round % 2 ? SK_SHUT_RD : SK_SHUT_WR) == SK_OK, "shutdown");
        pthread_join(tr, NULL);
        pthread_join(ts, NULL);
        CHECK(r.rc == SK_OK || r.rc == SK_ECLOSED, "round %d: receiver %s", round, sk_errname(r.rc));
        CHECK(r.rc != SK_OK || r.done == len, "round %d: SK_OK with %zu bytes", round, r.done);
        CHECK(r.done <= len && first_bad(in, 6, 0, r.done) == r.done, "round %d: bad data", round);
        if (round % 2 == 0) {
            /* The sender's own shutdown: SK_OK (all sent first) or SK_ECLOSED; the
             * receiver got exactly what the sender reported. */
            CHECK(snd.rc == SK_OK || snd.rc == SK_ECLOSED, "round %d: sender %s", round, sk_errname(snd.rc));
            CHECK(r.done == snd.done, "round %d: received %zu, sent %zu", round, r.done, snd.done);
        } else {
            /* The receiver shut its reading half: the sender may finish, time out
             * (nobody reads) or see the connection reset. */
            CHECK(snd.rc == SK_OK || snd.rc == SK_ETIMEDOUT || snd.rc == SK_ECONNRESET, "round %d: sender %s",
                  round, sk_errname(snd.rc));
        }
        sk_tcp_close(c);
        sk_tcp_close(s);
    }
    free(out);
    free(in);
}

/* sk_tcp_cancel from a third thread while one thread is blocked sending (the peer
 * does not read) and another blocked receiving: both wake with SK_ECANCELED, and the
 * peer then receives exactly the bytes the sender reported, then end of stream. */
static void cancel_from_a_third_thread_wakes_a_blocked_sender_and_receiver_with_exact_counts(void)
{
    const size_t big = 64 * MIB;
    sk_tcp *c, *s;
    pthread_t tr, ts;
    struct job r, snd, drain;
    unsigned char rbuf[100], *out = pattern(7, big);
    int64_t t0;

    CHECK(out != NULL, "out of memory");
    CHECK(tcp_pair(&c, &s) == 0, "no pair");
    memset(&r, 0, sizeof r);
    r = (struct job){.conn = c, .op = OP_RECV_EXACT, .len = sizeof rbuf, .timeout_ms = SK_FOREVER, .buf = rbuf};
    memset(&snd, 0, sizeof snd);
    snd = (struct job){.conn = c, .op = OP_SEND_ALL, .len = big, .timeout_ms = SK_FOREVER, .buf = out};
    CHECK(start(&tr, &r) == 0 && start(&ts, &snd) == 0, "threads");
    sleep_ms(300);
    t0 = now_ms();
    CHECK(sk_tcp_cancel(c) == SK_OK, "sk_tcp_cancel");
    pthread_join(tr, NULL);
    pthread_join(ts, NULL);
    CHECK(now_ms() - t0 < 5000, "the threads took %lld ms to wake", (long long)(now_ms() - t0));
    CHECK(r.rc == SK_ECANCELED && r.done == 0, "the receiver: %s with %zu bytes", sk_errname(r.rc), r.done);
    CHECK(snd.rc == SK_ECANCELED && snd.err == ECANCELED, "the sender: %s (errno %d)", sk_errname(snd.rc),
          snd.err);
    CHECK(snd.done > 0 && snd.done < big, "the sender reported %zu bytes", snd.done);
    memset(&drain, 0, sizeof drain);
    drain = (struct job){.conn = s, .op = OP_DRAIN, .seed = 7, .len = big, .timeout_ms = 30000};
    job_thread(&drain);
    CHECK(drain.rc == SK_ECLOSED, "the peer's drain ended with %s", sk_errname(drain.rc));
    CHECK(drain.done == snd.done, "the peer received %zu bytes, the sender reported %zu", drain.done, snd.done);
    CHECK(drain.bad_at == SIZE_MAX, "byte %zu differs", drain.bad_at);
    sk_tcp_close(c);
    sk_tcp_close(s);
    free(out);
}

/* Cancelling in the middle of a transfer that is moving, many times over, at either
 * end: every round both transfers end, with a code the contract allows, and the
 * receiver never has more than the sender reported, nor a wrong byte. */
static void repeated_cancels_during_transfers_always_end_them_with_counts_that_add_up(void)
{
    const size_t len = 256 * 1024;
    unsigned char *out = pattern(8, len), *in = malloc(len);
    CHECK(out && in, "out of memory");
    for (int round = 0; round < 40; round++) {
        sk_tcp *c, *s, *victim;
        pthread_t tr, ts;
        struct job r, snd;
        CHECK(tcp_pair(&c, &s) == 0, "no pair");
        victim = round % 2 ? c : s;
        memset(&r, 0, sizeof r);
        r = (struct job){.conn = c, .op = OP_RECV_EXACT, .len = len, .timeout_ms = 10000, .buf = in};
        memset(&snd, 0, sizeof snd);
        snd = (struct job){.conn = s, .op = OP_SEND_ALL, .len = len, .timeout_ms = 10000, .buf = out};
        CHECK(start(&tr, &r) == 0 && start(&ts, &snd) == 0, "threads");
        sleep_ms(round % 4); /* 0..3 ms: before, during or after the transfer */
        CHECK(sk_tcp_cancel(victim) == SK_OK, "cancel");
        pthread_join(tr, NULL);
        pthread_join(ts, NULL);
        CHECK(r.done <= len && first_bad(in, 8, 0, r.done) == r.done, "round %d: bad data", round);
        if (victim == c) {
            /* The receiver was cancelled: it stops with what it had (or had all). */
            CHECK(r.rc == SK_OK || r.rc == SK_ECANCELED, "round %d: receiver %s", round, sk_errname(r.rc));
            CHECK(snd.rc == SK_OK || snd.rc == SK_ECONNRESET || snd.rc == SK_ETIMEDOUT, "round %d: sender %s",
                  round, sk_errname(snd.rc));
        } else {
            /* The sender was cancelled: what it reported arrives, then end of stream. */
            CHECK(snd.rc == SK_OK || snd.rc == SK_ECANCELED, "round %d: sender %s", round, sk_errname(snd.rc));
            CHECK(r.rc == (snd.rc == SK_OK ? SK_OK : SK_ECLOSED), "round %d: receiver %s after sender %s", round,
                  sk_errname(r.rc), sk_errname(snd.rc));
            CHECK(r.done == snd.done, "round %d: received %zu, sent %zu", round, r.done, snd.done);
        }
        CHECK(r.rc != SK_OK || r.done == len, "round %d: SK_OK with %zu bytes", round, r.done);
        sk_tcp_close(c);
        sk_tcp_close(s);
    }
    free(out);
    free(in);
}

/* A connect to an attempt that never answers (a listener whose accept queue one
 * client fills), cancelled by another thread through its sk_cancel: the connect
 * returns SK_ECANCELED, the attempt is reported cancelled. Many rounds, the cancel at
 * 0 to 3 ms, for races between the firing thread and the connect's poll. */
static void *fire_after(void *p)
{
    sk_cancel *c = p;
    sk_cancel_fire(c);
    return NULL;
}

static void connect_cancelled_from_another_thread_always_returns_ecanceled(void)
{
    sk_tcp *l, *filler, *conn;
    sk_addr a;
    int port;

    /* Backlog 1: the filler's connection takes the queue, later SYNs are dropped. */
    CHECK(sk_tcp_listen(&l, "127.0.0.1", 0, 1) == SK_OK && sk_tcp_local_addr(l, &a) == SK_OK, "listen");
    port = sk_addr_port(&a);
    CHECK(sk_tcp_connect(&filler, "127.0.0.1", port, 5000) == SK_OK, "filler");
    {
        sk_tcp *extra = NULL;
        if (sk_tcp_connect(&extra, "127.0.0.1", port, 300) == SK_OK) /* a second one may fit */
            sk_tcp_close(extra);
    }
    for (int round = 0; round < 20; round++) {
        sk_connect_options o = SK_CONNECT_OPTIONS_INIT;
        sk_connect_attempt att[2];
        size_t count = 0;
        sk_cancel *c;
        pthread_t th;
        int rc;
        CHECK(sk_cancel_create(&c) == SK_OK, "sk_cancel_create");
        o.cancel = c;
        conn = NULL;
        CHECK(pthread_create(&th, NULL, fire_after, c) == 0, "thread");
        sleep_ms(round % 4); /* the cancel before, during or just after the start */
        rc = sk_tcp_connect_with(&conn, "127.0.0.1", port, &o, att, 2, &count, 20000);
        pthread_join(th, NULL);
        sk_cancel_close(c);
        CHECK(rc == SK_ECANCELED && conn == NULL, "round %d: connect %s", round, sk_errname(rc));
        CHECK(count <= 1 && (count == 0 || att[0].code == SK_ECANCELED), "round %d: report %zu entries, %s", round,
              count, count ? sk_errname(att[0].code) : "-");
    }
    sk_tcp_close(filler);
    sk_tcp_close(l);
}

/* UDP: one thread sends datagrams and another receives on the same endpoint, while a
 * peer thread echoes them back. Each datagram carries its number and a pattern. */
struct udp_echo {
    sk_udp *u;
    int count;
    int rc;
};

static void *udp_echo_thread(void *p)
{
    struct udp_echo *e = p;
    unsigned char buf[2048];
    e->rc = SK_OK;
    for (int i = 0; i < e->count && e->rc == SK_OK; i++) {
        size_t n = 0;
        sk_addr from;
        e->rc = sk_udp_recvfrom(e->u, buf, sizeof buf, &n, &from, 10000);
        if (e->rc == SK_OK)
            e->rc = sk_udp_sendto(e->u, buf, n, &from, 10000);
    }
    return NULL;
}

struct udp_side {
    sk_udp *u;
    sk_addr peer;
    int count;
    atomic_int *received;
    int rc;
    int bad;
};

static size_t dgram_len(int i)
{
    return 8 + (size_t)(i * 131) % 1000;
}

static void *udp_send_thread(void *p)
{
    struct udp_side *sd = p;
    unsigned char buf[2048];
    sd->rc = SK_OK;
    for (int i = 0; i < sd->count && sd->rc == SK_OK; i++) {
        size_t len = dgram_len(i);
        int64_t t0 = now_ms();
        /* At most 32 in flight, so that no socket buffer overflows. */
        while (i - atomic_load(sd->received) >= 32 && now_ms() - t0 < 10000)
            sleep_ms(1);
        memcpy(buf, &i, sizeof i);
        for (size_t k = sizeof i; k < len; k++)
            buf[k] = pat((unsigned)i, k);
        sd->rc = sk_udp_sendto(sd->u, buf, len, &sd->peer, 10000);
    }
    return NULL;
}

static void *udp_recv_thread(void *p)
{
    struct udp_side *sd = p;
    unsigned char buf[2048];
    sd->rc = SK_OK;
    for (int i = 0; i < sd->count && sd->rc == SK_OK; i++) {
        size_t n = 0;
        int num;
        sd->rc = sk_udp_recv(sd->u, buf, sizeof buf, &n, 10000);
        if (sd->rc != SK_OK)
            break;
        memcpy(&num, buf, sizeof num);
        if (num != i || n != dgram_len(i) || first_bad(buf + sizeof num, (unsigned)i, sizeof num, n - sizeof num) !=
                                                 n - sizeof num)
            sd->bad++;
        atomic_fetch_add(sd->received, 1);
    }
    return NULL;
}

static void udp_endpoint_sends_in_one_thread_and_receives_in_another(void)
{
    const int count = 3000;
    sk_udp *a, *b;
    sk_addr ba;
    pthread_t te, ts, tr;
    struct udp_echo e;
    struct udp_side snd, rcv;
    atomic_int received;

    CHECK(sk_udp_bind(&a, "127.0.0.1", 0) == SK_OK, "bind a");
    CHECK(sk_udp_bind(&b, "127.0.0.1", 0) == SK_OK, "bind b");
    CHECK(sk_udp_local_addr(b, &ba) == SK_OK, "local address");
    atomic_init(&received, 0);
    e = (struct udp_echo){.u = b, .count = count};
    snd = (struct udp_side){.u = a, .peer = ba, .count = count, .received = &received};
    rcv = (struct udp_side){.u = a, .peer = ba, .count = count, .received = &received};
    CHECK(pthread_create(&te, NULL, udp_echo_thread, &e) == 0, "echo thread");
    CHECK(pthread_create(&tr, NULL, udp_recv_thread, &rcv) == 0, "receiving thread");
    CHECK(pthread_create(&ts, NULL, udp_send_thread, &snd) == 0, "sending thread");
    pthread_join(ts, NULL);
    pthread_join(tr, NULL);
    pthread_join(te, NULL);
    CHECK(snd.rc == SK_OK, "sending thread: %s", sk_errname(snd.rc));
    CHECK(rcv.rc == SK_OK, "receiving thread: %s after %d datagrams", sk_errname(rcv.rc), atomic_load(&received));
    CHECK(e.rc == SK_OK, "echo thread: %s", sk_errname(e.rc));
    CHECK(atomic_load(&received) == count, "%d of %d datagrams came back", atomic_load(&received), count);
    CHECK(rcv.bad == 0, "%d datagrams came back wrong or out of order", rcv.bad);
    sk_udp_close(a);
    sk_udp_close(b);
}

/* ------------------------------------------------------------------ main */

#define CASE(f) {#f, f, 1}
static const struct test_case cases[] = {
    CASE(full_duplex_transfers_with_a_sending_and_a_receiving_thread_on_each_endpoint),
    CASE(shutdown_from_a_third_thread_wakes_the_receiver_then_the_sender_with_exact_counts),
    CASE(shutdown_rdwr_wakes_a_blocked_sender_and_a_blocked_receiver_at_once),
    CASE(repeated_shutdowns_during_transfers_always_end_them_cleanly),
    CASE(cancel_from_a_third_thread_wakes_a_blocked_sender_and_receiver_with_exact_counts),
    CASE(repeated_cancels_during_transfers_always_end_them_with_counts_that_add_up),
    CASE(connect_cancelled_from_another_thread_always_returns_ecanceled),
    CASE(udp_endpoint_sends_in_one_thread_and_receives_in_another),
};

int main(int argc, char **argv)
{
    return run_cases("threads", cases, sizeof cases / sizeof cases[0], argc, argv, 240);
}
