/* A test-only fault-injection layer, loaded with LD_PRELOAD: short transfers, EINTR and
 * signal storms on IPv4/IPv6 sockets. See faultshim.h for the modes and the control
 * interface. Every real function is reached through dlsym(RTLD_NEXT, ...); the shim's
 * own helpers use only calls it does not interpose (getsockname, getsockopt, fcntl,
 * clock_gettime, and the real poll through its pointer), so it never recurses. State is
 * atomics only: any thread may call in. read/write/readv/writev are not interposed:
 * libsockkit does not use them on sockets (it calls send, recv, sendto, recvfrom,
 * poll, accept4 and connect). */
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
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#include "faultshim.h"

#define SHIM_EXPORT __attribute__((visibility("default")))

enum fn_id { F_SEND, F_RECV, F_SENDTO, F_RECVFROM, F_SENDMSG, F_RECVMSG, F_POLL, F_ACCEPT4, F_CONNECT,
             F_RECV_CHK, F_RECVFROM_CHK, F_POLL_CHK, F_N };
#define F_COUNTED F_RECV_CHK /* the _chk twins are counted as their plain function */

static const char *const fn_names[F_N] = {
    "send", "recv", "sendto", "recvfrom", "sendmsg", "recvmsg", "poll", "accept4", "connect",
    "__recv_chk", "__recvfrom_chk", "__poll_chk",
};

#define MODE_SHORT 1u
#define MODE_EINTR 2u

static atomic_int g_active;          /* 0: pure pass-through, nothing counted */
static atomic_uint g_mode;           /* MODE_* bits */
static atomic_uint g_every = 4;      /* "eintr=N" */
static atomic_int g_interrupt_ms;    /* "interrupt=MS", 0 when off */
static atomic_ulong g_calls[F_COUNTED], g_eintr[F_COUNTED], g_short[F_COUNTED];
static atomic_ulong g_tick[F_COUNTED];
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
typedef int (*connect_fn)(int, __CONST_SOCKADDR_ARG, socklen_t);
typedef ssize_t (*recv_chk_fn)(int, void *, size_t, size_t, int);
typedef ssize_t (*recvfrom_chk_fn)(int, void *, size_t, size_t, int, __SOCKADDR_ARG, socklen_t *);
typedef int (*poll_chk_fn)(struct pollfd *, nfds_t, int, size_t);

/* ------------------------------------------------------------------ helpers */

enum kind { K_OTHER, K_STREAM, K_DGRAM };

/* Is fd an IPv4/IPv6 socket, and of which type? Keeps errno. */
static enum kind sock_kind(int fd)
{
    int saved = errno;
    enum kind k = K_OTHER;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (fd >= 0 && getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
        (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)) {
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
    unsigned mode = 0, every = 4, interrupt_ms = 0;
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
    }
    atomic_store(&g_seq, 0);
    atomic_store(&g_mode, mode);
    atomic_store(&g_every, every);
    atomic_store(&g_interrupt_ms, (int)interrupt_ms);
    atomic_store(&g_active, 1);
    return 0;
}

SHIM_EXPORT unsigned long sk_faultshim_count(const char *name)
{
    atomic_ulong *table = g_calls;
    unsigned long sum = 0;
    const char *fn;

    if (name == NULL)
        return (unsigned long)-1;
    if (strcmp(name, "calls") == 0 || strcmp(name, "eintr") == 0 || strcmp(name, "short") == 0) {
        table = name[0] == 'c' ? g_calls : name[0] == 'e' ? g_eintr : g_short;
        for (int f = 0; f < F_COUNTED; f++)
            sum += atomic_load(&table[f]);
        return sum;
    }
    fn = name;
    if (strncmp(name, "eintr:", 6) == 0) {
        table = g_eintr;
        fn = name + 6;
    } else if (strncmp(name, "short:", 6) == 0) {
        table = g_short;
        fn = name + 6;
    }
    for (int f = 0; f < F_COUNTED; f++)
        if (strcmp(fn, fn_names[f]) == 0)
            return atomic_load(&table[f]);
    return (unsigned long)-1;
}

__attribute__((constructor)) static void shim_init(void)
{
    const char *env = getenv("SK_FAULTS");
    if (env != NULL)
        (void)sk_faultshim_set(env);
}

/* ------------------------------------------------------------------ interposed calls */

/* Shared prologue: counts the call, and returns 1 when "eintr" picks it to fail;
 * *k receives the socket kind (K_OTHER: pass through untouched, uncounted). */
static int prologue(enum fn_id f, int fd, enum kind *k)
{
    *k = active() ? sock_kind(fd) : K_OTHER;
    if (*k == K_OTHER)
        return 0;
    count_call(f);
    return eintr_pick(f);
}

SHIM_EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    enum kind k;
    int ms;
    REAL(send_fn, F_SEND, real);
    if (prologue(F_SEND, fd, &k))
        return fail_eintr(F_SEND);
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
    int ms;
    REAL(recv_fn, F_RECV, real);
    if (prologue(F_RECV, fd, &k))
        return fail_eintr(F_RECV);
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
    int ms;
    REAL(sendto_fn, F_SENDTO, real);
    if (prologue(F_SENDTO, fd, &k))
        return fail_eintr(F_SENDTO);
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
    int ms;
    REAL(recvfrom_fn, F_RECVFROM, real);
    if (prologue(F_RECVFROM, fd, &k))
        return fail_eintr(F_RECVFROM);
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

SHIM_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    enum kind k;
    struct msghdr m;
    struct iovec iov[SHORT_IOV_MAX];
    int ms;
    REAL(sendmsg_fn, F_SENDMSG, real);
    if (prologue(F_SENDMSG, fd, &k))
        return fail_eintr(F_SENDMSG);
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

SHIM_EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    enum kind k;
    struct msghdr m;
    struct iovec iov[SHORT_IOV_MAX];
    int ms;
    REAL(recvmsg_fn, F_RECVMSG, real);
    if (prologue(F_RECVMSG, fd, &k))
        return fail_eintr(F_RECVMSG);
    if (k == K_OTHER || msg == NULL)
        return real(fd, msg, flags);
    short_msg(F_RECVMSG, k, msg, &m, iov);
    if ((ms = storm_ms(fd, flags, SO_RCVTIMEO)) > 0)
        STORM_TRANSFER(F_RECVMSG, fd, POLLIN, ms, recvmsg_copy(real, fd, msg, &m, flags | MSG_DONTWAIT));
    return recvmsg_copy(real, fd, msg, &m, flags);
}

SHIM_EXPORT int poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
    int inet = 0, ms;
    REAL(poll_fn, F_POLL, real);
    if (active())
        for (nfds_t i = 0; i < nfds && !inet; i++)
            inet = sock_kind(fds[i].fd) != K_OTHER;
    if (!inet)
        return real(fds, nfds, timeout);
    count_call(F_POLL);
    if (eintr_pick(F_POLL))
        return fail_eintr(F_POLL);
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

SHIM_EXPORT int accept4(int fd, __SOCKADDR_ARG addr, socklen_t *addrlen, int flags)
{
    enum kind k;
    int ms;
    REAL(accept4_fn, F_ACCEPT4, real);
    if (prologue(F_ACCEPT4, fd, &k))
        return fail_eintr(F_ACCEPT4);
    /* A blocking listener (the library's are not): no connection within MS, EINTR. */
    if (k != K_OTHER && (ms = storm_ms(fd, 0, SO_RCVTIMEO)) > 0 && poll_one(fd, POLLIN, ms) == 0)
        return fail_eintr(F_ACCEPT4);
    return real(fd, addr, addrlen, flags);
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
