/* A program outside the library's tree: built by tests/consumer/run.sh against the
 * installed headers and libraries (pkg-config and find_package(sockkit)). It uses the
 * API for real and exits 0 only when everything worked. */
#include <sockkit.h>

#include <stdio.h>
#include <string.h>

static int fail(const char *what, int rc)
{
    fprintf(stderr, "app: %s: %s (%s)\n", what, sk_errname(rc), sk_strerror(rc));
    return 1;
}

int main(void)
{
    static const char ping[] = "ping through the installed libsockkit";
    static const char pong[] = "pong";
    char buf[sizeof ping];
    char text[SK_ADDR_STRLEN];
    sk_tcp *listener = NULL, *client = NULL, *server = NULL;
    sk_addr addr;
    size_t done = 0;
    int rc, status = 1;

    printf("libsockkit %s (headers %s)\n", sk_version_string(), SK_VERSION_STRING);
    if (sk_version() != SK_VERSION_NUMBER) {
        fprintf(stderr, "app: library version %#x, headers %#x\n", sk_version(), (unsigned)SK_VERSION_NUMBER);
        return 1;
    }
    if (strcmp(sk_version_string(), SK_VERSION_STRING) != 0) {
        fprintf(stderr, "app: library version \"%s\", headers \"%s\"\n", sk_version_string(), SK_VERSION_STRING);
        return 1;
    }

    if ((rc = sk_tcp_listen(&listener, "127.0.0.1", 0, 1)) != SK_OK)
        return fail("listen on 127.0.0.1:0", rc);
    if ((rc = sk_tcp_local_addr(listener, &addr)) != SK_OK) {
        fail("local address", rc);
        goto out;
    }
    if ((rc = sk_addr_format(&addr, text, sizeof text)) != SK_OK) {
        fail("format address", rc);
        goto out;
    }
    printf("listening on %s\n", text);

    if ((rc = sk_tcp_connect(&client, "127.0.0.1", sk_addr_port(&addr), 5000)) != SK_OK) {
        fail("connect", rc);
        goto out;
    }
    if ((rc = sk_tcp_accept(listener, &server, 5000)) != SK_OK) {
        fail("accept", rc);
        goto out;
    }

    if ((rc = sk_tcp_send_all(client, ping, sizeof ping, &done, 5000)) != SK_OK || done != sizeof ping) {
        fail("send_all", rc);
        goto out;
    }
    memset(buf, 0, sizeof buf);
    if ((rc = sk_tcp_recv_exact(server, buf, sizeof ping, &done, 5000)) != SK_OK || done != sizeof ping ||
        memcmp(buf, ping, sizeof ping) != 0) {
        fail("recv_exact", rc);
        goto out;
    }
    if ((rc = sk_tcp_send_all(server, pong, sizeof pong, &done, 5000)) != SK_OK || done != sizeof pong) {
        fail("send_all (reply)", rc);
        goto out;
    }
    memset(buf, 0, sizeof buf);
    if ((rc = sk_tcp_recv_exact(client, buf, sizeof pong, &done, 5000)) != SK_OK || done != sizeof pong ||
        memcmp(buf, pong, sizeof pong) != 0) {
        fail("recv_exact (reply)", rc);
        goto out;
    }
    printf("exchanged \"%s\" / \"%s\" over loopback\n", ping, pong);
    status = 0;

out:
    sk_tcp_close(server);
    sk_tcp_close(client);
    sk_tcp_close(listener);
    return status;
}
