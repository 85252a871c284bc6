/* Fuzz harness: descriptor passing's control messages (lib/compat.c sk__cmsg_next and
 * sk__each_received_fd; lib/unix.c sk_unix_recv_fds and sk_unix_dgram_recv_fds).
 *
 * The first byte chooses one of three modes.
 *
 * Parser, raw (mode & 3 == 0): the rest of the input is the control buffer itself, in
 * a heap block of exactly msg_controllen bytes (so AddressSanitizer sees any read past
 * it). Parser, built (mode & 3 == 1): the input describes messages (level and type,
 * a count of ints, a cmsg_len off by -16..+15 from the right one or a wild value,
 * padding or none) and a cut of the finished buffer; every int holds its own offset
 * in the buffer. For both, a model walks the buffer by offsets and predicts every
 * descriptor sk__each_received_fd reports, in order, and whether it says a message
 * was cut. Checked: the same descriptors in the same order, the same cut flag; each
 * message sk__cmsg_next returns has its data wholly inside the buffer; in the built
 * buffers, every descriptor reported that is a data int lies after a header and
 * within msg_controllen.
 *
 * Passing (mode & 3 >= 2): rounds of one sk_unix_send_fds (or sk_unix_dgram_send_fds)
 * of 0 to 31, or 240 to 255, descriptors of /dev/null with 1 to 8 bytes, and one
 * sk_unix_recv_fds (or the datagram twin) with room for 0 to 31 or more than
 * SK_UNIX_MAX_FDS, and a data buffer of 1 to 8 bytes. Checked against the contract:
 * more than SK_UNIX_MAX_FDS is SK_EINVAL and sends nothing; all of them fit: SK_OK and
 * every one arrives, the same file, close-on-exec; they do not fit (or a datagram was
 * cut): SK_ETRUNCATED and none handed out; the bytes are the ones sent; and after
 * the rounds (up to 16) the number of open descriptors is what it was (nothing leaks,
 * and the library closes nothing of ours).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sockkit.h>

#include "compat.h"
#include "fuzz.h"

#define MAX_REPORTED 4096

/* ---- the parser ------------------------------------------------------------------ */

typedef struct seen {
    int fd[MAX_REPORTED];
    size_t n;
} seen;

static void record(int fd, void *arg)
{
    seen *s = arg;
    FUZZ_CHECK(s->n < MAX_REPORTED, "more descriptors than the buffer has ints");
    s->fd[s->n++] = fd;
}

/* The model: the messages one after the other, each at the previous one's offset plus
 * its length rounded up to the header's alignment; a header is read only when it fits
 * whole; cmsg_len below the header's own length ends the walk (malformed); a message
 * that claims more than is left is cut at the end (and is the last); the ints of an
 * SCM_RIGHTS message are those that lie wholly inside it and inside the buffer. */
static int model(const unsigned char *buf, size_t end, seen *want)
{
    const size_t hdr = CMSG_LEN(0);
    size_t off = 0;
    while (off + sizeof(struct cmsghdr) <= end) {
        struct cmsghdr h;
        size_t claimed, stop, rounded;
        memcpy(&h, buf + off, sizeof h);
        claimed = (size_t)h.cmsg_len;
        if (claimed < hdr)
            return 0;
        stop = claimed <= end - off ? off + claimed : end;
        if (h.cmsg_level == SOL_SOCKET && h.cmsg_type == SCM_RIGHTS)
            for (size_t at = off + hdr; at + sizeof(int) <= stop; at += sizeof(int)) {
                FUZZ_CHECK(want->n < MAX_REPORTED, "model overflow");
                memcpy(&want->fd[want->n++], buf + at, sizeof(int));
            }
        if (claimed > end - off)
            return 1;
        /* CMSG_SPACE of the data: the length rounded up to CMSG_ALIGN's unit. */
        rounded = CMSG_SPACE(claimed - hdr);
        if (rounded > end - off)
            return 0;
        off += rounded;
    }
    return 0;
}

