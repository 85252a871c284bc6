/* A test-only fault-injection layer, loaded with LD_PRELOAD: short transfers, EINTR and
 * signal storms, spurious EAGAIN and spurious wake-ups on IPv4/IPv6 sockets (and, with
 * "unix", on the Unix sockets a test marks by name), and failed allocations. See faultshim.h for the modes and the control interface. Every real
 * function is reached through dlsym(RTLD_NEXT, ...); the shim's own helpers use only
 * calls it does not interpose (getsockname, getpeername, getsockopt, fcntl, memmem,
 * clock_gettime, and the real poll through its pointer) and never allocate, so it never recurses. State is
 * atomics (and one spin lock for the allocation table): any thread may call in.
 * read/write/readv/writev are not interposed: libsockkit does not use them on sockets
 * (it calls send, recv, sendto, recvfrom, sendmsg, recvmsg, sendmmsg, recvmmsg, poll,
 * epoll_wait, accept4 and connect; sendfile and splice for sk_tcp_sendfile). */
#undef _FORTIFY_SOURCE /* our definitions of recv, poll... must not meet inline wrappers */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "faultshim.h"

#define SHIM_EXPORT __attribute__((visibility("default")))

enum fn_id { F_SEND, F_RECV, F_SENDTO, F_RECVFROM, F_SENDMSG, F_RECVMSG, F_POLL, F_ACCEPT4, F_CONNECT,
             F_SENDMMSG, F_RECVMMSG, F_EPOLL_WAIT, F_ACCEPT, F_SENDFILE, F_SPLICE,
             F_RECV_CHK, F_RECVFROM_CHK, F_POLL_CHK, F_EPOLL_CTL, F_CLOSE, F_N };
#define F_COUNTED F_RECV_CHK /* the _chk twins are counted as their plain function; the
                                functions after them are not counted at all */

static const char *const fn_names[F_N] = {
    "send", "recv", "sendto", "recvfrom", "sendmsg", "recvmsg", "poll", "accept4", "connect",
    "sendmmsg", "recvmmsg", "epoll_wait", "accept", "sendfile", "splice",
    "__recv_chk", "__recvfrom_chk", "__poll_chk", "epoll_ctl", "close",
};

#define MODE_SHORT 1u
#define MODE_EINTR 2u
#define MODE_EAGAIN 4u
#define MODE_WAKEUP 8u
#define MODE_UNIX 16u

static atomic_int g_active;          /* 0: pure pass-through, nothing counted */
static atomic_uint g_mode;           /* MODE_* bits */
static atomic_uint g_every = 4;      /* "eintr=N" */
static atomic_uint g_eagain_every = 4; /* "eagain=N" */
static atomic_uint g_wakeup_every = 4; /* "wakeup=N" */
static atomic_int g_interrupt_ms;    /* "interrupt=MS", 0 when off */
static atomic_ulong g_calls[F_COUNTED], g_eintr[F_COUNTED], g_short[F_COUNTED];
static atomic_ulong g_eagain[F_COUNTED], g_early[F_COUNTED], g_false[F_COUNTED];
static atomic_ulong g_tick[F_COUNTED], g_tick_eagain[F_COUNTED], g_tick_wakeup[F_COUNTED];
static atomic_ulong g_seq;
static _Atomic(void *) g_real[F_N];

_Static_assert(sizeof(void *) == sizeof(void (*)(void)), "function and object pointers differ in size");

/* ------------------------------------------------------------------ real functions */

static void *real_sym(enum fn_id f)
{
    void *p = atomic_load_explicit(&g_real[f], memory_order_acquire);
    if (p == NULL) {
        int saved = errno;
        p = dlsym(RTLD_NEXT, fn_names[f]);
        errno = saved;
        atomic_store_explicit(&g_real[f], p, memory_order_release);
    }
    return p;
}

/* ISO C has no conversion from void * to a function pointer: copy the bits. */
#define REAL(type, f, var)                                                                \
    type var;                                                                             \
    do {                                                                                  \
        void *p_ = real_sym(f);                                                           \
        if (p_ == NULL) {                                                                 \
            errno = ENOSYS;                                                               \
            return -1;                                                                    \
        }                                                                                 \
        memcpy(&var, &p_, sizeof var);                                                    \
    } while (0)

typedef ssize_t (*send_fn)(int, const void *, size_t, int);
typedef ssize_t (*recv_fn)(int, void *, size_t, int);
/* glibc's own parameter types (a transparent union under _GNU_SOURCE), so that the
 * definitions below match the prototypes exactly. */
typedef ssize_t (*sendto_fn)(int, const void *, size_t, int, __CONST_SOCKADDR_ARG, socklen_t);
typedef ssize_t (*recvfrom_fn)(int, void *, size_t, int, __SOCKADDR_ARG, socklen_t *);
typedef ssize_t (*sendmsg_fn)(int, const struct msghdr *, int);
typedef ssize_t (*recvmsg_fn)(int, struct msghdr *, int);
typedef int (*poll_fn)(struct pollfd *, nfds_t, int);
typedef int (*accept4_fn)(int, __SOCKADDR_ARG, socklen_t *, int);
typedef int (*accept_fn)(int, __SOCKADDR_ARG, socklen_t *);
typedef int (*connect_fn)(int, __CONST_SOCKADDR_ARG, socklen_t);
typedef ssize_t (*recv_chk_fn)(int, void *, size_t, size_t, int);
typedef ssize_t (*recvfrom_chk_fn)(int, void *, size_t, size_t, int, __SOCKADDR_ARG, socklen_t *);
typedef int (*poll_chk_fn)(struct pollfd *, nfds_t, int, size_t);
typedef int (*sendmmsg_fn)(int, struct mmsghdr *, unsigned int, int);
typedef int (*recvmmsg_fn)(int, struct mmsghdr *, unsigned int, int, struct timespec *);
typedef int (*epoll_wait_fn)(int, struct epoll_event *, int, int);
typedef int (*epoll_ctl_fn)(int, int, int, struct epoll_event *);
typedef int (*close_fn)(int);
typedef ssize_t (*sendfile_fn)(int, int, off_t *, size_t);
typedef ssize_t (*splice_fn)(int, loff_t *, int, loff_t *, size_t, unsigned int);

