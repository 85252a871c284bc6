/* Helpers shared by the record tests (tests/test_tcp_records.c and
 * tests/test_faults_records.c): byte patterns, gather lists and the peers that check
 * them. Test code only; include after testutil.h with LONG_MS defined. */
#ifndef SK_RECORDS_UTIL_H
#define SK_RECORDS_UTIL_H

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A byte that depends on its position and a seed, so lost, doubled or reordered bytes
 * show. */
static unsigned char pat(size_t i, unsigned seed)
{
    uint32_t x = (uint32_t)(i + seed * 7919u) * 2654435761u;
    return (unsigned char)((x >> 24) ^ (x >> 11) ^ i ^ seed);
}

static unsigned char *pattern(size_t n, unsigned seed)
{
    unsigned char *b = malloc(n ? n : 1);
    cr_assert_not_null(b);
    for (size_t i = 0; i < n; i++)
        b[i] = pat(i, seed);
    return b;
}

#define assert_same_bytes(got, want, len) tu_assert_same_bytes((got), (want), (len))

/* The concatenation of a gather list (malloc'd; *total receives its length). */
static unsigned char *concat(const sk_iovec *iov, size_t cnt, size_t *total)
{
    size_t n = 0, at = 0;
    unsigned char *out;
    for (size_t i = 0; i < cnt; i++)
        n += iov[i].len;
    out = malloc(n ? n : 1);
    cr_assert_not_null(out);
    for (size_t i = 0; i < cnt; i++) {
        if (iov[i].len > 0)
            memcpy(out + at, iov[i].base, iov[i].len);
        at += iov[i].len;
    }
    *total = n;
    return out;
}

/* Walks a gather list byte by byte, to check a received stream against it without
 * building the (possibly huge) concatenation. */
struct iov_cursor {
    const sk_iovec *iov;
    size_t cnt, idx, off, pos;
};

static void cursor_check(struct iov_cursor *c, const unsigned char *got, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        while (c->idx < c->cnt && c->off == c->iov[c->idx].len) {
            c->idx++;
            c->off = 0;
        }
        cr_assert_lt(c->idx, c->cnt, "received more bytes (%zu) than the gather list holds", c->pos + i + 1);
        unsigned char want = ((const unsigned char *)c->iov[c->idx].base)[c->off];
        if (got[i] != want)
            cr_assert_fail("stream byte %zu (buffer %zu, offset %zu) is 0x%02x, expected 0x%02x", c->pos + i,
                           c->idx, c->off, got[i], want);
        c->off++;
    }
    c->pos += n;
}

/* Everything the peer sends until it closes, checked against the gather list from its
 * first byte; returns the count. */
static size_t drain_against(sk_tcp *conn, const sk_iovec *iov, size_t cnt)
{
    struct iov_cursor cur = {iov, cnt, 0, 0, 0};
    size_t cap = 1 << 16, got = 0;
    unsigned char *buf = malloc(cap);
    int rc;
    cr_assert_not_null(buf);
    for (;;) {
        rc = sk_tcp_recv(conn, buf, cap, &got, LONG_MS);
        if (rc != SK_OK)
            break;
        cr_assert(got >= 1 && got <= cap, "sk_tcp_recv gave SK_OK with %zu bytes", got);
        cursor_check(&cur, buf, got);
    }
    free(buf);
    cr_assert_eq(rc, SK_ECLOSED, "draining ended with %s after %zu bytes", sk_errname(rc), cur.pos);
    cr_assert_eq(got, 0);
    return cur.pos;
}

/* n uneven buffers, half a MiB to 1.5 MiB each, cut from pool (2 MiB) at shifting
 * offsets: about n MiB in all, far more than the socket buffers take. Returns the
 * total. */
static size_t uneven_buffers(sk_iovec *iov, size_t n, const unsigned char *pool)
{
    const size_t mib = (size_t)1 << 20;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = mib / 2 + (i * 7919) % mib + (i % 3);
        iov[i].base = pool + (i * 104729) % (2 * mib - len);
        iov[i].len = len;
        total += len;
    }
    return total;
}

/* sk_tcp_send_allv of the whole list (total bytes) to a peer that does not read: it
 * must time out, not before budget_ms, having sent some but not all. Returns what it
 * says it sent. */
static size_t allv_times_out(sk_tcp *conn, const sk_iovec *iov, size_t cnt, size_t total, int budget_ms)
{
    size_t sent = 12345;
    int64_t t0 = tu_now_ms();
    int rc = sk_tcp_send_allv(conn, iov, cnt, &sent, budget_ms);
    cr_assert_eq(rc, SK_ETIMEDOUT, "got %s after %zu of %zu bytes", sk_errname(rc), sent, total);
    cr_assert_eq(errno, ETIMEDOUT);
    tu_assert_took(t0, budget_ms);
    cr_assert(sent > 0 && sent < total, "send_allv reports %zu of %zu bytes sent", sent, total);
    return sent;
}

/* Closes the sender and both ends after checking that the reader finds exactly the
 * first `sent` bytes of the list, then end of stream. */
static void peer_gets_exactly(sk_tcp *sender, sk_tcp *reader, const sk_iovec *iov, size_t cnt, size_t sent)
{
    sk_tcp_close(sender);
    size_t drained = drain_against(reader, iov, cnt);
    cr_assert_eq(drained, sent, "the peer received %zu bytes, send_allv reported %zu", drained, sent);
    sk_tcp_close(reader);
}

static void send_text(sk_tcp *conn, const void *text, size_t len)
{
    tu_send_ok(conn, text, len, LONG_MS);
}

#define SEND_LIT(conn, lit) send_text((conn), (lit), sizeof(lit) - 1)

/* The peer's bytes of one small send are all there: a small send on loopback is one
 * segment, so readable means all of it; give the kernel a moment anyway. poll is
 * counted by the fault shim, so tests that count calls use it before setting their
 * mode. */
static void wait_arrived(sk_tcp *conn)
{
    tu_wait_fd(sk_tcp_fd(conn), POLLIN, LONG_MS);
    tu_sleep_ms(20);
}

/* One sk_tcp_recv_until call that must give rc and exactly the bytes want. */
static void expect_until(sk_tcp *conn, int delim, size_t cap, int timeout_ms, int want_rc, const void *want,
                         size_t want_len)
{
    char *buf = malloc(cap);
    size_t len = 12345;
    int rc;
    cr_assert_not_null(buf);
    rc = sk_tcp_recv_until(conn, delim, buf, cap, &len, timeout_ms);
    cr_assert_eq(rc, want_rc, "sk_tcp_recv_until: %s, expected %s (%zu bytes stored)", sk_errname(rc),
                 sk_errname(want_rc), len);
    cr_assert_eq(len, want_len, "sk_tcp_recv_until stored %zu bytes, expected %zu", len, want_len);
    assert_same_bytes(buf, want, want_len);
    free(buf);
}

#define EXPECT_LINE(conn, cap, rc, lit) expect_until((conn), '\n', (cap), LONG_MS, (rc), (lit), sizeof(lit) - 1)

#endif /* SK_RECORDS_UTIL_H */
