/* client: the notes' client.py rebuilt on libsockkit.
 *
 *   client [host [port [message]]]     (default: localhost 1234 and the notes' message)
 *
 * Connects (giving up after 5 s), sends the whole message, receives up to 1024 bytes
 * of reply (waiting at most 10 s), prints it and closes the connection.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sockkit.h>

#define DEFAULT_MESSAGE "Este es un mensaje de prueba que estoy enviando al servidor"
#define CONNECT_TIMEOUT_MS 5000
#define SEND_TIMEOUT_MS 10000
#define RECV_TIMEOUT_MS 10000
#define RECV_CAP 1024

static void usage(FILE *out)
{
    fprintf(out, "usage: client [host [port [message]]]   (default: localhost 1234)\n");
}

/* One line on stderr: what failed, the library's error name and its text. For
 * SK_EOS ("any other system error") errno tells the real cause, so show it too. */
static void report(const char *what, int rc, int err)
{
    if (rc == SK_EOS)
        fprintf(stderr, "client: %s: %s (%s: %s)\n", what, sk_errname(rc), sk_strerror(rc), strerror(err));
    else
        fprintf(stderr, "client: %s: %s (%s)\n", what, sk_errname(rc), sk_strerror(rc));
}

int main(int argc, char **argv)
{
    const char *host = "localhost", *message = DEFAULT_MESSAGE;
    long port = 1234;
    char data[RECV_CAP], what[300];
    size_t got = 0;
    sk_tcp *conn;
    int rc;

    if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc > 4 || (argc > 1 && argv[1][0] == '-')) {
        usage(stderr);
        return 2;
    }
    if (argc > 1)
        host = argv[1];
    if (argc > 2) {
        char *end;
        errno = 0;
        port = strtol(argv[2], &end, 10);
        if (errno != 0 || end == argv[2] || *end != '\0' || port < 1 || port > 65535) {
            fprintf(stderr, "client: bad port (1 to 65535)\n");
            usage(stderr);
            return 2;
        }
    }
    if (argc > 3)
        message = argv[3];

    /* socket() + connect() of the notes, bounded in time. */
    rc = sk_tcp_connect(&conn, host, (int)port, CONNECT_TIMEOUT_MS);
    if (rc != SK_OK) {
        snprintf(what, sizeof what, "cannot connect to %.200s port %ld", host, port);
        report(what, rc, errno);
        return 1;
    }

    /* The notes' try/finally: from here on, every path closes the connection. */
    rc = sk_tcp_send_all(conn, message, strlen(message), NULL, SEND_TIMEOUT_MS);
    if (rc != SK_OK) {
        report("sending the message", rc, errno);
        sk_tcp_close(conn);
        return 1;
    }
    /* Like recv(1024) in Python: whatever has arrived, at least one byte. */
    rc = sk_tcp_recv(conn, data, sizeof data, &got, RECV_TIMEOUT_MS);
    if (rc == SK_ECLOSED) {
        fprintf(stderr, "client: the server closed the connection without replying\n");
        sk_tcp_close(conn);
        return 1;
    }
    if (rc != SK_OK) {
        report("receiving the reply", rc, errno);
        sk_tcp_close(conn);
        return 1;
    }

    printf("\n[+] El servidor nos ha respondido con este mensaje: ");
    fwrite(data, 1, got, stdout);
    printf("\n");
    sk_tcp_close(conn);
    return fflush(stdout) == 0 ? 0 : 1;
}
