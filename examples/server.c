/* server: the notes' server.py rebuilt on libsockkit.
 *
 *   server [-n count] [host [port]]        (default: localhost 1234)
 *
 * Listens with a queue of one connection and, forever: accepts a client, receives up
 * to 1024 bytes from it (waiting at most 10 s, so a silent client cannot hold the
 * server), prints the message and the client's address, replies "Un saludo, crack\n"
 * and closes that connection. One client at a time, exactly as in the notes.
 *
 * A client that sends nothing, leaves or resets the connection is logged on stderr
 * and the server goes on with the next one. "-n count" stops after that many
 * connections (for tests). Port 0 picks a free port; the address really bound is
 * always printed on stderr as "listening on 127.0.0.1:PORT".
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sockkit.h>

#define GREETING "Un saludo, crack\n"
#define RECV_CAP 1024
#define RECV_TIMEOUT_MS 10000
#define SEND_TIMEOUT_MS 10000

static void usage(FILE *out)
{
    fprintf(out, "usage: server [-n count] [host [port]]   (default: localhost 1234)\n"
                 "       server [-n count] unix:PATH          (a Unix socket; unix:@name: abstract)\n");
}

/* One line on stderr: what failed, the library's error name and its text. For
 * SK_EOS ("any other system error") errno tells the real cause, so show it too. */
static void report(const char *what, int rc, int err)
{
    if (rc == SK_EOS)
        fprintf(stderr, "server: %s: %s (%s: %s)\n", what, sk_errname(rc), sk_strerror(rc), strerror(err));
    else
        fprintf(stderr, "server: %s: %s (%s)\n", what, sk_errname(rc), sk_strerror(rc));
}

/* A whole decimal number in [min, max], or -1. */
static long parse_number(const char *text, long min, long max)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max)
        return -1;
    return v;
}

/* Serves one accepted client; every failure is logged and ends only this client. */
static void serve(sk_tcp *conn)
{
    char data[RECV_CAP];
    char who[SK_ADDR_STRLEN] = "?";
    sk_addr peer;
    size_t got = 0;
    int rc;

    /* Ask for the address first: after a reset the system may no longer know it. */
    if (sk_tcp_peer_addr(conn, &peer) == SK_OK)
        sk_addr_format(&peer, who, sizeof who);

    /* Like recv(1024) in Python: whatever has arrived, at least one byte. */
    rc = sk_tcp_recv(conn, data, sizeof data, &got, RECV_TIMEOUT_MS);
    if (rc == SK_ECLOSED) {
        fprintf(stderr, "server: client %s left without sending anything\n", who);
        return;
    }
    if (rc != SK_OK) {
        char what[SK_ADDR_STRLEN + 32];
        snprintf(what, sizeof what, "receiving from %s", who);
        report(what, rc, errno);
        return;
    }

    /* The bytes are printed as they came (not as a C string: they may hold a NUL). */
    printf("\n[+] Mensaje recibido del cliente: ");
    fwrite(data, 1, got, stdout);
    printf("\n[+] Información del cliente que se ha comunicado con nosotros: %s\n", who);
    fflush(stdout);

    rc = sk_tcp_send_all(conn, GREETING, strlen(GREETING), NULL, SEND_TIMEOUT_MS);
    if (rc != SK_OK) {
        char what[SK_ADDR_STRLEN + 32];
        snprintf(what, sizeof what, "replying to %s", who);
        report(what, rc, errno);
    }
}

int main(int argc, char **argv)
{
    const char *host = "localhost";
    long port = 1234, max_conn = 0; /* 0: serve forever */
    int argi = 1, rc;
    sk_tcp *listener;
    sk_addr local;
    char where[SK_ADDR_STRLEN];

    if (argi < argc && (strcmp(argv[argi], "-h") == 0 || strcmp(argv[argi], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argi < argc && strcmp(argv[argi], "-n") == 0) {
        if (argi + 1 >= argc || (max_conn = parse_number(argv[argi + 1], 1, 1000000000L)) < 0) {
            usage(stderr);
            return 2;
        }
        argi += 2;
    }
    if (argc - argi > 2 || (argi < argc && argv[argi][0] == '-')) {
        usage(stderr);
        return 2;
    }
    if (argi < argc)
        host = argv[argi++];
    if (argi < argc && (port = parse_number(argv[argi++], 0, 65535)) < 0) {
        fprintf(stderr, "server: bad port (0 to 65535)\n");
        usage(stderr);
        return 2;
    }

    /* socket() + bind() + listen(1) of the notes, in one call; "unix:..." is a Unix
     * domain socket, served by the very same code below. */
    if (strncmp(host, "unix:", 5) == 0)
        rc = sk_unix_listen(&listener, host + 5, 1);
    else
        rc = sk_tcp_listen(&listener, host, (int)port, 1);
    if (rc != SK_OK) {
        char what[300];
        snprintf(what, sizeof what, "cannot listen on %.200s port %ld", host, port);
        report(what, rc, errno);
        return 1;
    }
    rc = sk_tcp_local_addr(listener, &local);
    if (rc == SK_OK)
        rc = sk_addr_format(&local, where, sizeof where);
    if (rc != SK_OK) {
        report("local address", rc, errno);
        sk_tcp_close(listener);
        return 1;
    }
    fprintf(stderr, "listening on %s\n", where);
    fflush(stderr);

    long served = 0;
    while (max_conn == 0 || served < max_conn) {
        sk_tcp *conn;
        rc = sk_tcp_accept(listener, &conn, SK_FOREVER);
        if (rc == SK_EMFILE || rc == SK_ENOMEM) {
            /* Out of resources for now: the listener is still good; wait a little. */
            struct timespec pause = { 0, 100 * 1000 * 1000 };
            report("accept", rc, errno);
            nanosleep(&pause, NULL);
            continue;
        }
        if (rc != SK_OK) {
            report("accept", rc, errno);
            sk_tcp_close(listener);
            return 1;
        }
        serve(conn);
        sk_tcp_close(conn);
        served++;
    }
    sk_tcp_close(listener);
    return 0;
}