/* ------------------------------------------------------------------ helpers */

enum kind { K_OTHER, K_STREAM, K_DGRAM };

/* Does a Unix socket name (a path, or an abstract name: sun_path[0] == 0) carry the
 * mark SK_FAULTSHIM_UNIX_MARK? */
static int unix_name_marked(const struct sockaddr_storage *ss, socklen_t sl)
{
    const struct sockaddr_un *su = (const struct sockaddr_un *)ss;
    size_t off = offsetof(struct sockaddr_un, sun_path), n, mark = sizeof SK_FAULTSHIM_UNIX_MARK - 1;
    if (ss->ss_family != AF_UNIX || sl <= off)
        return 0;
    n = (size_t)sl - off;
    if (n > sizeof su->sun_path)
        n = sizeof su->sun_path;
    return memmem(su->sun_path, n, SK_FAULTSHIM_UNIX_MARK, mark) != NULL;
}

/* A Unix socket is the shim's under "unix" when its own name or its peer's is marked
 * (a listener, what it accepted, a client connected to it; a datagram socket bound to
 * a marked name or connected to one). */
static int unix_marked(int fd, const struct sockaddr_storage *own, socklen_t own_len)
{
    struct sockaddr_storage peer;
    socklen_t pl = sizeof peer;
    if (!(atomic_load_explicit(&g_mode, memory_order_relaxed) & MODE_UNIX))
        return 0;
    if (unix_name_marked(own, own_len))
        return 1;
    return getpeername(fd, (struct sockaddr *)&peer, &pl) == 0 && unix_name_marked(&peer, pl);
}

/* Is fd an IPv4/IPv6 socket (or a marked Unix socket, under "unix"), and of which
 * type? Streams are SOCK_STREAM; datagram and seqpacket sockets are never clamped.
 * Keeps errno. */
static enum kind sock_kind(int fd)
{
    int saved = errno;
    enum kind k = K_OTHER;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (fd >= 0 && getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
        (ss.ss_family == AF_INET || ss.ss_family == AF_INET6 ||
         (ss.ss_family == AF_UNIX && unix_marked(fd, &ss, sl)))) {
        int type = 0;
        socklen_t tl = sizeof type;
        k = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_STREAM ? K_STREAM : K_DGRAM;
    }
    errno = saved;
    return k;
}

static unsigned long next_random(void)
{
    /* splitmix64 over a shared counter: thread-safe, deterministic per process. */
    uint64_t z = (uint64_t)atomic_fetch_add_explicit(&g_seq, 1, memory_order_relaxed) + 0x9E3779B97F4A7C15u;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return (unsigned long)(z ^ (z >> 31));
}

/* The length a "short" transfer may move: 1..7, never more than asked. */
static size_t short_len(enum fn_id f, size_t len)
{
    size_t lim;
    if (!(atomic_load_explicit(&g_mode, memory_order_relaxed) & MODE_SHORT) || len <= 1)
        return len;
    lim = 1 + next_random() % 7;
    if (lim >= len)
        return len;
    atomic_fetch_add_explicit(&g_short[f], 1, memory_order_relaxed);
    return lim;
}

/* Does this call get the "eintr" treatment? Counts the call's tick either way. */
static int eintr_pick(enum fn_id f)
{
    unsigned every;
    if (!(atomic_load_explicit(&g_mode, memory_order_relaxed) & MODE_EINTR))
        return 0;
    every = atomic_load_explicit(&g_every, memory_order_relaxed);
    return atomic_fetch_add_explicit(&g_tick[f], 1, memory_order_relaxed) % every == 0;
}

static int fail_eintr(enum fn_id f)
{
    atomic_fetch_add_explicit(&g_eintr[f], 1, memory_order_relaxed);
    errno = EINTR;
    return -1;
}

/* Does this call get a spurious EAGAIN ("eagain")? The 1st, N+1st... of the calls of
 * each function that "eintr" did not take (so that with both modes the first call is
 * interrupted and the second finds nothing). */
static int eagain_pick(enum fn_id f)
{
    unsigned every;
    if (!(atomic_load_explicit(&g_mode, memory_order_relaxed) & MODE_EAGAIN))
        return 0;
    every = atomic_load_explicit(&g_eagain_every, memory_order_relaxed);
    return atomic_fetch_add_explicit(&g_tick_eagain[f], 1, memory_order_relaxed) % every == 0;
}

static int fail_eagain(enum fn_id f)
{
    atomic_fetch_add_explicit(&g_eagain[f], 1, memory_order_relaxed);
    errno = EAGAIN;
    return -1;
}

/* Does this wait get a spurious wake-up ("wakeup")? Returns 0, or 1 for an early
 * return with nothing (only for a wait that may wait: timeout != 0), or 2 for readiness
 * that is not there; the two kinds alternate. */
static int wakeup_pick(enum fn_id f, int timeout)
{
    unsigned every;
    unsigned long t;
    if (!(atomic_load_explicit(&g_mode, memory_order_relaxed) & MODE_WAKEUP))
        return 0;
    every = atomic_load_explicit(&g_wakeup_every, memory_order_relaxed);
    t = atomic_fetch_add_explicit(&g_tick_wakeup[f], 1, memory_order_relaxed);
    if (t % every != 0)
        return 0;
    return (t / every) % 2 == 0 && timeout != 0 ? 1 : 2;
}

