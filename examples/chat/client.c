/* chat-client: talk to chat-server from a terminal (or a pipe).
 *
 *   chat-client host port
 *
 * Lines typed on standard input go to the server; lines from the server (other people's
 * lines, joins and departures) are printed as they come. One thread waits in poll() on
 * both standard input and the socket, so neither side ever waits for the other.
 *
 * Sending never blocks either: what the socket does not take at once (sk_tcp_send with
 * timeout 0 takes what fits now) is kept, and standard input is not read again until it
 * is gone. So a client that types (or pipes) a lot keeps printing what arrives, and the
 * server never has to drop it for not reading.
 *
 * End of input: the client sends what is left, shuts down its sending half (the server
 * sees end of stream and says goodbye to the others), prints what still arrives until
 * the server closes, for at most DRAIN_MS, and exits 0.
 * The server going away first (it closed or reset the connection): a message on
 * standard error and exit status 1. Failing to connect: exit status 1 with the
 * library's error name, e.g. "SK_ECONNREFUSED". Wrong arguments: usage, status 2. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sockkit.h>

#define CONNECT_TIMEOUT_MS 10000
#define DRAIN_MS 2000
#define BUF_SIZE 16384

static void usage(FILE *to)
{
    fprintf(to, "usage: chat-client host port\n");
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Standard output is a terminal or a pipe: write all of it, blocking if need be. */
static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t k = write(fd, p, len);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += k;
        len -= (size_t)k;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static char in[BUF_SIZE], from_server[BUF_SIZE];
    size_t pending = 0, off = 0; /* bytes of `in` still to send, from in[off] */
    int input_done = 0, shut = 0, rc, port;
    int64_t drain_until = 0;
    char *end;
    long v;
    sk_tcp *conn;

    if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc != 3) {
        usage(stderr);
        return 2;
    }
    errno = 0;
    v = strtol(argv[2], &end, 10);
    if (errno != 0 || end == argv[2] || *end != '\0' || v < 1 || v > 65535) {
        usage(stderr);
        return 2;
    }
    port = (int)v;

    rc = sk_tcp_connect(&conn, argv[1], port, CONNECT_TIMEOUT_MS);
    if (rc != SK_OK) {
        fprintf(stderr, "chat-client: cannot connect to %s port %d: %s (%s)\n", argv[1], port,
                sk_errname(rc), sk_strerror(rc));
        return 1;
    }

    for (;;) {
        struct pollfd pfd[2];
        int timeout = -1;

        /* Read more input only once the last piece has gone. */
        pfd[0].fd = (!input_done && pending == 0) ? STDIN_FILENO : -1;
        pfd[0].events = POLLIN;
        pfd[0].revents = 0;
        pfd[1].fd = sk_tcp_fd(conn);
        pfd[1].events = (short)(POLLIN | (pending > 0 ? POLLOUT : 0));
        pfd[1].revents = 0;
        if (shut) {
            int64_t left = drain_until - now_ms();
            if (left <= 0)
                break; /* the server did not close in time: we are done anyway */
            timeout = (int)left;
        }

        if (poll(pfd, 2, timeout) < 0) {
            if (errno == EINTR)
                continue;
            perror("chat-client: poll");
            sk_tcp_close(conn);
            return 1;
        }

        if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            size_t n;
            rc = sk_tcp_recv(conn, from_server, sizeof from_server, &n, 0);
            if (rc == SK_OK) {
                if (write_all(STDOUT_FILENO, from_server, n) != 0) {
                    perror("chat-client: standard output");
                    sk_tcp_close(conn);
                    return 1;
                }
            } else if (rc == SK_ECLOSED && shut) {
                break; /* the server's goodbye after ours: the normal end */
            } else if (rc != SK_ETIMEDOUT) {
                fprintf(stderr, "chat-client: the server went away: %s (%s)\n",
                        rc == SK_ECLOSED ? "it closed the connection" : sk_errname(rc),
                        sk_strerror(rc));
                sk_tcp_close(conn);
                return 1;
            }
        }

        if (pfd[0].fd >= 0 && (pfd[0].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))) {
            ssize_t k = read(STDIN_FILENO, in, sizeof in);
            if (k > 0) {
                pending = (size_t)k;
                off = 0;
            } else if (k == 0) {
                input_done = 1;
            } else if (errno != EINTR && errno != EAGAIN) {
                perror("chat-client: standard input");
                input_done = 1;
            }
        }

        if (pending > 0) {
            /* What fits now; the rest waits for POLLOUT. */
            size_t sent;
            rc = sk_tcp_send(conn, in + off, pending, &sent, 0);
            if (rc == SK_OK) {
                off += sent;
                pending -= sent;
            } else if (rc != SK_ETIMEDOUT) {
                fprintf(stderr, "chat-client: the server went away: %s (%s)\n", sk_errname(rc),
                        sk_strerror(rc));
                sk_tcp_close(conn);
                return 1;
            }
        }

        if (input_done && pending == 0 && !shut) {
            /* Our end of stream tells the server we are leaving; keep printing what it
             * still sends until it closes. */
            rc = sk_tcp_shutdown(conn, SK_SHUT_WR);
            if (rc != SK_OK) {
                fprintf(stderr, "chat-client: the server went away: %s (%s)\n", sk_errname(rc),
                        sk_strerror(rc));
                sk_tcp_close(conn);
                return 1;
            }
            shut = 1;
            drain_until = now_ms() + DRAIN_MS;
        }
    }
    sk_tcp_close(conn);
    return 0;
}
