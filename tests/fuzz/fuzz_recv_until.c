/* Fuzz harness: sk_tcp_recv_until and sk_tcp_recv_slice, the line readers, against a model.
 *
 * The input is a delimiter, a buffer size, a call mix and then the stream itself cut
 * into chunks. The harness writes each chunk into one end of a Unix stream connection
 * (so the reader sees exactly the cuts the input chose) and drains the other end with
 * budget 0 after each, then shuts the writer down and reads to the end. A model (the
 * bytes written and how many of them were taken) predicts every outcome:
 *   - SK_OK: the next record, delimiter last, when its delimiter has arrived within
 *     cap bytes;
 *   - SK_ETOOLONG: exactly cap bytes, when cap bytes arrived without a delimiter;
 *   - SK_ETIMEDOUT (before the end) or SK_ECLOSED (after it): everything that arrived
 *     of the record, fewer than cap bytes, taken from the stream;
 * and the bytes stored always equal the stream's next bytes (nothing lost, repeated
 * or reordered), *len is right on failure too, sk_tcp_buffered never exceeds what
 * arrived and is 0 once everything was taken. Some calls are sk_tcp_recv instead
 * (mixing them is allowed): 1 to k bytes, the stream's next ones. Others are
 * sk_tcp_recv_slice, whose model is the same with the read buffer's size for cap,
 * except that a timeout takes nothing (the partial record stays buffered, all of it).
 *
 * Input layout: [delim] [cap code] [mix] then chunks of [length byte] + that many
 * bytes (fewer at the end of the input).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sockkit.h>

#include "fuzz.h"

#define MAX_CAP 4300

static sk_tcp *listener;
static char name[64];

typedef struct model {
    const uint8_t *stream; /* every byte written, in order */
    size_t written;        /* bytes written so far */
    size_t taken;          /* bytes the calls returned so far */
    int delim;
    size_t cap;
} model;

/* One sk_tcp_recv_until call checked against the model; 1 when it took nothing more
 * there is to take now (the drain stops), else 0. */
static int until_once(sk_tcp *r, model *m, uint8_t *buf, int ended)
{
    size_t avail = m->written - m->taken, len = 12345, want;
    const uint8_t *next = m->stream + m->taken;
    const uint8_t *hit = memchr(next, m->delim, avail < m->cap ? avail : m->cap);
    int rc = sk_tcp_recv_until(r, m->delim, buf, m->cap, &len, ended ? SK_FOREVER : 0), expect;

    if (hit != NULL) {
        expect = SK_OK;
        want = (size_t)(hit - next) + 1;
    } else if (avail >= m->cap) {
        expect = SK_ETOOLONG;
        want = m->cap;
    } else {
        expect = ended ? SK_ECLOSED : SK_ETIMEDOUT;
        want = avail;
    }
    FUZZ_CHECK(rc == expect, "recv_until gave %s, the model %s (%zu of %zu bytes taken, %zu arrived, cap %zu)",
               sk_errname(rc), sk_errname(expect), m->taken, m->written, avail, m->cap);
    FUZZ_CHECK(len == want, "recv_until (%s) stored %zu bytes, the model %zu", sk_errname(rc), len, want);
    FUZZ_CHECK(memcmp(buf, next, want) == 0, "recv_until stored other bytes than the stream's next %zu", want);
    m->taken += want;
    FUZZ_CHECK(sk_tcp_buffered(r) <= m->written - m->taken, "%zu buffered, only %zu left", sk_tcp_buffered(r),
               m->written - m->taken);
    if (expect == SK_ETIMEDOUT || expect == SK_ECLOSED) {
        FUZZ_CHECK(sk_tcp_buffered(r) == 0, "%zu still buffered after %s", sk_tcp_buffered(r), sk_errname(rc));
        return 1;
    }
    return 0;
}

/* One sk_tcp_recv_slice call checked against the model; 1 when the drain stops. */
static int slice_once(sk_tcp *r, model *m, int ended)
{
    size_t avail = m->written - m->taken, len = 12345, want, cap = SK_TCP_READ_BUFFER;
    const uint8_t *next = m->stream + m->taken;
    const uint8_t *hit = memchr(next, m->delim, avail < cap ? avail : cap);
    const void *rec = NULL;
    int rc = sk_tcp_recv_slice(r, m->delim, &rec, &len, ended ? SK_FOREVER : 0), expect;

    if (hit != NULL) {
        expect = SK_OK;
        want = (size_t)(hit - next) + 1;
    } else if (avail >= cap) {
        expect = SK_ETOOLONG;
        want = cap;
    } else {
        expect = ended ? SK_ECLOSED : SK_ETIMEDOUT;
        want = ended ? avail : 0;
    }
    FUZZ_CHECK(rc == expect, "recv_slice gave %s, the model %s (%zu of %zu bytes taken, %zu arrived)", sk_errname(rc),
               sk_errname(expect), m->taken, m->written, avail);
    FUZZ_CHECK(len == want, "recv_slice (%s) gave %zu bytes, the model %zu", sk_errname(rc), len, want);
    FUZZ_CHECK(want == 0 ? rec == NULL : rec != NULL && memcmp(rec, next, want) == 0,
               "recv_slice gave other bytes than the stream's next %zu", want);
    m->taken += want;
    if (expect == SK_ETIMEDOUT) {
        FUZZ_CHECK(sk_tcp_buffered(r) == avail, "%zu buffered after a timeout, %zu arrived", sk_tcp_buffered(r), avail);
        return 1;
    }
    FUZZ_CHECK(sk_tcp_buffered(r) <= m->written - m->taken, "%zu buffered, only %zu left", sk_tcp_buffered(r),
               m->written - m->taken);
    if (expect == SK_ECLOSED) {
        FUZZ_CHECK(sk_tcp_buffered(r) == 0, "%zu still buffered after %s", sk_tcp_buffered(r), sk_errname(rc));
        return 1;
    }
    return 0;
}