/* The longest a call on fd may block, in ms: -1 without limit, 0 when it cannot. */
static int blocking_ms(int fd, int flags, int optname)
{
    int saved = errno, fl, ms = 0;
    if (!(flags & MSG_DONTWAIT) && (fl = fcntl(fd, F_GETFL)) >= 0 && !(fl & O_NONBLOCK)) {
        struct timeval tv;
        socklen_t tl = sizeof tv;
        if (getsockopt(fd, SOL_SOCKET, optname, &tv, &tl) != 0)
            ms = -1;
        else if (tv.tv_sec == 0 && tv.tv_usec == 0)
            ms = -1;
        else if (tv.tv_sec >= INT_MAX / 1000 - 1)
            ms = INT_MAX;
        else
            ms = (int)(tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000);
    }
    errno = saved;
    return ms;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The real poll on one descriptor, keeping errno: > 0 ready, 0 not within ms. */
static int poll_one(int fd, short events, int ms)
{
    int saved = errno, n;
    struct pollfd p;
    void *vp = real_sym(F_POLL);
    poll_fn real_poll;
    if (vp == NULL)
        return 1;
    memcpy(&real_poll, &vp, sizeof real_poll);
    p.fd = fd;
    p.events = events;
    p.revents = 0;
    n = real_poll(&p, 1, ms);
    errno = saved;
    return n;
}

/* "interrupt=MS": how long a transfer on fd may run before the storm's signal comes,
 * 0 when it runs untouched (it cannot block, or its own timeout is MS or less). */
static int storm_ms(int fd, int flags, int optname)
{
    int ms = atomic_load_explicit(&g_interrupt_ms, memory_order_relaxed), may;
    if (ms <= 0)
        return 0;
    may = blocking_ms(fd, flags, optname);
    if (may == 0 || (may > 0 && may <= ms))
        return 0;
    return ms;
}

/* Waits for events on fd until end (monotonic ms). Returns 1 when the time is up (the
 * signal came while the call was blocked), 0 to try the call again. */
static int storm_wait(int fd, short events, int64_t end)
{
    int64_t left = end - now_ms();
    if (left <= 0)
        return 1;
    (void)poll_one(fd, events, (int)left);
    return 0;
}

/* A blocking transfer under the storm, as the kernel runs it when a signal comes
 * after MS ms: it moves what it can without waiting (a partial count is what an
 * interrupted blocking transfer returns), waits while it can move nothing, and fails
 * with EINTR when the signal comes before it moved anything. CALL is the transfer
 * with MSG_DONTWAIT added to its flags. */
#define STORM_TRANSFER(f, fd, events, ms, CALL)                                            \
    do {                                                                                  \
        int64_t end_ = now_ms() + (ms);                                                   \
        for (;;) {                                                                        \
            ssize_t r_ = (CALL);                                                          \
            if (r_ >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))                     \
                return r_;                                                                \
            if (storm_wait((fd), (events), end_))                                         \
                return fail_eintr(f);                                                     \
        }                                                                                 \
    } while (0)

static int active(void)
{
    return atomic_load_explicit(&g_active, memory_order_relaxed);
}

static void count_call(enum fn_id f)
{
    atomic_fetch_add_explicit(&g_calls[f], 1, memory_order_relaxed);
}

/* ------------------------------------------------------------------ control */

static int parse_uint(const char *s, size_t n, unsigned *out)
{
    unsigned long v = 0;
    if (n == 0 || n > 7)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    *out = (unsigned)v;
    return 0;
}

static int token_is(const char *t, size_t n, const char *word)
{
    return strlen(word) == n && memcmp(t, word, n) == 0;
}

SHIM_EXPORT int sk_faultshim_set(const char *spec)
{
    unsigned mode = 0, every = 4, eagain_every = 4, wakeup_every = 4, interrupt_ms = 0;
    const char *s = spec != NULL ? spec : "";

    while (*s != '\0') {
        size_t n = strcspn(s, "+,");
        if (token_is(s, n, "none") || token_is(s, n, "off")) {
            /* counting only */
        } else if (token_is(s, n, "short")) {
            mode |= MODE_SHORT;
        } else if (token_is(s, n, "eintr")) {
            mode |= MODE_EINTR;
        } else if (n > 6 && memcmp(s, "eintr=", 6) == 0) {
            if (parse_uint(s + 6, n - 6, &every) != 0 || every == 0)
                return -1;
            mode |= MODE_EINTR;
        } else if (token_is(s, n, "eagain")) {
            mode |= MODE_EAGAIN;
        } else if (n > 7 && memcmp(s, "eagain=", 7) == 0) {
            if (parse_uint(s + 7, n - 7, &eagain_every) != 0 || eagain_every == 0)
                return -1;
            mode |= MODE_EAGAIN;
        } else if (token_is(s, n, "unix")) {
            mode |= MODE_UNIX;
        } else if (token_is(s, n, "wakeup")) {
            mode |= MODE_WAKEUP;
        } else if (n > 7 && memcmp(s, "wakeup=", 7) == 0) {
            if (parse_uint(s + 7, n - 7, &wakeup_every) != 0 || wakeup_every == 0)
                return -1;
            mode |= MODE_WAKEUP;
        } else if (n > 10 && memcmp(s, "interrupt=", 10) == 0) {
            if (parse_uint(s + 10, n - 10, &interrupt_ms) != 0 || interrupt_ms == 0)
                return -1;
        } else if (n != 0) {
            return -1;
        }
        s += n;
        if (*s != '\0')
            s++;
    }
    atomic_store(&g_active, 0);
    for (int f = 0; f < F_COUNTED; f++) {
        atomic_store(&g_calls[f], 0);
        atomic_store(&g_eintr[f], 0);
        atomic_store(&g_short[f], 0);
        atomic_store(&g_tick[f], 0);
        atomic_store(&g_eagain[f], 0);
        atomic_store(&g_early[f], 0);
        atomic_store(&g_false[f], 0);
        atomic_store(&g_tick_eagain[f], 0);
        atomic_store(&g_tick_wakeup[f], 0);
    }
    atomic_store(&g_seq, 0);
    atomic_store(&g_mode, mode);
    atomic_store(&g_every, every);
    atomic_store(&g_eagain_every, eagain_every);
    atomic_store(&g_wakeup_every, wakeup_every);
    atomic_store(&g_interrupt_ms, (int)interrupt_ms);
    atomic_store(&g_active, 1);
    return 0;
}

/* The counter table a prefix names ("eintr", "short", "eagain", "early", "false"), or
 * NULL; "wakeup" is early + false and handled by the caller. */
