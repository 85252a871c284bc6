/* The inside of an sk_tcp, for the files that implement the TCP calls only: tcp.c
 * (connections, listeners, transfers), tcp_life.c (how a connection ends, and
 * the options that decide when a dead one is noticed), tcp_file.c (files and pipes
 * sent without a copy), tcp_splice.c (socket to socket) and unix.c. */
#ifndef SOCKKIT_TCP_IMPL_H
#define SOCKKIT_TCP_IMPL_H

#include "internal.h"

struct sk_tcp {
    sk__sock s;
    int listening;
    int local;     /* an AF_UNIX stream: the calls that mean TCP refuse it */
    sk__unix_file file; /* a listener's socket file, removed at close */
    int shut;      /* SK_SHUT_* bits this end asked for; atomic: any thread may set them */
    sk__rbuf rb;   /* read-ahead of sk_tcp_recv_until: SK_TCP_READ_BUFFER bytes, or none */
    size_t rb_cap; /* rb.buf's size once sk_tcp_splice grew it (0: SK_TCP_READ_BUFFER) */
    int spipe[2];  /* sk_tcp_splice from here: its pipe (made by the first call), or -1 */
    sk__preg preg; /* registration with a poller */
    /* Listeners only, read and written with relaxed atomics (threads may accept on one
     * listener together; a stale value costs a system call, never a wrong result):
     * whether accepted sockets inherit the listener's TCP_NODELAY (SK__INHERIT_*), and
     * how the last accepts that could wait went (sk_tcp_accept). */
    int nodelay_inherit;
    unsigned accept_waited;
};

enum { SK__INHERIT_UNKNOWN = 0, SK__INHERIT_YES = 1, SK__INHERIT_NO = 2 };

/* Runs a send transfer on conn (tcp.c): EPIPE after our own shutdown is SK_ECLOSED,
 * not a broken connection. *sent (when not NULL) gets x->done. */
int sk__tcp_run_send(sk_tcp *conn, sk__xfer *x, sk__deadline *dl, size_t *sent);
/* The same rule for a count and code from elsewhere (sk__io_file_send). */
int sk__tcp_send_code(const sk_tcp *conn, int rc);

#endif /* SOCKKIT_TCP_IMPL_H */
