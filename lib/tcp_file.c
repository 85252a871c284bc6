/* sk_tcp_sendfile: a file or a pipe sent on a stream without a copy through the
 * program. Regular files (and anything else sendfile(2) reads) go through sendfile,
 * pipes through splice(2), both in the I/O core (io.c, sk__io_file_send); what
 * neither takes (a socket, a terminal) is read and sent, the usual copy loop. */
#include "tcp_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bytes per read of the copy loop. */
#define COPY_CHUNK (64 * 1024)

/* The copy loop, for a source neither sendfile nor splice reads. Every read waits
 * for the source within the budget first (a socket or a terminal may have nothing
 * yet). With no offset, bytes read but not taken by the socket are put back when the
 * source can seek, and lost when it cannot (the documented cost of that case). */
static int copy_loop(sk_tcp *conn, int fd, long long *off, size_t len, size_t *done, sk__deadline *dl)
{
    char *buf = malloc(COPY_CHUNK);
    int rc = SK_OK;

    if (buf == NULL)
        return sk__fail(SK_ENOMEM);
    while (*done < len) {
        size_t want = len - *done < COPY_CHUNK ? len - *done : COPY_CHUNK;
        ssize_t k;
        sk__xfer x;
        if (!sk__deadline_is_forever(dl) && (rc = sk__wait(fd, POLLIN, dl)) != SK_OK)
            break;
        k = off != NULL ? pread(fd, buf, want, (off_t)*off) : read(fd, buf, want);
        if (k < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            rc = errno == ESPIPE ? sk__fail(SK_EINVAL) : sk__map_errno(errno);
            break;
        }
        if (k == 0)
            break; /* the source ended */
        sk__xfer_buf(&x, SK__STREAM_SEND, buf, (size_t)k, 1);
        rc = sk__tcp_run_send(conn, &x, dl, NULL);
        *done += x.done;
        if (off != NULL)
            *off += (long long)x.done;
        else if (x.done < (size_t)k) {
            int err = errno;
            (void)lseek(fd, -(off_t)((size_t)k - x.done), SEEK_CUR);
            errno = err;
        }
        if (rc != SK_OK)
            break;
    }
    free(buf);
    return rc;
}

int sk_tcp_sendfile(sk_tcp *conn, int fd, long long offset, size_t len, size_t *sent, int timeout_ms)
{
    sk__deadline dl;
    struct stat st;
    long long pos = offset, *off = offset >= 0 ? &pos : NULL;
    size_t done = 0, more = 0;
    int rc, kind = SK__FROM_FILE;

    if (sent != NULL)
        *sent = 0;
    if (conn == NULL || conn->listening || fd < 0 || offset < -1)
        return sk__fail(SK_EINVAL);
    if (sk__sock_cancelled(&conn->s))
        return sk__fail(SK_ECANCELED);
    if ((rc = sk__deadline_init(&dl, timeout_ms)) != SK_OK)
        return rc;
    /* A pipe goes to splice, from where it is: an offset in it means nothing. */
    if (fstat(fd, &st) != 0)
        return sk__map_errno(errno);
    if (S_ISFIFO(st.st_mode)) {
        if (off != NULL)
            return sk__fail(SK_EINVAL);
        kind = SK__FROM_PIPE;
    }
    rc = sk__tcp_send_code(conn, sk__io_file_send(&conn->s, fd, kind, off, len, &done, &dl));
    if (rc == SK__IO_UNSUPPORTED) {
        rc = copy_loop(conn, fd, off, len, &more, &dl);
        done += more;
    }
    if (sent != NULL)
        *sent = done;
    return rc;
}