static atomic_ulong *count_table(const char *prefix, size_t n)
{
    static const struct {
        const char *name;
        atomic_ulong *table;
    } tables[] = {{"calls", g_calls}, {"eintr", g_eintr}, {"short", g_short},
                  {"eagain", g_eagain}, {"early", g_early}, {"false", g_false}};
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
        if (strlen(tables[i].name) == n && memcmp(tables[i].name, prefix, n) == 0)
            return tables[i].table;
    return NULL;
}

static unsigned long count_in(const atomic_ulong *table, const char *fn)
{
    unsigned long sum = 0;
    if (fn == NULL) {
        for (int f = 0; f < F_COUNTED; f++)
            sum += atomic_load(&table[f]);
        return sum;
    }
    for (int f = 0; f < F_COUNTED; f++)
        if (strcmp(fn, fn_names[f]) == 0)
            return atomic_load(&table[f]);
    return (unsigned long)-1;
}

SHIM_EXPORT unsigned long sk_faultshim_count(const char *name)
{
    const char *colon, *fn;
    size_t n;
    atomic_ulong *table;

    if (name == NULL)
        return (unsigned long)-1;
    colon = strchr(name, ':');
    n = colon != NULL ? (size_t)(colon - name) : strlen(name);
    fn = colon != NULL ? colon + 1 : NULL;
    if (n == 6 && memcmp(name, "wakeup", 6) == 0) {
        unsigned long a = count_in(g_early, fn), b = count_in(g_false, fn);
        return a == (unsigned long)-1 || b == (unsigned long)-1 ? (unsigned long)-1 : a + b;
    }
    table = count_table(name, n);
    if (table != NULL)
        return count_in(table, fn);
    if (colon == NULL) /* a bare function name: its calls */
        return count_in(g_calls, name);
    return (unsigned long)-1;
}

static void resolve_alloc(void);
static atomic_int g_alloc_ready;

__attribute__((constructor)) static void shim_init(void)
{
    const char *env;
    /* The real allocation functions, once, before anything is armed. */
    resolve_alloc();
    atomic_store_explicit(&g_alloc_ready, 1, memory_order_release);
    env = getenv("SK_FAULTS");
    if (env != NULL)
        (void)sk_faultshim_set(env);
}

/* ------------------------------------------------------------------ interposed calls */

/* Shared prologue: counts the call, and returns EINTR when "eintr" picks it to fail,
 * EAGAIN when "eagain" does, else 0; *k receives the socket kind (K_OTHER: pass through
 * untouched, uncounted). */
static int prologue(enum fn_id f, int fd, enum kind *k)
{
    *k = active() ? sock_kind(fd) : K_OTHER;
    if (*k == K_OTHER)
        return 0;
    count_call(f);
    if (eintr_pick(f))
        return EINTR;
    if (eagain_pick(f))
        return EAGAIN;
    return 0;
}

/* The failure prologue() picked. */
static int fail_with(enum fn_id f, int err)
{
    return err == EINTR ? fail_eintr(f) : fail_eagain(f);
}

SHIM_EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    enum kind k;
    int e;
    int ms;
    REAL(send_fn, F_SEND, real);
    if ((e = prologue(F_SEND, fd, &k)) != 0)
        return fail_with(F_SEND, e);
    if (k == K_OTHER)
        return real(fd, buf, len, flags);
    if (k == K_STREAM)
        len = short_len(F_SEND, len);
    if ((ms = storm_ms(fd, flags, SO_SNDTIMEO)) > 0)
        STORM_TRANSFER(F_SEND, fd, POLLOUT, ms, real(fd, buf, len, flags | MSG_DONTWAIT));
    return real(fd, buf, len, flags);
}

SHIM_EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    enum kind k;
    int e;
    int ms;
    REAL(recv_fn, F_RECV, real);
    if ((e = prologue(F_RECV, fd, &k)) != 0)
        return fail_with(F_RECV, e);
    if (k == K_OTHER)
        return real(fd, buf, len, flags);
    if (k == K_STREAM)
        len = short_len(F_RECV, len);
    if ((ms = storm_ms(fd, flags, SO_RCVTIMEO)) > 0)
        STORM_TRANSFER(F_RECV, fd, POLLIN, ms, real(fd, buf, len, flags | MSG_DONTWAIT));
    return real(fd, buf, len, flags);
}

SHIM_EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags, __CONST_SOCKADDR_ARG to,
                           socklen_t tolen)
{
    enum kind k;
    int e;
    int ms;
    REAL(sendto_fn, F_SENDTO, real);
    if ((e = prologue(F_SENDTO, fd, &k)) != 0)
        return fail_with(F_SENDTO, e);
    if (k == K_OTHER)
        return real(fd, buf, len, flags, to, tolen);
    if (k == K_STREAM) /* never a datagram: clamping would cut it */
        len = short_len(F_SENDTO, len);
    if ((ms = storm_ms(fd, flags, SO_SNDTIMEO)) > 0)
        STORM_TRANSFER(F_SENDTO, fd, POLLOUT, ms, real(fd, buf, len, flags | MSG_DONTWAIT, to, tolen));
    return real(fd, buf, len, flags, to, tolen);
}

SHIM_EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags, __SOCKADDR_ARG from, socklen_t *fromlen)
{
    enum kind k;
    int e;
    int ms;
    REAL(recvfrom_fn, F_RECVFROM, real);
    if ((e = prologue(F_RECVFROM, fd, &k)) != 0)
        return fail_with(F_RECVFROM, e);
    if (k == K_OTHER)
        return real(fd, buf, len, flags, from, fromlen);
    if (k == K_STREAM) /* never a datagram: clamping would truncate it */
        len = short_len(F_RECVFROM, len);
    if ((ms = storm_ms(fd, flags, SO_RCVTIMEO)) > 0)
        STORM_TRANSFER(F_RECVFROM, fd, POLLIN, ms, real(fd, buf, len, flags | MSG_DONTWAIT, from, fromlen));
    return real(fd, buf, len, flags, from, fromlen);
}

#define SHORT_IOV_MAX 8

