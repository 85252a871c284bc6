/* sk_bench: the libsockkit side of each workload, written as a user of the library
 * writes it: every call gets a budget (r->opt, normally 5000 ms; SK_FOREVER in the
 * "forever" variant), and every result is checked. */
#include "bench.h"

#include <stdio.h>
#include <string.h>

#include <sockkit.h>

#define HOST "127.0.0.1"

static int sk_fail(struct bench_run *r, const char *what, int rc)
{
    return bench_fail(r, "%s: %s (%s)", what, sk_errname(rc), sk_strerror(rc));
}

static int close_fail(struct bench_run *r, sk_tcp *c, const char *what, int rc)
{
    sk_tcp_close(c);
    return sk_fail(r, what, rc);
}

static int connect_peer(struct bench_run *r, sk_tcp **c)
{
    int rc = sk_tcp_connect(c, HOST, r->peer_port, BENCH_TIMEOUT_MS);
    return rc == SK_OK ? 0 : sk_fail(r, "sk_tcp_connect", rc);
}

int sk_bulk_send(struct bench_run *r)
{
    const unsigned char *pat = bench_pattern();
    uint64_t off = 0, ack = 0;
    sk_tcp *c;
    int rc;
    if (connect_peer(r, &c) != 0)
        return -1;
    bench_start(r);
    for (uint64_t i = 0; i < r->n; i++, off += BENCH_CHUNK)
        if ((rc = sk_tcp_send_all(c, pat + off % BENCH_PERIOD, BENCH_CHUNK, NULL, r->opt)) != SK_OK)
            return close_fail(r, c, "sk_tcp_send_all", rc);
    if ((rc = sk_tcp_shutdown(c, SK_SHUT_WR)) != SK_OK ||
        (rc = sk_tcp_recv_exact(c, &ack, sizeof ack, NULL, r->opt)) != SK_OK)
        return close_fail(r, c, "shutdown/ack", rc);
    bench_stop(r);
    sk_tcp_close(c);
    r->done = off;
    if (ack != off)
        return bench_fail(r, "peer received %llu of %llu bytes", (unsigned long long)ack, (unsigned long long)off);
    return 0;
}

int sk_bulk_recv(struct bench_run *r)
{
    static unsigned char buf[BENCH_CHUNK];
    uint64_t total = 0;
    sk_tcp *c;
    int rc;
    if (connect_peer(r, &c) != 0)
        return -1;
    bench_start(r);
    if ((rc = sk_tcp_send_all(c, "g", 1, NULL, r->opt)) != SK_OK)
        return close_fail(r, c, "send go", rc);
    for (;;) {
        size_t got;
        rc = sk_tcp_recv(c, buf, sizeof buf, &got, r->opt);
        if (rc == SK_ECLOSED)
            break;
        if (rc != SK_OK)
            return close_fail(r, c, "sk_tcp_recv", rc);
        if (r->verify && bench_check_bulk(buf, got, total) != 0) {
            sk_tcp_close(c);
            return bench_fail(r, "bulk data differ after byte %llu", (unsigned long long)total);
        }
        total += got;
    }
    bench_stop(r);
    sk_tcp_close(c);
    r->done = total;
    if (total != r->n * BENCH_CHUNK)
        return bench_fail(r, "received %llu bytes", (unsigned long long)total);
    return 0;
}

int sk_pingpong(struct bench_run *r)
{
    unsigned char out[BENCH_PING], in[BENCH_PING];
    sk_tcp *c;
    int rc;
    if (connect_peer(r, &c) != 0)
        return -1;
    bench_start(r);
    for (uint64_t i = 0; i < r->n; i++) {
        bench_fill_msg(out, sizeof out, i);
        if ((rc = sk_tcp_send_all(c, out, sizeof out, NULL, r->opt)) != SK_OK)
            return close_fail(r, c, "sk_tcp_send_all", rc);
        if ((rc = sk_tcp_recv_exact(c, in, sizeof in, NULL, r->opt)) != SK_OK)
            return close_fail(r, c, "sk_tcp_recv_exact", rc);
        if (memcmp(in, out, sizeof in) != 0) {
            sk_tcp_close(c);
            return bench_fail(r, "echo %llu differs", (unsigned long long)i);
        }
        r->done++;
    }
    bench_stop(r);
    sk_tcp_close(c);
    return 0;
}