/* One sk_tcp_recv of up to k bytes; 1 when the drain stops. */
static int recv_once(sk_tcp *r, model *m, uint8_t *buf, size_t k, int ended)
{
    size_t avail = m->written - m->taken, got = 12345;
    int rc = sk_tcp_recv(r, buf, k, &got, ended ? SK_FOREVER : 0);

    if (avail == 0) {
        FUZZ_CHECK(rc == (ended ? SK_ECLOSED : SK_ETIMEDOUT), "recv with nothing left gave %s", sk_errname(rc));
        FUZZ_CHECK(got == 0, "recv with nothing left stored %zu", got);
        return 1;
    }
    FUZZ_CHECK(rc == SK_OK, "recv gave %s with %zu bytes there", sk_errname(rc), avail);
    FUZZ_CHECK(got >= 1 && got <= k && got <= avail, "recv took %zu of %zu (k %zu)", got, avail, k);
    FUZZ_CHECK(memcmp(buf, m->stream + m->taken, got) == 0, "recv stored other bytes than the stream's next %zu", got);
    m->taken += got;
    return 0;
}

/* Calls until one says there is nothing more now; the mix picks which call, from a
 * counter, so that the same input always makes the same calls. */
static void drain(sk_tcp *r, model *m, uint8_t *buf, unsigned mix, unsigned *n, int ended)
{
    for (int calls = 0;; calls++) {
        unsigned c = (*n)++;
        int stop;
        FUZZ_CHECK(calls < 100000, "the drain does not end");
        if ((mix & 0x80) && c % ((mix & 7) + 2) == 0)
            stop = recv_once(r, m, buf, (size_t)((mix >> 3) & 15) + 1, ended);
        else if ((mix & 0x40) && c % (((mix >> 3) & 3) + 1) == 0)
            stop = slice_once(r, m, ended);
        else
            stop = until_once(r, m, buf, ended);
        if (stop)
            return;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t buf[MAX_CAP];
    uint8_t *stream;
    sk_tcp *w = NULL, *r = NULL;
    model m;
    unsigned mix, n = 0;
    size_t at = 3;

    if (size < 3)
        return 0;
    if (listener == NULL) {
        snprintf(name, sizeof name, "@sk-fuzz-recv-until-%ld", (long)getpid());
        FUZZ_CHECK(sk_unix_listen(&listener, name, 16) == SK_OK, "listen on %s", name);
    }
    memset(&m, 0, sizeof m);
    m.delim = data[0];
    /* 1 to 64, or steps of 67 up to 4222: short and long records, across the 8 KiB
     * read buffer and its refills. */
    m.cap = 1 + (size_t)(data[1] & 0x3f) * ((data[1] & 0x40) ? 67 : 1);
    mix = data[2];
    if ((stream = malloc(size)) == NULL)
        return 0;
    m.stream = stream;
    FUZZ_CHECK(sk_unix_connect(&w, name, 5000) == SK_OK, "connect");
    FUZZ_CHECK(sk_tcp_accept(listener, &r, 5000) == SK_OK, "accept");
    while (at < size) {
        size_t len = data[at++], sent = 0;
        if (len > size - at)
            len = size - at;
        memcpy(stream + m.written, data + at, len);
        at += len;
        /* A Unix stream queues every byte at once: the reader sees this cut. */
        FUZZ_CHECK(sk_tcp_send_all(w, stream + m.written, len, &sent, 5000) == SK_OK && sent == len, "send");
        m.written += len;
        drain(r, &m, buf, mix, &n, 0);
    }
    FUZZ_CHECK(sk_tcp_shutdown(w, SK_SHUT_WR) == SK_OK, "shutdown");
    drain(r, &m, buf, mix, &n, 1);
    FUZZ_CHECK(m.taken == m.written, "%zu of %zu bytes taken at the end", m.taken, m.written);
    sk_tcp_close(r);
    sk_tcp_close(w);
    free(stream);
    return 0;
}