/* A copy of msg whose iovecs cover at most a "short" length on a stream socket. */
static void short_msg(enum fn_id f, enum kind k, const struct msghdr *msg, struct msghdr *m, struct iovec *iov)
{
    size_t total = 0, lim, cnt = 0;
    *m = *msg;
    if (k != K_STREAM)
        return;
    for (size_t i = 0; i < (size_t)msg->msg_iovlen; i++)
        total += msg->msg_iov[i].iov_len;
    lim = short_len(f, total);
    if (lim == total)
        return;
    for (size_t i = 0; i < (size_t)msg->msg_iovlen && lim > 0 && cnt < SHORT_IOV_MAX; i++) {
        size_t take = msg->msg_iov[i].iov_len < lim ? msg->msg_iov[i].iov_len : lim;
        if (take == 0)
            continue;
        iov[cnt].iov_base = msg->msg_iov[i].iov_base;
        iov[cnt].iov_len = take;
        cnt++;
        lim -= take;
    }
    m->msg_iov = iov;
    m->msg_iovlen = cnt;
}

/* sendmsg with a control message (SCM_RIGHTS on a Unix stream): a short transfer keeps
 * msg_control as it is, so the descriptors go with the first of the bytes that do go,
 * as with a real partial send; an injected EINTR or EAGAIN sends nothing, descriptors
 * included. */
SHIM_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    enum kind k;
    int e;
    struct msghdr m;
    struct iovec iov[SHORT_IOV_MAX];
    int ms;
    REAL(sendmsg_fn, F_SENDMSG, real);
    if ((e = prologue(F_SENDMSG, fd, &k)) != 0)
        return fail_with(F_SENDMSG, e);
    if (k == K_OTHER || msg == NULL)
        return real(fd, msg, flags);
    short_msg(F_SENDMSG, k, msg, &m, iov);
    if ((ms = storm_ms(fd, flags, SO_SNDTIMEO)) > 0)
        STORM_TRANSFER(F_SENDMSG, fd, POLLOUT, ms, real(fd, &m, flags | MSG_DONTWAIT));
    return real(fd, &m, flags);
}

/* recvmsg on a copy of the header; what the kernel reports goes back to the caller's. */
static ssize_t recvmsg_copy(recvmsg_fn real, int fd, struct msghdr *msg, struct msghdr *m, int flags)
{
    ssize_t r = real(fd, m, flags);
    msg->msg_namelen = m->msg_namelen;
    msg->msg_controllen = m->msg_controllen;
    msg->msg_flags = m->msg_flags;
    return r;
}

/* recvmsg never loses a descriptor: every fault is decided before the real call (an
 * injected EINTR or EAGAIN receives nothing, so the descriptors stay queued in the
 * kernel for the next call) or is a shorter iovec (the kernel hands the descriptors
 * over with the first byte read from their message, however few bytes the call
 * takes; msg_control is never shortened). Whatever the real call returns, count and
 * control message, goes back to the caller unchanged: the shim never takes a result
 * the kernel gave and reports a failure in its place, so it has no descriptor to close. */
SHIM_EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    enum kind k;
    int e;
    struct msghdr m;
    struct iovec iov[SHORT_IOV_MAX];
    int ms;
    REAL(recvmsg_fn, F_RECVMSG, real);
    if ((e = prologue(F_RECVMSG, fd, &k)) != 0)
        return fail_with(F_RECVMSG, e);
    if (k == K_OTHER || msg == NULL)
        return real(fd, msg, flags);
    short_msg(F_RECVMSG, k, msg, &m, iov);
    if ((ms = storm_ms(fd, flags, SO_RCVTIMEO)) > 0)
        STORM_TRANSFER(F_RECVMSG, fd, POLLIN, ms, recvmsg_copy(real, fd, msg, &m, flags | MSG_DONTWAIT));
    return recvmsg_copy(real, fd, msg, &m, flags);
}

SHIM_EXPORT int poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
    int inet = 0, ms, w;
    REAL(poll_fn, F_POLL, real);
    if (active())
        for (nfds_t i = 0; i < nfds && !inet; i++)
            inet = sock_kind(fds[i].fd) != K_OTHER;
    if (!inet)
        return real(fds, nfds, timeout);
    count_call(F_POLL);
    if (eintr_pick(F_POLL))
        return fail_eintr(F_POLL);
    if ((w = wakeup_pick(F_POLL, timeout)) != 0) {
        /* Only a wake-up with nothing really there is spurious: look first. */
        int n = real(fds, nfds, 0);
        if (n != 0)
            return n;
        if (w == 1) {
            atomic_fetch_add_explicit(&g_early[F_POLL], 1, memory_order_relaxed);
            return 0;
        }
        for (nfds_t i = 0; i < nfds; i++) {
            short want = fds[i].events & (POLLIN | POLLOUT);
            if (want != 0 && sock_kind(fds[i].fd) != K_OTHER) {
                fds[i].revents = want;
                atomic_fetch_add_explicit(&g_false[F_POLL], 1, memory_order_relaxed);
                return 1;
            }
        }
    }
    ms = atomic_load_explicit(&g_interrupt_ms, memory_order_relaxed);
    if (ms > 0 && (timeout < 0 || timeout > ms)) {
        /* The storm: a wait longer than MS that nothing ends within MS is interrupted. */
        int n = real(fds, nfds, ms);
        if (n != 0)
            return n;
        return fail_eintr(F_POLL);
    }
    return real(fds, nfds, timeout);
}

/* The faults of accept4 and accept (f): -1 with errno when one is injected, else 0. */
static int accept_faults(enum fn_id f, int fd)
{
    enum kind k;
    int e, ms;
    if ((e = prologue(f, fd, &k)) != 0)
        return fail_with(f, e);
    /* A blocking listener (the library's are not): no connection within MS, EINTR. */
    if (k != K_OTHER && (ms = storm_ms(fd, 0, SO_RCVTIMEO)) > 0 && poll_one(fd, POLLIN, ms) == 0)
        return fail_eintr(f);
    return 0;
}

SHIM_EXPORT int accept4(int fd, __SOCKADDR_ARG addr, socklen_t *addrlen, int flags)
{
    REAL(accept4_fn, F_ACCEPT4, real);
    return accept_faults(F_ACCEPT4, fd) != 0 ? -1 : real(fd, addr, addrlen, flags);
}