static void parse_check(const unsigned char *buf, size_t len, int offsets)
{
    unsigned char *ctl = len ? malloc(len) : NULL;
    struct msghdr m;
    seen *got = calloc(1, sizeof *got), *want = calloc(1, sizeof *want);
    struct cmsghdr h;
    const unsigned char *data;
    size_t off = 0, dlen;
    int cut = 0, model_cut, lib_cut;

    FUZZ_CHECK(got != NULL && want != NULL && (len == 0 || ctl != NULL), "out of memory");
    if (len)
        memcpy(ctl, buf, len);
    memset(&m, 0, sizeof m);
    m.msg_control = ctl;
    m.msg_controllen = len;

    while ((data = sk__cmsg_next(&m, &off, &h, &dlen, &cut)) != NULL) {
        FUZZ_CHECK(data >= ctl + CMSG_LEN(0) && data + dlen <= ctl + len,
                   "a message's data [%td, %td) is outside the buffer of %zu", data - ctl, data + dlen - ctl, len);
        FUZZ_CHECK(off <= len, "the walk went to offset %zu of %zu", off, len);
    }
    lib_cut = sk__each_received_fd(&m, record, got);
    model_cut = model(ctl, len, want);
    FUZZ_CHECK(lib_cut == model_cut, "cut %d, the model %d", lib_cut, model_cut);
    FUZZ_CHECK(lib_cut == cut, "sk__each_received_fd says cut %d, sk__cmsg_next %d", lib_cut, cut);
    FUZZ_CHECK(got->n == want->n, "%zu descriptors reported, the model %zu", got->n, want->n);
    for (size_t i = 0; i < got->n; i++) {
        FUZZ_CHECK(got->fd[i] == want->fd[i], "descriptor %zu: %d, the model %d", i, got->fd[i], want->fd[i]);
        if (offsets && ((unsigned)got->fd[i] >> 24) == 0x5a) {
            /* Built buffers: each data int of an SCM_RIGHTS message holds its offset,
             * marked 0x5a in its top byte (a message claiming more than its data reaches
             * into the next one's header: those ints are reported too, as the model says). */
            size_t at = (size_t)(got->fd[i] & 0xffff);
            FUZZ_CHECK(at >= CMSG_LEN(0) && at + sizeof(int) <= len, "descriptor %zu lay at %zu of %zu", i, at, len);
        }
    }
    /* Empty and NULL buffers: nothing. */
    m.msg_controllen = 0;
    FUZZ_CHECK(sk__each_received_fd(&m, record, got) == 0, "cut in an empty buffer");
    free(ctl);
    free(got);
    free(want);
}

/* The built mode: messages from a description, then a cut. */
static void parse_built(const uint8_t *d, size_t n)
{
    static const int kinds[4][2] = {{SOL_SOCKET, SCM_RIGHTS}, {SOL_SOCKET, SCM_RIGHTS + 1}, {17, 104},
                                    {0x7fffffff, SCM_RIGHTS}};
    unsigned char *buf = calloc(1, 64 * 1024);
    size_t len = 0, at = 0, cut;
    FUZZ_CHECK(buf != NULL, "out of memory");
    while (at + 3 <= n && len < 60 * 1024) {
        unsigned k = d[at] & 3, ints = d[at + 1] & 63, tweak = d[at + 2];
        size_t right = CMSG_LEN(ints * sizeof(int)), clen, space = CMSG_SPACE(ints * sizeof(int));
        struct cmsghdr h;
        at += 3;
        if (tweak == 0xff)
            clen = (size_t)1 << 30;
        else if (tweak == 0xfe)
            clen = 0;
        else if (tweak == 0xfd)
            clen = (size_t)-1;
        else
            clen = right + (size_t)(tweak & 15) - (size_t)((tweak >> 4) & 15);
        memset(&h, 0, sizeof h);
        h.cmsg_level = kinds[k][0];
        h.cmsg_type = kinds[k][1];
        h.cmsg_len = clen; /* size_t in glibc, socklen_t elsewhere: cut there like the system's */
        if (len + space > 64 * 1024)
            break;
        memcpy(buf + len, &h, sizeof h);
        for (size_t i = 0; i < ints; i++) {
            size_t o = len + CMSG_LEN(0) + i * sizeof(int);
            int v = (int)o | (k == 0 ? 0x5a000000 : 0);
            memcpy(buf + o, &v, sizeof v);
        }
        /* Bit 6 of the kind byte: no padding after it (a buffer's last message). */
        len += (d[at - 3] & 0x40) ? right : space;
    }
    cut = at < n ? d[at] : 0;
    if (cut > len)
        cut = len;
    parse_check(buf, len - cut, 1);
    free(buf);
}

/* ---- passing descriptors --------------------------------------------------------- */

static sk_tcp *stream_tx, *stream_rx;
static sk_udp *dgram_tx, *dgram_rx;
static sk_addr dgram_to;
static int null_fd = -1;

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;
    FUZZ_CHECK(d != NULL, "/proc/self/fd");
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