int sk_msg_send(struct bench_run *r)
{
    unsigned char m[BENCH_MSG];
    uint64_t ack = 0;
    sk_tcp *c;
    int rc;
    if (connect_peer(r, &c) != 0)
        return -1;
    bench_start(r);
    for (uint64_t i = 0; i < r->n; i++) {
        bench_fill_msg(m, sizeof m, i);
        if ((rc = sk_tcp_send_all(c, m, sizeof m, NULL, r->opt)) != SK_OK)
            return close_fail(r, c, "sk_tcp_send_all", rc);
    }
    if ((rc = sk_tcp_shutdown(c, SK_SHUT_WR)) != SK_OK ||
        (rc = sk_tcp_recv_exact(c, &ack, sizeof ack, NULL, r->opt)) != SK_OK)
        return close_fail(r, c, "shutdown/ack", rc);
    bench_stop(r);
    sk_tcp_close(c);
    r->done = r->n;
    if (ack != r->n)
        return bench_fail(r, "peer counted %llu messages", (unsigned long long)ack);
    return 0;
}

int sk_msg_recv(struct bench_run *r)
{
    unsigned char m[BENCH_MSG];
    sk_tcp *c;
    int rc;
    if (connect_peer(r, &c) != 0)
        return -1;
    bench_start(r);
    if ((rc = sk_tcp_send_all(c, "g", 1, NULL, r->opt)) != SK_OK)
        return close_fail(r, c, "send go", rc);
    for (uint64_t i = 0; i < r->n; i++) {
        if ((rc = sk_tcp_recv_exact(c, m, sizeof m, NULL, r->opt)) != SK_OK)
            return close_fail(r, c, "sk_tcp_recv_exact", rc);
        if (bench_check_msg(m, sizeof m, i) != 0) {
            sk_tcp_close(c);
            return bench_fail(r, "message %llu differs", (unsigned long long)i);
        }
        r->done++;
    }
    bench_stop(r);
    sk_tcp_close(c);
    return 0;
}

int sk_udp_send_(struct bench_run *r)
{
    unsigned char d[BENCH_DGRAM];
    char text[64];
    sk_addr to;
    sk_udp *u;
    int rc;
    snprintf(text, sizeof text, HOST ":%d", r->peer_port);
    if ((rc = sk_addr_parse(&to, text)) != SK_OK)
        return sk_fail(r, "sk_addr_parse", rc);
    rc = r->opt == 0 ? sk_udp_connect(&u, HOST, r->peer_port) : sk_udp_bind(&u, HOST, 0);
    if (rc != SK_OK)
        return sk_fail(r, "sk_udp_connect/bind", rc);
    bench_start(r);
    for (uint64_t i = 0; i < r->n; i++) {
        bench_fill_msg(d, sizeof d, i);
        rc = r->opt == 0 ? sk_udp_send(u, d, sizeof d, BENCH_TIMEOUT_MS)
                         : sk_udp_sendto(u, d, sizeof d, &to, BENCH_TIMEOUT_MS);
        if (rc != SK_OK) {
            sk_udp_close(u);
            return sk_fail(r, "sk_udp_send", rc);
        }
    }
    bench_stop(r);
    r->done = r->n;
    bench_udp_send_markers(r, sk_udp_fd(u));
    sk_udp_close(u);
    return 0;
}

int sk_udp_recv_(struct bench_run *r)
{
    unsigned char d[2048];
    sk_addr me;
    sk_udp *u;
    uint64_t next = 0;
    int rc;
    if ((rc = sk_udp_bind(&u, HOST, 0)) != SK_OK)
        return sk_fail(r, "sk_udp_bind", rc);
    if ((rc = sk_udp_local_addr(u, &me)) != SK_OK) {
        sk_udp_close(u);
        return sk_fail(r, "sk_udp_local_addr", rc);
    }
    if (bench_peer_start(r, sk_addr_port(&me)) != 0) {
        sk_udp_close(u);
        return -1;
    }
    bench_start(r);
    bench_go(r);
    for (;;) {
        size_t got;
        uint64_t seq;
        if ((rc = sk_udp_recv(u, d, sizeof d, &got, BENCH_TIMEOUT_MS)) != SK_OK) {
            sk_udp_close(u);
            return sk_fail(r, "sk_udp_recv", rc);
        }
        r->calls++;
        if (bench_is_marker(d, got))
            break;
        memcpy(&seq, d, sizeof seq);
        if (got != BENCH_DGRAM || seq < next || seq >= r->n || bench_check_msg(d, got, seq) != 0) {
            sk_udp_close(u);
            return bench_fail(r, "datagram %llu (expected >= %llu) differs", (unsigned long long)seq,
                              (unsigned long long)next);
        }
        next = seq + 1;
        r->done++;
    }
    bench_stop(r);
    __atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
    sk_udp_close(u);
    r->extra = r->n - r->done;
    return 0;
}