/* accept: what the library calls where it does without accept4 (lib/compat.h). */
SHIM_EXPORT int accept(int fd, __SOCKADDR_ARG addr, socklen_t *addrlen)
{
    REAL(accept_fn, F_ACCEPT, real);
    return accept_faults(F_ACCEPT, fd) != 0 ? -1 : real(fd, addr, addrlen);
}

SHIM_EXPORT int connect(int fd, __CONST_SOCKADDR_ARG addr, socklen_t len)
{
    int r, err;
    REAL(connect_fn, F_CONNECT, real);
    if (!active() || sock_kind(fd) != K_STREAM)
        return real(fd, addr, len);
    count_call(F_CONNECT);
    r = real(fd, addr, len);
    err = errno;
    /* Only an attempt that really started may look interrupted: it goes on in the
     * background, as after a real signal. */
    if ((r == 0 || err == EINPROGRESS) && eintr_pick(F_CONNECT))
        return fail_eintr(F_CONNECT);
    errno = err;
    return r;
}

/* ------------------------------------------------------------------ sendfile, splice */

/* sendfile onto a stream socket: short transfers clamp count, "eintr" and "eagain"
 * fail the call before it moves anything. Not under "interrupt=MS" (the call has no
 * MSG_DONTWAIT to run it without waiting; the library's sockets block with a send
 * timeout, which the storm leaves alone). */
SHIM_EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t count)
{
    enum kind k;
    int e;
    REAL(sendfile_fn, F_SENDFILE, real);
    if ((e = prologue(F_SENDFILE, out, &k)) != 0)
        return fail_with(F_SENDFILE, e);
    if (k == K_STREAM)
        count = short_len(F_SENDFILE, count);
    return real(out, in, off, count);
}

/* sendfile64: the same call where off_t is 64 bits (a program built with
 * _FILE_OFFSET_BITS=64 reaches it under that name). */
#if defined(__GLIBC__) && defined(__LP64__) && !defined(__USE_FILE_OFFSET64)
_Static_assert(sizeof(off_t) == sizeof(off64_t), "sendfile64 is not sendfile here");
SHIM_EXPORT ssize_t sendfile64(int out, int in, off64_t *off, size_t count)
{
    return sendfile(out, in, (off_t *)off, count);
}
#endif

/* splice with a socket at either end (the library's: pipe -> socket; a relay's: socket
 * -> pipe): as sendfile. */
SHIM_EXPORT ssize_t splice(int in, loff_t *off_in, int out, loff_t *off_out, size_t len, unsigned int flags)
{
    enum kind k;
    int e;
    REAL(splice_fn, F_SPLICE, real);
    e = prologue(F_SPLICE, active() && sock_kind(out) != K_OTHER ? out : in, &k);
    if (e != 0)
        return fail_with(F_SPLICE, e);
    if (k == K_STREAM)
        len = short_len(F_SPLICE, len);
    return real(in, off_in, out, off_out, len, flags);
}

/* ------------------------------------------------------------------ batches of datagrams */

SHIM_EXPORT int sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags)
{
    enum kind k;
    int e, ms;
    REAL(sendmmsg_fn, F_SENDMMSG, real);
    if ((e = prologue(F_SENDMMSG, fd, &k)) != 0)
        return fail_with(F_SENDMMSG, e);
    /* Never clamped: datagrams. */
    if (k != K_OTHER && (ms = storm_ms(fd, flags, SO_SNDTIMEO)) > 0)
        STORM_TRANSFER(F_SENDMMSG, fd, POLLOUT, ms, real(fd, vec, vlen, flags | MSG_DONTWAIT));
    return real(fd, vec, vlen, flags);
}

SHIM_EXPORT int recvmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags, struct timespec *tmo)
{
    enum kind k;
    int e, ms;
    REAL(recvmmsg_fn, F_RECVMMSG, real);
    if ((e = prologue(F_RECVMMSG, fd, &k)) != 0)
        return fail_with(F_RECVMMSG, e);
    if (k != K_OTHER && (ms = storm_ms(fd, flags, SO_RCVTIMEO)) > 0)
        STORM_TRANSFER(F_RECVMMSG, fd, POLLIN, ms, real(fd, vec, vlen, flags | MSG_DONTWAIT, tmo));
    return real(fd, vec, vlen, flags, tmo);
}

/* ------------------------------------------------------------------ epoll */

/* An epoll instance is the shim's business once an IPv4/IPv6 socket was registered
 * with it (so Criterion's own, if any, never is). For each, the last such registration
 * is kept, to hand back as a wake-up that is not there. close() forgets the instance. */
#define EP_MAX 4096
struct ep_slot {
    atomic_int tracked;
    atomic_int fd;            /* the socket of the last registration, -1 when none */
    atomic_uint events;
    _Atomic(uint64_t) data;
};
static struct ep_slot g_ep[EP_MAX];

SHIM_EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    int r;
    REAL(epoll_ctl_fn, F_EPOLL_CTL, real);
    r = real(epfd, op, fd, ev);
    if (r == 0 && epfd >= 0 && epfd < EP_MAX && sock_kind(fd) != K_OTHER) {
        struct ep_slot *sl = &g_ep[epfd];
        int saved = errno;
        if ((op == EPOLL_CTL_ADD || op == EPOLL_CTL_MOD) && ev != NULL) {
            atomic_store(&sl->fd, -1);
            atomic_store(&sl->events, ev->events);
            atomic_store(&sl->data, ev->data.u64);
            atomic_store(&sl->fd, fd);
            atomic_store(&sl->tracked, 1);
        } else if (op == EPOLL_CTL_DEL && atomic_load(&sl->fd) == fd) {
            atomic_store(&sl->fd, -1);
        }
        errno = saved;
    }
    return r;
}

