/* A sending thread for the record tests (tests/test_tcp_records.c,
 * tests/test_tcp_slice.c): sends a buffer in pieces, a gap apart. Test code only;
 * include after testutil.h with LONG_MS defined. */
#ifndef SK_DRIPPER_H
#define SK_DRIPPER_H

#include <pthread.h>
#include <stdatomic.h>

/* Sends buf in pieces of `piece` bytes, gap_ms apart. */
struct dripper {
    sk_tcp *conn;
    const unsigned char *buf;
    size_t len;
    size_t piece;
    int gap_ms;
    int start_ms;
    atomic_int stop;
    atomic_size_t sent;
    int rc;
};

static inline void *drip_thread(void *p)
{
    struct dripper *d = p;
    size_t at = 0;
    d->rc = SK_OK;
    if (d->start_ms > 0)
        tu_sleep_ms(d->start_ms);
    while (at < d->len && !atomic_load(&d->stop)) {
        size_t n = d->len - at < d->piece ? d->len - at : d->piece, k = 0;
        d->rc = sk_tcp_send_all(d->conn, d->buf + at, n, &k, LONG_MS);
        at += k;
        atomic_store(&d->sent, at);
        if (d->rc != SK_OK)
            break;
        if (d->gap_ms > 0)
            tu_sleep_ms(d->gap_ms);
    }
    return NULL;
}

static inline void drip_start(struct dripper *d, pthread_t *th, sk_tcp *conn, const void *buf, size_t len, size_t piece,
                       int gap_ms)
{
    memset(d, 0, sizeof *d);
    d->conn = conn;
    d->buf = buf;
    d->len = len;
    d->piece = piece;
    d->gap_ms = gap_ms;
    atomic_init(&d->stop, 0);
    atomic_init(&d->sent, 0);
    cr_assert_eq(pthread_create(th, NULL, drip_thread, d), 0);
}

static inline void drip_join(struct dripper *d, pthread_t th)
{
    cr_assert_eq(pthread_join(th, NULL), 0);
    cr_assert_eq(d->rc, SK_OK, "the sending thread failed: %s", sk_errname(d->rc));
}

#endif /* SK_DRIPPER_H */