static void setup(void)
{
    char name[64];
    sk_tcp *l;
    if (null_fd >= 0)
        return;
    FUZZ_CHECK((null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0, "/dev/null");
    snprintf(name, sizeof name, "@sk-fuzz-cmsg-%ld", (long)getpid());
    FUZZ_CHECK(sk_unix_listen(&l, name, 4) == SK_OK, "listen");
    FUZZ_CHECK(sk_unix_connect(&stream_tx, name, 5000) == SK_OK, "connect");
    FUZZ_CHECK(sk_tcp_accept(l, &stream_rx, 5000) == SK_OK, "accept");
    sk_tcp_close(l);
    FUZZ_CHECK(sk_unix_dgram_bind(&dgram_rx, "") == SK_OK, "dgram bind");
    FUZZ_CHECK(sk_udp_local_addr(dgram_rx, &dgram_to) == SK_OK, "dgram addr");
    FUZZ_CHECK(sk_unix_dgram_bind(&dgram_tx, "") == SK_OK, "dgram bind");
}

static int same_file(int a, int b)
{
    struct stat x, y;
    return fstat(a, &x) == 0 && fstat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

static void pass_round(const uint8_t *r)
{
    static int fds[256], got[SK_UNIX_MAX_FDS + 8];
    const char msg[8] = {'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'};
    int dgram = r[0] & 1, rc;
    /* 0-31, or 240-255 (not 253: musl's sendmsg refuses more than 1024 control bytes). */
    size_t nfds = (r[0] & 0x80) ? 240 + (r[0] & 15) : (r[0] >> 1) & 31;
    size_t cap = (r[1] & 0x80) ? SK_UNIX_MAX_FDS + (r[1] & 7) : r[1] & 31;
    size_t len = (size_t)(r[2] & 7) + 1, room = (size_t)((r[2] >> 3) & 7) + 1;
    size_t nf = 777, n = 777;
    char buf[8];

    if (nfds == SK_UNIX_MAX_FDS)
        nfds--;
    for (size_t i = 0; i < nfds; i++)
        fds[i] = null_fd;
    if (dgram)
        rc = sk_unix_dgram_send_fds(dgram_tx, msg, len, &dgram_to, fds, nfds, 1000);
    else
        rc = sk_unix_send_fds(stream_tx, msg, len, fds, nfds, NULL, 1000);
    if (nfds > SK_UNIX_MAX_FDS) {
        FUZZ_CHECK(rc == SK_EINVAL, "%zu descriptors: %s", nfds, sk_errname(rc));
        return;
    }
    FUZZ_CHECK(rc == SK_OK, "send of %zu descriptors: %s", nfds, sk_errname(rc));
    if (dgram)
        rc = sk_unix_dgram_recv_fds(dgram_rx, buf, room, &n, NULL, got, cap, &nf, 1000);
    else
        rc = sk_unix_recv_fds(stream_rx, buf, room, &n, got, cap, &nf, 1000);
    if (nfds <= (cap < SK_UNIX_MAX_FDS ? cap : SK_UNIX_MAX_FDS) && (!dgram || len <= room)) {
        FUZZ_CHECK(rc == SK_OK, "%zu descriptors, room for %zu, %zu bytes into %zu: %s", nfds, cap, len, room,
                   sk_errname(rc));
        FUZZ_CHECK(nf == nfds, "%zu of %zu descriptors", nf, nfds);
        for (size_t i = 0; i < nf; i++) {
            FUZZ_CHECK(same_file(got[i], null_fd), "descriptor %zu is another file", i);
            FUZZ_CHECK(fcntl(got[i], F_GETFD) & FD_CLOEXEC, "descriptor %zu is not close-on-exec", i);
            close(got[i]);
        }
    } else {
        FUZZ_CHECK(rc == SK_ETRUNCATED, "%zu descriptors, room for %zu, %zu bytes into %zu: %s", nfds, cap, len,
                   room, sk_errname(rc));
        FUZZ_CHECK(nf == 0, "%zu descriptors handed out on a truncation", nf);
    }
    FUZZ_CHECK(n >= 1 && n <= room && n <= len && memcmp(buf, msg, n) == 0, "%zu bytes, other than sent", n);
    if (!dgram && n < len) { /* the rest of the stream's bytes, which carry nothing */
        size_t more = 0;
        FUZZ_CHECK(sk_tcp_recv_exact(stream_rx, buf, len - n, &more, 1000) == SK_OK, "the rest of the bytes");
        FUZZ_CHECK(memcmp(buf, msg + n, len - n) == 0, "other bytes than sent");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    switch (data[0] & 3) {
    case 0:
        parse_check(data + 1, size - 1, 0);
        break;
    case 1:
        parse_built(data + 1, size - 1);
        break;
    default:
    {
        int before;
        setup();
        before = count_fds();
        for (size_t at = 1; at + 3 <= size && at < 1 + 3 * 16; at += 3)
            pass_round(data + at);
        FUZZ_CHECK(count_fds() == before, "%d descriptors open after the rounds, %d before", count_fds(), before);
        break;
    }
    }
    return 0;
}