SHIM_EXPORT int epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout)
{
    struct ep_slot *sl;
    int ms, w;
    REAL(epoll_wait_fn, F_EPOLL_WAIT, real);
    if (!active() || epfd < 0 || epfd >= EP_MAX || !atomic_load(&g_ep[epfd].tracked))
        return real(epfd, evs, max, timeout);
    sl = &g_ep[epfd];
    count_call(F_EPOLL_WAIT);
    if (eintr_pick(F_EPOLL_WAIT))
        return fail_eintr(F_EPOLL_WAIT);
    if ((w = wakeup_pick(F_EPOLL_WAIT, timeout)) != 0) {
        int n = real(epfd, evs, max, 0), fd = atomic_load(&sl->fd);
        uint32_t want = atomic_load(&sl->events) & (EPOLLIN | EPOLLOUT);
        if (n != 0)
            return n;
        if (w == 1) {
            atomic_fetch_add_explicit(&g_early[F_EPOLL_WAIT], 1, memory_order_relaxed);
            return 0;
        }
        if (fd >= 0 && want != 0 && max >= 1) {
            memset(&evs[0], 0, sizeof evs[0]);
            evs[0].events = want;
            evs[0].data.u64 = atomic_load(&sl->data);
            atomic_fetch_add_explicit(&g_false[F_EPOLL_WAIT], 1, memory_order_relaxed);
            return 1;
        }
    }
    ms = atomic_load_explicit(&g_interrupt_ms, memory_order_relaxed);
    if (ms > 0 && (timeout < 0 || timeout > ms)) {
        int n = real(epfd, evs, max, ms);
        if (n != 0)
            return n;
        return fail_eintr(F_EPOLL_WAIT);
    }
    return real(epfd, evs, max, timeout);
}

SHIM_EXPORT int close(int fd)
{
    REAL(close_fn, F_CLOSE, real);
    if (fd >= 0 && fd < EP_MAX && atomic_load_explicit(&g_ep[fd].tracked, memory_order_relaxed)) {
        atomic_store(&g_ep[fd].tracked, 0);
        atomic_store(&g_ep[fd].fd, -1);
    }
    return real(fd);
}

/* ------------------------------------------------------------------ allocation faults */

/* malloc, calloc, realloc and free are interposed (glibc supports replacing them, and
 * calls them through the PLT from inside libc too, so getaddrinfo's allocations are
 * seen). Each forwards to the next definition (libc's, or the AddressSanitizer
 * runtime's when it is loaded as a library, as with gcc), so the sanitizer and Valgrind
 * still see every block. The real functions are found with dlsym, which may itself
 * allocate: while one thread is finding them, its allocations come from a small static
 * arena that free() recognises and ignores.
 *
 * Until the shim's constructor has found them, every allocation (the AddressSanitizer
 * runtime's start-up ones included: it starts before this module's constructor runs)
 * comes from the arena too. These functions are never instrumented by a sanitizer the
 * shim is built with: they run before that sanitizer is ready.
 *
 * Only a thread that armed itself (sk_faultshim_alloc_arm) is affected: its
 * allocations are counted, the nth one fails with ENOMEM, and the blocks it gets are
 * remembered until freed (by any thread), so that a test can tell what a failed call
 * left behind. Everything else passes straight through. */
typedef void *(*malloc_fn)(size_t);
typedef void *(*calloc_fn)(size_t, size_t);
typedef void *(*realloc_fn)(void *, size_t);
typedef void (*free_fn)(void *);

static _Atomic(malloc_fn) r_malloc;
static _Atomic(calloc_fn) r_calloc;
static _Atomic(realloc_fn) r_realloc;
static _Atomic(free_fn) r_free;

#define TLS_IE __attribute__((tls_model("initial-exec")))
static __thread int t_resolving TLS_IE;      /* this thread is inside dlsym for them */
static __thread int t_armed TLS_IE;          /* this thread's allocations are watched */
static __thread unsigned long t_nth TLS_IE;  /* the one to fail (1-based), 0 for none */
static __thread unsigned long t_count TLS_IE;
static __thread unsigned long t_failed TLS_IE;
static __thread const void *t_fail_caller TLS_IE;

/* Not instrumented by a sanitizer (they run before it is initialised). */
#define NOSAN __attribute__((no_sanitize("address", "undefined")))

static _Alignas(16) unsigned char g_arena[1024 * 1024];
static atomic_size_t g_arena_used;
/* g_alloc_ready (declared above the constructor): the real functions are known. */

/* Blocks allocated by an armed thread and not freed since. */
#define LIVE_MAX 4096
static void *g_live[LIVE_MAX];
static size_t g_live_n;
static int g_live_overflow;
static atomic_int g_live_count;            /* g_live_n, readable without the lock */
static atomic_flag g_live_lock = ATOMIC_FLAG_INIT;

NOSAN static void live_lock(void)
{
    while (atomic_flag_test_and_set_explicit(&g_live_lock, memory_order_acquire)) {
    }
}

NOSAN static void live_unlock(void)
{
    atomic_flag_clear_explicit(&g_live_lock, memory_order_release);
}

NOSAN static void live_add(void *p)
{
    live_lock();
    if (g_live_n < LIVE_MAX)
        g_live[g_live_n++] = p;
    else
        g_live_overflow = 1;
    atomic_store_explicit(&g_live_count, (int)g_live_n, memory_order_relaxed);
    live_unlock();
}

/* Forget p if it is remembered; returns 1 when it was. */
NOSAN static int live_del(void *p)
{
    int found = 0;
    if (p == NULL || atomic_load_explicit(&g_live_count, memory_order_relaxed) == 0)
        return 0;
    live_lock();
    for (size_t i = 0; i < g_live_n; i++) {
        if (g_live[i] == p) {
            g_live[i] = g_live[--g_live_n];
            found = 1;
            break;
        }
    }
    atomic_store_explicit(&g_live_count, (int)g_live_n, memory_order_relaxed);
    live_unlock();
    return found;
}

NOSAN static int in_arena(const void *p)
{
    const unsigned char *b = p;
    return b >= g_arena && b < g_arena + sizeof g_arena;
}

NOSAN static void *arena_alloc(size_t n)
{
    size_t need = (n + 15) & ~(size_t)15, at;
    if (need < n)
        return NULL;
    at = atomic_fetch_add(&g_arena_used, need);
    if (at + need > sizeof g_arena || at + need < at)
        return NULL;
    return g_arena + at; /* static storage: already zero */
}