int sk_accept(struct bench_run *r)
{
    sk_addr me;
    sk_tcp *l;
    int rc;
    if ((rc = sk_tcp_listen(&l, HOST, 0, 0)) != SK_OK)
        return sk_fail(r, "sk_tcp_listen", rc);
    if ((rc = sk_tcp_local_addr(l, &me)) != SK_OK)
        return close_fail(r, l, "sk_tcp_local_addr", rc);
    if (bench_peer_start(r, sk_addr_port(&me)) != 0) {
        sk_tcp_close(l);
        return -1;
    }
    bench_start(r);
    for (uint64_t i = 0; i < r->n; i++) {
        sk_tcp *c;
        if ((rc = sk_tcp_accept(l, &c, r->opt)) != SK_OK)
            return close_fail(r, l, "sk_tcp_accept", rc);
        sk_tcp_close(c);
        r->done++;
    }
    bench_stop(r);
    sk_tcp_close(l);
    return 0;
}

int sk_connect_(struct bench_run *r)
{
    int rc;
    bench_start(r);
    for (uint64_t i = 0; i < r->n; i++) {
        sk_tcp *c;
        if ((rc = sk_tcp_connect(&c, HOST, r->peer_port, r->opt)) != SK_OK)
            return sk_fail(r, "sk_tcp_connect", rc);
        sk_tcp_close(c);
        r->done++;
    }
    bench_stop(r);
    return 0;
}

int sk_reqresp(struct bench_run *r)
{
    unsigned char req[BENCH_REQ_HEAD + BENCH_REQ_BODY], resp[64];
    sk_tcp *c;
    int rc;
    if (connect_peer(r, &c) != 0)
        return -1;
    if (r->opt == 0 && (rc = sk_tcp_set_nodelay(c, 0)) != SK_OK)
        return close_fail(r, c, "sk_tcp_set_nodelay", rc);
    bench_start(r);
    for (uint64_t i = 0; i < r->n; i++) {
        int64_t t = bench_now_ns();
        bench_fill_msg(req, sizeof req, i);
        if ((rc = sk_tcp_send_all(c, req, BENCH_REQ_HEAD, NULL, BENCH_TIMEOUT_MS)) != SK_OK ||
            (rc = sk_tcp_send_all(c, req + BENCH_REQ_HEAD, BENCH_REQ_BODY, NULL, BENCH_TIMEOUT_MS)) != SK_OK)
            return close_fail(r, c, "sk_tcp_send_all", rc);
        if ((rc = sk_tcp_recv_exact(c, resp, sizeof resp, NULL, BENCH_TIMEOUT_MS)) != SK_OK)
            return close_fail(r, c, "sk_tcp_recv_exact", rc);
        if (bench_check_msg(resp, sizeof resp, i) != 0) {
            sk_tcp_close(c);
            return bench_fail(r, "response %llu differs", (unsigned long long)i);
        }
        if (r->lat_us != NULL)
            r->lat_us[i] = (double)(bench_now_ns() - t) / 1e3;
        r->done++;
    }
    bench_stop(r);
    sk_tcp_close(c);
    return 0;
}

/* ------------------------------------------------------------------------------ */
/* The batch APIs of issue 6                                                        */
/* ------------------------------------------------------------------------------ */

