/* Helpers shared by the UDP tests (tests/test_udp.c, tests/test_udp_batch.c):
 * endpoints on ephemeral ports and addresses from and to text. Test code only;
 * include after testutil.h. */
#ifndef SK_UDP_UTIL_H
#define SK_UDP_UTIL_H

#include <stdio.h>

/* An endpoint bound to host (NULL: every address) on an ephemeral port. */
static inline sk_udp *bind_on(const char *host)
{
    sk_udp *u = NULL;
    int rc = sk_udp_bind(&u, host, 0);
    cr_assert_eq(rc, SK_OK, "sk_udp_bind(%s, 0): %s", host ? host : "NULL", sk_errname(rc));
    cr_assert_not_null(u);
    return u;
}

/* The endpoint's local address, which has a port by now. */
static inline sk_addr local_of(const sk_udp *u)
{
    sk_addr a;
    cr_assert_eq(sk_udp_local_addr(u, &a), SK_OK);
    cr_assert_gt(sk_addr_port(&a), 0, "no port was picked");
    return a;
}

static inline sk_addr addr_of(const char *text)
{
    sk_addr a;
    cr_assert_eq(sk_addr_parse(&a, text), SK_OK, "%s", text);
    return a;
}

static inline void text_of(const sk_addr *a, char buf[SK_ADDR_STRLEN])
{
    cr_assert_eq(sk_addr_format(a, buf, SK_ADDR_STRLEN), SK_OK);
}

/* The address that fmt ("127.0.0.1:%d", "[::1]:%d") makes with port. */
static inline sk_addr loopback(const char *fmt, int port)
{
    char t[64];
    snprintf(t, sizeof t, fmt, port);
    return addr_of(t);
}

#endif /* SK_UDP_UTIL_H */