NOSAN static void resolve_alloc(void)
{
    void *p;
    if (atomic_load(&r_free) != NULL)
        return;
    t_resolving = 1;
    if ((p = dlsym(RTLD_NEXT, "malloc")) != NULL) {
        malloc_fn f;
        memcpy(&f, &p, sizeof f);
        atomic_store(&r_malloc, f);
    }
    if ((p = dlsym(RTLD_NEXT, "calloc")) != NULL) {
        calloc_fn f;
        memcpy(&f, &p, sizeof f);
        atomic_store(&r_calloc, f);
    }
    if ((p = dlsym(RTLD_NEXT, "realloc")) != NULL) {
        realloc_fn f;
        memcpy(&f, &p, sizeof f);
        atomic_store(&r_realloc, f);
    }
    if ((p = dlsym(RTLD_NEXT, "free")) != NULL) {
        free_fn f;
        memcpy(&f, &p, sizeof f);
        atomic_store(&r_free, f);
    }
    t_resolving = 0;
}

/* Counts an allocation of an armed thread; returns 1 when it is the one to fail. */
NOSAN static int alloc_should_fail(const void *caller)
{
    if (!t_armed)
        return 0;
    t_count++;
    if (t_nth != 0 && t_count == t_nth) {
        t_failed++;
        t_fail_caller = caller;
        return 1;
    }
    return 0;
}

NOSAN SHIM_EXPORT void *malloc(size_t n)
{
    malloc_fn real;
    void *p;
    if (t_resolving || !atomic_load_explicit(&g_alloc_ready, memory_order_acquire) ||
        (real = atomic_load(&r_malloc)) == NULL)
        return arena_alloc(n);
    if (alloc_should_fail(__builtin_return_address(0))) {
        errno = ENOMEM;
        return NULL;
    }
    p = real(n);
    if (t_armed && p != NULL)
        live_add(p);
    return p;
}

NOSAN SHIM_EXPORT void *calloc(size_t n, size_t size)
{
    calloc_fn real;
    void *p;
    if (t_resolving || !atomic_load_explicit(&g_alloc_ready, memory_order_acquire) ||
        (real = atomic_load(&r_calloc)) == NULL)
        return size != 0 && n > SIZE_MAX / size ? NULL : arena_alloc(n * size);
    if (alloc_should_fail(__builtin_return_address(0))) {
        errno = ENOMEM;
        return NULL;
    }
    p = real(n, size);
    if (t_armed && p != NULL)
        live_add(p);
    return p;
}

NOSAN SHIM_EXPORT void *realloc(void *old, size_t n)
{
    realloc_fn real;
    void *p;
    if (old != NULL && in_arena(old)) {
        /* A block from the arena moves to the real heap (its old size is unknown:
         * copy what the arena can hold from there). */
        size_t room = (size_t)(g_arena + sizeof g_arena - (unsigned char *)old);
        p = malloc(n);
        if (p != NULL)
            memcpy(p, old, n < room ? n : room);
        return p;
    }
    if (t_resolving || !atomic_load_explicit(&g_alloc_ready, memory_order_acquire) ||
        (real = atomic_load(&r_realloc)) == NULL)
        return old == NULL ? arena_alloc(n) : NULL;
    if (alloc_should_fail(__builtin_return_address(0))) {
        errno = ENOMEM;
        return NULL; /* old is untouched, as after a real failure */
    }
    p = real(old, n);
    if (p != NULL && old != NULL && live_del(old))
        live_add(p); /* a remembered block moved */
    else if (p != NULL && old == NULL && t_armed)
        live_add(p);
    return p;
}

NOSAN SHIM_EXPORT void free(void *p)
{
    free_fn real;
    if (p == NULL || in_arena(p))
        return;
    live_del(p);
    if (atomic_load(&r_free) == NULL && !t_resolving)
        resolve_alloc(); /* a block from an allocator the shim does not wrap (memalign) */
    if ((real = atomic_load(&r_free)) != NULL)
        real(p);
}

SHIM_EXPORT int sk_faultshim_alloc_arm(unsigned long nth)
{
    live_lock();
    g_live_n = 0;
    g_live_overflow = 0;
    atomic_store(&g_live_count, 0);
    live_unlock();
    t_count = 0;
    t_failed = 0;
    t_fail_caller = NULL;
    t_nth = nth;
    t_armed = 1;
    return atomic_load(&g_alloc_ready) ? 0 : -1;
}

SHIM_EXPORT void sk_faultshim_alloc_disarm(void)
{
    t_armed = 0;
    t_nth = 0;
}

SHIM_EXPORT void sk_faultshim_alloc_report(sk_faultshim_alloc_stats *r)
{
    if (r == NULL)
        return;
    r->allocations = t_count;
    r->failed = t_failed;
    r->fail_caller = t_fail_caller;
    live_lock();
    r->live = g_live_n;
    r->overflow = g_live_overflow;
    live_unlock();
}

/* The _FORTIFY_SOURCE entry points: the check first, then the shim's own function. */
ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags, __SOCKADDR_ARG from,
                       socklen_t *fromlen);
int __poll_chk(struct pollfd *fds, nfds_t nfds, int timeout, size_t fdslen);

SHIM_EXPORT ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
    if (len > buflen) {
        REAL(recv_chk_fn, F_RECV_CHK, real);
        return real(fd, buf, len, buflen, flags); /* reports the overflow */
    }
    return recv(fd, buf, len, flags);
}

SHIM_EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags, __SOCKADDR_ARG from,
                                   socklen_t *fromlen)
{
    if (len > buflen) {
        REAL(recvfrom_chk_fn, F_RECVFROM_CHK, real);
        return real(fd, buf, len, buflen, flags, from, fromlen);
    }
    return recvfrom(fd, buf, len, flags, from, fromlen);
}

SHIM_EXPORT int __poll_chk(struct pollfd *fds, nfds_t nfds, int timeout, size_t fdslen)
{
    if (fdslen / sizeof *fds < nfds) {
        REAL(poll_chk_fn, F_POLL_CHK, real);
        return real(fds, nfds, timeout, fdslen);
    }
    return poll(fds, nfds, timeout);
}
