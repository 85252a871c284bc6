/* A resolver stand-in for tests, loaded with LD_PRELOAD: getaddrinfo for names under
 * ".sk-test" behaves as the name says, every other name goes to the real resolver.
 *   slowN.sk-test      sleeps N milliseconds, then resolves as "127.0.0.1"
 *   again.sk-test      fails with EAI_AGAIN (a name server that does not answer)
 *   fail.sk-test       fails with EAI_FAIL
 *   noname.sk-test     fails with EAI_NONAME
 *   addrs-T-T-...sk-test  resolves to a chosen list, in that order, each T an address
 *                      with the port asked for: "6" is ::1, a number N is 127.0.0.N
 *                      ("addrs-6-6-2-3.sk-test": ::1, ::1, 127.0.0.2, 127.0.0.3), for
 *                      the Happy Eyeballs tests
 * sk_gaishim_last_tid() tells which thread made the last call, and
 * sk_gaishim_running() how many calls are inside getaddrinfo now (the tests find both
 * with dlsym). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dlfcn.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SHIM_EXPORT __attribute__((visibility("default")))

typedef int (*gai_fn)(const char *, const char *, const struct addrinfo *, struct addrinfo **);

static atomic_long last_tid;
static atomic_int running;

SHIM_EXPORT long sk_gaishim_last_tid(void)
{
    return atomic_load(&last_tid);
}

SHIM_EXPORT int sk_gaishim_running(void)
{
    return atomic_load(&running);
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* The list an "addrs-" name stands for (spec: its tokens up to ".sk-test"), made of
 * the real resolver's numeric entries chained together (glibc frees a list node by
 * node, so the chain frees as one). */
static int chosen_list(gai_fn real, const char *spec, const char *service, const struct addrinfo *hints,
                       struct addrinfo **res)
{
    struct addrinfo h = hints ? *hints : (struct addrinfo){ 0 };
    struct addrinfo *head = NULL, **tail = &head;
    h.ai_flags |= AI_NUMERICHOST;
    h.ai_family = AF_UNSPEC;
    while (*spec != '.' && *spec != '\0') {
        char text[32];
        struct addrinfo *one;
        int rc;
        if (*spec == '6') {
            strcpy(text, "::1");
            spec++;
        } else {
            char *end;
            long n = strtol(spec, &end, 10);
            if (end == spec || n < 1 || n > 254)
                break;
            snprintf(text, sizeof text, "127.0.0.%ld", n);
            spec = end;
        }
        if (*spec == '-')
            spec++;
        if ((rc = real(text, service, &h, &one)) != 0) {
            if (head != NULL)
                freeaddrinfo(head);
            return rc;
        }
        *tail = one;
        while (*tail != NULL)
            tail = &(*tail)->ai_next;
    }
    if (head == NULL)
        return EAI_NONAME;
    *res = head;
    return 0;
}

SHIM_EXPORT int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                            struct addrinfo **res)
{
    static gai_fn real;
    int rc;

    if (real == NULL) {
        void *p = dlsym(RTLD_NEXT, "getaddrinfo");
        memcpy(&real, &p, sizeof p); /* (ISO C has no object-to-function cast) */
    }
    atomic_store(&last_tid, (long)syscall(SYS_gettid));
    if (node == NULL || !has_suffix(node, ".sk-test"))
        return real(node, service, hints, res);
    if (hints != NULL && (hints->ai_flags & AI_NUMERICHOST))
        return EAI_NONAME; /* not a numeric address: what the real one says */
    if (strcmp(node, "again.sk-test") == 0)
        return EAI_AGAIN;
    if (strcmp(node, "fail.sk-test") == 0)
        return EAI_FAIL;
    if (strncmp(node, "addrs-", 6) == 0)
        return chosen_list(real, node + 6, service, hints, res);
    if (strncmp(node, "slow", 4) != 0)
        return EAI_NONAME;
    atomic_fetch_add(&running, 1);
    {
        long ms = strtol(node + 4, NULL, 10);
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) != 0) {
        }
    }
    {
        struct addrinfo h = hints ? *hints : (struct addrinfo){ 0 };
        h.ai_flags &= ~AI_NUMERICHOST;
        rc = real("127.0.0.1", service, &h, res);
    }
    atomic_fetch_sub(&running, 1);
    return rc;
}