int sk_lines(struct bench_run *r)
{
    unsigned char line[2 * BENCH_LINE_1K];
    size_t L = bench_line_len(r);
    sk_tcp *c;
    int rc;
    if (connect_peer(r, &c) != 0)
        return -1;
    bench_start(r);
    if ((rc = sk_tcp_send_all(c, "g", 1, NULL, r->opt)) != SK_OK)
        return close_fail(r, c, "send go", rc);
    for (uint64_t i = 0; i < r->n; i++) {
        size_t len;
        if ((rc = sk_tcp_recv_until(c, '\n', line, sizeof line, &len, r->opt)) != SK_OK)
            return close_fail(r, c, "sk_tcp_recv_until", rc);
        if (bench_check_line_n(line, len, L, i) != 0) {
            sk_tcp_close(c);
            return bench_fail(r, "line %llu differs", (unsigned long long)i);
        }
        r->done++;
    }
    bench_stop(r);
    sk_tcp_close(c);
    return 0;
}

int sk_lines_slice(struct bench_run *r)
{
    size_t L = bench_line_len(r);
    sk_tcp *c;
    int rc;
    if (connect_peer(r, &c) != 0)
        return -1;
    bench_start(r);
    if ((rc = sk_tcp_send_all(c, "g", 1, NULL, r->opt)) != SK_OK)
        return close_fail(r, c, "send go", rc);
    for (uint64_t i = 0; i < r->n; i++) {
        const void *line;
        size_t len;
        if ((rc = sk_tcp_recv_slice(c, '\n', &line, &len, r->opt)) != SK_OK)
            return close_fail(r, c, "sk_tcp_recv_slice", rc);
        if (bench_check_line_n(line, len, L, i) != 0) {
            sk_tcp_close(c);
            return bench_fail(r, "line %llu differs", (unsigned long long)i);
        }
        r->done++;
    }
    bench_stop(r);
    sk_tcp_close(c);
    return 0;
}

int sk_headbody(struct bench_run *r)
{
    unsigned char m[BENCH_MSG];
    uint64_t ack = 0;
    sk_iovec iov[2] = {{m, 8}, {m + 8, sizeof m - 8}};
    sk_tcp *c;
    int rc;
    if (connect_peer(r, &c) != 0)
        return -1;
    bench_start(r);
    for (uint64_t i = 0; i < r->n; i++) {
        bench_fill_msg(m, sizeof m, i);
        if ((rc = sk_tcp_send_allv(c, iov, 2, NULL, r->opt)) != SK_OK)
            return close_fail(r, c, "sk_tcp_send_allv", rc);
    }
    if ((rc = sk_tcp_shutdown(c, SK_SHUT_WR)) != SK_OK ||
        (rc = sk_tcp_recv_exact(c, &ack, sizeof ack, NULL, r->opt)) != SK_OK)
        return close_fail(r, c, "shutdown/ack", rc);
    bench_stop(r);
    sk_tcp_close(c);
    r->done = r->n;
    if (ack != r->n)
        return bench_fail(r, "peer counted %llu messages", (unsigned long long)ack);
    return 0;
}

enum { BATCH_MAX = 64 };

/* n datagrams of size bytes (at most BENCH_DGRAM_BIG) through sk_udp_send_batch,
 * per at a time, to the connected peer, then the end markers. */
static int send_batch_run(struct bench_run *r, size_t size, size_t per)
{
    enum { MAXB = 256 };
    static unsigned char d[MAXB][BENCH_DGRAM_BIG];
    static sk_dgram msgs[MAXB];
    sk_udp *u;
    int rc;
    if (per == 0 || per > MAXB)
        per = MAXB;
    if ((rc = sk_udp_connect(&u, HOST, r->peer_port)) != SK_OK)
        return sk_fail(r, "sk_udp_connect", rc);
    memset(msgs, 0, sizeof msgs); /* empty addresses: the connected peer */
    for (size_t i = 0; i < per; i++) {
        msgs[i].buf = d[i];
        msgs[i].len = size;
    }
    bench_start(r);
    for (uint64_t i = 0; i < r->n;) {
        size_t k = r->n - i < per ? (size_t)(r->n - i) : per, sent;
        for (size_t j = 0; j < k; j++)
            bench_fill_msg(d[j], size, i + j);
        if ((rc = sk_udp_send_batch(u, msgs, k, &sent, BENCH_TIMEOUT_MS)) != SK_OK || sent != k) {
            sk_udp_close(u);
            return rc != SK_OK ? sk_fail(r, "sk_udp_send_batch", rc) : bench_fail(r, "sent %zu of %zu", sent, k);
        }
        i += k;
    }
    bench_stop(r);
    r->done = r->n;
    bench_udp_send_markers(r, sk_udp_fd(u));
    sk_udp_close(u);
    return 0;
}

