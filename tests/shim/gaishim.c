/* A resolver stand-in for tests, loaded with LD_PRELOAD: getaddrinfo for names under
 * ".sk-test" behaves as the name says, every other name goes to the real resolver.
 *   slowN.sk-test      sleeps N milliseconds, then resolves as "127.0.0.1"
 *   again.sk-test      fails with EAI_AGAIN (a name server that does not answer)
 *   fail.sk-test       fails with EAI_FAIL
 *   noname.sk-test     fails with EAI_NONAME
 * sk_gaishim_last_tid() tells which thread made the last call, and
 * sk_gaishim_running() how many calls are inside getaddrinfo now (the tests find both
 * with dlsym). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dlfcn.h>
#include <netdb.h>
#include <stdatomic.h>
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