int sk_udp_send_batch_(struct bench_run *r)
{
    return send_batch_run(r, BENCH_DGRAM, r->opt > 0 && r->opt <= BATCH_MAX ? (size_t)r->opt : BATCH_MAX);
}

/* Datagrams of size bytes from the peer into sk_udp_recv_batch, per a call, each
 * checked, until an end marker; rcvbuf > 0 sets the receive buffer first, and gro turns
 * UDP_GRO on (where the system lacks it, said once and measured without). */
static int recv_batch_run(struct bench_run *r, size_t size, size_t per, int rcvbuf, int gro)
{
    static unsigned char d[BATCH_MAX][2048];
    static sk_dgram msgs[BATCH_MAX];
    static int said;
    sk_addr me;
    sk_udp *u;
    uint64_t next = 0;
    int rc;
    memset(msgs, 0, sizeof msgs);
    for (size_t i = 0; i < BATCH_MAX; i++) {
        msgs[i].buf = d[i];
        msgs[i].len = sizeof d[i];
    }
    if ((rc = sk_udp_bind(&u, HOST, 0)) != SK_OK)
        return sk_fail(r, "sk_udp_bind", rc);
    if (rcvbuf > 0 && (rc = sk_udp_set_recv_buffer(u, rcvbuf)) != SK_OK) {
        sk_udp_close(u);
        return sk_fail(r, "sk_udp_set_recv_buffer", rc);
    }
    if (gro && (rc = sk_udp_set_gro(u, 1)) != SK_OK && !said++)
        fprintf(stderr, "sk_bench: sk_udp_set_gro: %s: measured without GRO\n", sk_errname(rc));
    if ((rc = sk_udp_local_addr(u, &me)) != SK_OK) {
        sk_udp_close(u);
        return sk_fail(r, "sk_udp_local_addr", rc);
    }
    if (bench_peer_start(r, sk_addr_port(&me)) != 0) {
        sk_udp_close(u);
        return -1;
    }
    bench_start(r);
    bench_go(r);
    for (int end = 0; !end;) {
        size_t got;
        if ((rc = sk_udp_recv_batch(u, msgs, per, &got, BENCH_TIMEOUT_MS)) != SK_OK) {
            sk_udp_close(u);
            return sk_fail(r, "sk_udp_recv_batch", rc);
        }
        r->calls++;
        for (size_t i = 0; i < got && !end; i++) {
            uint64_t seq;
            if (bench_is_marker(d[i], msgs[i].received)) {
                end = 1;
                break;
            }
            memcpy(&seq, d[i], sizeof seq);
            if (msgs[i].truncated || msgs[i].received != size || msgs[i].full_len != size || seq < next ||
                seq >= r->n || bench_check_msg(d[i], msgs[i].received, seq) != 0) {
                sk_udp_close(u);
                return bench_fail(r, "datagram %llu (expected >= %llu) differs", (unsigned long long)seq,
                                  (unsigned long long)next);
            }
            next = seq + 1;
            r->done++;
        }
    }
    bench_stop(r);
    __atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
    sk_udp_close(u);
    r->extra = r->n - r->done;
    return 0;
}

int sk_udp_recv_batch_(struct bench_run *r)
{
    return recv_batch_run(r, BENCH_DGRAM, r->opt > 0 && r->opt <= BATCH_MAX ? (size_t)r->opt : BATCH_MAX, 0, 0);
}

int sk_udp_burst(struct bench_run *r)
{
    return sk_udp_recv_batch_(r);
}

/* ---- UDP offloads (issue 15) ---------------------------------------------------- */

/* 1200-byte datagrams through sk_udp_send_batch, opt per call, to the connected peer:
 * the library makes UDP_SEGMENT runs of them where the kernel has it. */
int sk_udp_big_send(struct bench_run *r)
{
    return send_batch_run(r, BENCH_DGRAM_BIG, r->opt > 0 ? (size_t)r->opt : 64);
}

/* A burst of 1200-byte datagrams (the peer sends UDP_SEGMENT runs) into
 * sk_udp_recv_batch of 64, with sk_udp_set_gro on when opt is 1. */
int sk_udp_big_burst(struct bench_run *r)
{
    return recv_batch_run(r, BENCH_DGRAM_BIG, BATCH_MAX, BENCH_BURST_RCVBUF, r->opt == 1);
}
