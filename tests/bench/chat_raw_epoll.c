/* chat_raw_epoll: examples/chat-server written by hand on raw epoll, without
 * libsockkit: the benchmark's anchor (see docs/CHAT-PERFORMANCE.md).
 *
 *   chat_raw_epoll [host [port]]          (default: localhost 1234)
 *
 * Same protocol, same behaviour, same algorithm as examples/chat-server.c, so that the
 * benchmark compares the library with what a careful programmer writes without it:
 *   - non-blocking sockets (accept4 SOCK_NONBLOCK), one thread, level-triggered epoll;
 *   - one recv of up to 64 KiB per ready client into one large buffer, lines split in
 *     place and copied once, tagged, into a reference-counted "round block" that every
 *     client's queue shares (two pieces per client per round at most: everything but
 *     its own lines), never a copy per client;
 *   - each client's queue written with one writev of up to IOV_MAX pieces; a short
 *     write means the socket is full, and nothing more is tried until EPOLLOUT;
 *   - the same bounds and flow control: 64 KiB lines, 1 MiB per queue, input held
 *     while a client above 256 KiB is still draining (took bytes within 1 s) until it
 *     is below 64 KiB, at most 5 s per backed-up spell, a client above 256 KiB that
 *     takes nothing for 5 s dropped; TCP_NODELAY and TCP_NOTSENT_LOWAT (128 KiB) on
 *     every client; SIGINT/SIGTERM through an eventfd; the listener rests 100 ms after
 *     EMFILE.
 * The comments in examples/chat-server.c explain the design; this file only says
 * where the system calls differ. Linux only. No libsockkit header is included. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_HOST "localhost"
#define DEFAULT_PORT 1234

#define MAX_LINE (64 * 1024)
#define MAX_QUEUE (1024 * 1024)
#define HIGH_WATER (256 * 1024)
#define LOW_WATER (64 * 1024)
#define DRAIN_MS 1000
#define HOLD_MS 5000
#define STALL_MS 5000
#define UNSENT_LOWAT (128 * 1024)    /* TCP_NOTSENT_LOWAT: see examples/chat-server.c */
#define READ_CHUNK (64 * 1024)
#define ROUND_TARGET (128 * 1024)
#define BLOCK_CAP (256 * 1024)
#define BLOCK_POOL 16
#define SEND_IOV IOV_MAX             /* the system's limit: one writev per queue */
#define MAX_EVENTS 256
#define ACCEPT_BURST 64
#define ACCEPT_PAUSE_MS 100
#define NAME_CAP 72                  /* "[ipv6%scope]:port" */

#define EV_IN 1u
#define EV_OUT 2u

struct block {
    size_t refs;
    size_t len, cap;
    char data[];
};

struct piece {
    struct block *b;
    size_t off, len;
};

struct client {
    int fd;
    size_t idx, pidx, bidx;
    char name[NAME_CAP];
    size_t name_len;
    char *carry;
    size_t carry_len, carry_cap;
    struct piece *q;
    size_t q_head, q_n, q_cap;
    size_t q_bytes;
    uint64_t round;
    size_t from;
    size_t own_start, own_end;
    int64_t progress_ms;
    int64_t hold_ms;
    unsigned events;
    unsigned blocked : 1;
    unsigned in_off : 1;
    unsigned backed : 1;
    unsigned no_hold : 1;
    unsigned said_bye : 1;
    const char *gone;
};

struct server {
    int epfd, lfd, stopfd;
    struct client **clients;
    size_t n, cap;
    size_t n_gone;
    struct client **paused;
    size_t n_paused, paused_cap;
    struct client **backed;
    size_t n_backed, backed_cap;
    int holding;
    uint64_t holds;
    int64_t held_ms;
    int64_t hold_began_ms;
    struct block *round_blk;
    uint64_t round;
    struct block *pool[BLOCK_POOL];
    size_t n_pool;
    char *rbuf;
    int64_t now_ms;
    int64_t accept_resume_ms;
};

/* epoll data for the two descriptors that are not clients. */
static char listener_tag, stop_tag;

static int stop_fd = -1;
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    int err = errno;
    uint64_t one = 1;
    ssize_t r;
    (void)sig;
    stop_requested = 1;
    r = write(stop_fd, &one, sizeof one);
    (void)r;
    errno = err;
}

static int64_t clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The names the library's twin prints, for the same failures. */
static const char *errname(int err)
{
    switch (err) {
    case EMFILE:
    case ENFILE: return "SK_EMFILE";
    case ECONNRESET:
    case EPIPE: return "SK_ECONNRESET";
    case EADDRINUSE: return "SK_EADDRINUSE";
    case ENOMEM:
    case ENOBUFS: return "SK_ENOMEM";
    case ETIMEDOUT: return "SK_ETIMEDOUT";
    default: return "SK_EOS";
    }
}

static void usage(FILE *to)
{
    fprintf(to, "usage: chat_raw_epoll [host [port]]   (default: %s %d; port 0 picks a free one)\n",
            DEFAULT_HOST, DEFAULT_PORT);
}

static int parse_port(const char *text, int *port)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < 0 || v > 65535)
        return -1;
    *port = (int)v;
    return 0;
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int reserve(struct client ***arr, size_t n, size_t *cap)
{
    if (n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        struct client **p = realloc(*arr, ncap * sizeof *p);
        if (p == NULL)
            return -1;
        *arr = p;
        *cap = ncap;
    }
    return 0;
}

/* "127.0.0.1:50432", "[::1]:50432"; an IPv4-mapped address is shown as IPv4. */
static void format_name(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN];
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
            inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], host, sizeof host);
            snprintf(out, cap, "%s:%u", host, (unsigned)ntohs(a->sin6_port));
        } else {
            inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
            if (a->sin6_scope_id != 0)
                snprintf(out, cap, "[%s%%%lu]:%u", host, (unsigned long)a->sin6_scope_id,
                         (unsigned)ntohs(a->sin6_port));
            else
                snprintf(out, cap, "[%s]:%u", host, (unsigned)ntohs(a->sin6_port));
        }
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        snprintf(out, cap, "%s:%u", host, (unsigned)ntohs(a->sin_port));
    }
}

/* ---- blocks ------------------------------------------------------------------ */

static struct block *block_new(size_t cap)
{
    struct block *b;
    if (cap <= BLOCK_CAP)
        cap = BLOCK_CAP;
    if ((b = malloc(sizeof *b + cap)) == NULL)
        return NULL;
    b->refs = 1;
    b->len = 0;
    b->cap = cap;
    return b;
}

static void block_release(struct server *s, struct block *b)
{
    if (--b->refs > 0)
        return;
    if (b->cap == BLOCK_CAP && s->n_pool < BLOCK_POOL)
        s->pool[s->n_pool++] = b;
    else
        free(b);
}

static char *round_room(struct server *s, size_t more)
{
    struct block *b = s->round_blk;
    if (b == NULL) {
        if (s->n_pool > 0 && more <= BLOCK_CAP) {
            b = s->pool[--s->n_pool];
            b->refs = 1;
            b->len = 0;
        } else if ((b = block_new(more)) == NULL) {
            return NULL;
        }
        s->round_blk = b;
    }
    if (b->len + more > b->cap) {
        size_t cap = b->cap * 2;
        struct block *nb;
        while (cap < b->len + more)
            cap *= 2;
        if ((nb = realloc(b, sizeof *b + cap)) == NULL)
            return NULL;
        nb->cap = cap;
        s->round_blk = b = nb;
    }
    return b->data + b->len;
}

static size_t round_len(const struct server *s)
{
    return s->round_blk != NULL ? s->round_blk->len : 0;
}

/* ---- registration -------------------------------------------------------------- */

static void drop(struct server *s, struct client *c, const char *why)
{
    if (c->gone == NULL) {
        c->gone = why;
        s->n_gone++;
    }
}

static void set_events(struct server *s, struct client *c)
{
    unsigned want = (c->in_off ? 0u : EV_IN) | (c->blocked ? EV_OUT : 0u);
    struct epoll_event ev;
    if (want == c->events || c->gone != NULL)
        return;
    memset(&ev, 0, sizeof ev);
    ev.events = (want & EV_IN ? EPOLLIN : 0u) | (want & EV_OUT ? EPOLLOUT : 0u);
    ev.data.ptr = c;
    if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0) {
        drop(s, c, errname(errno));
        return;
    }
    c->events = want;
}

static void pause_input(struct server *s, struct client *c)
{
    if (reserve(&s->paused, s->n_paused, &s->paused_cap) != 0) {
        drop(s, c, "out of memory");
        return;
    }
    c->in_off = 1;
    c->pidx = s->n_paused;
    s->paused[s->n_paused++] = c;
    set_events(s, c);
}

static void unlist_paused(struct server *s, struct client *c)
{
    if (!c->in_off)
        return;
    s->paused[c->pidx] = s->paused[--s->n_paused];
    s->paused[c->pidx]->pidx = c->pidx;
    c->in_off = 0;
}

static void resume_input(struct server *s)
{
    while (s->n_paused > 0) {
        struct client *c = s->paused[--s->n_paused];
        c->in_off = 0;
        set_events(s, c);
    }
}

/* ---- output ---------------------------------------------------------------------- */

static void note_backlog(struct server *s, struct client *c)
{
    if (!c->backed && c->q_bytes >= HIGH_WATER && c->gone == NULL) {
        if (reserve(&s->backed, s->n_backed, &s->backed_cap) != 0) {
            drop(s, c, "out of memory");
            return;
        }
        c->backed = 1;
        c->hold_ms = 0;
        c->no_hold = 0;
        c->bidx = s->n_backed;
        s->backed[s->n_backed++] = c;
        fprintf(stderr, "chat_raw_epoll: %s is %zu bytes behind\n", c->name, c->q_bytes);
    } else if (c->backed && (c->q_bytes < LOW_WATER || c->gone != NULL)) {
        s->backed[c->bidx] = s->backed[--s->n_backed];
        s->backed[c->bidx]->bidx = c->bidx;
        c->backed = 0;
    }
}

static void enqueue(struct server *s, struct client *c, struct block *b, size_t off, size_t len)
{
    if (len == 0 || c->gone != NULL)
        return;
    if (c->q_bytes + len > MAX_QUEUE) {
        drop(s, c, "not reading: output queue full");
        return;
    }
    if (c->q_n == c->q_cap) {
        size_t cap = c->q_cap ? c->q_cap * 2 : 4;
        struct piece *q = malloc(cap * sizeof *q);
        if (q == NULL) {
            drop(s, c, "out of memory");
            return;
        }
        for (size_t i = 0; i < c->q_n; i++)
            q[i] = c->q[(c->q_head + i) % c->q_cap];
        free(c->q);
        c->q = q;
        c->q_cap = cap;
        c->q_head = 0;
    }
    c->q[(c->q_head + c->q_n) % c->q_cap] = (struct piece){b, off, len};
    c->q_n++;
    c->q_bytes += len;
    b->refs++;
}

static void consume(struct server *s, struct client *c, size_t sent)
{
    c->q_bytes -= sent;
    while (sent > 0) {
        struct piece *p = &c->q[c->q_head];
        if (sent < p->len) {
            p->off += sent;
            p->len -= sent;
            break;
        }
        sent -= p->len;
        block_release(s, p->b);
        c->q_head = (c->q_head + 1) % c->q_cap;
        c->q_n--;
    }
    if (c->q_n == 0) {
        free(c->q);
        c->q = NULL;
        c->q_head = c->q_cap = 0;
    }
}

/* One writev of the queue's pieces; a short write means the socket is full. */
static void flush_output(struct server *s, struct client *c)
{
    static struct iovec iov[SEND_IOV];
    while (c->q_n > 0 && c->gone == NULL) {
        size_t cnt = 0, want = 0;
        ssize_t k;
        for (size_t i = 0; i < c->q_n && cnt < SEND_IOV; i++, cnt++) {
            const struct piece *p = &c->q[(c->q_head + i) % c->q_cap];
            iov[cnt].iov_base = p->b->data + p->off;
            iov[cnt].iov_len = p->len;
            want += p->len;
        }
        k = writev(c->fd, iov, (int)cnt);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                c->blocked = 1;
                break;
            }
            drop(s, c, errname(errno));
            return;
        }
        if (k > 0) {
            c->progress_ms = s->now_ms;
            consume(s, c, (size_t)k);
        }
        if ((size_t)k < want) {
            c->blocked = 1;
            break;
        }
        c->blocked = 0;
    }
    if (c->q_n == 0)
        c->blocked = 0;
    set_events(s, c);
    note_backlog(s, c);
}

/* ---- rounds ---------------------------------------------------------------------- */

static void end_round(struct server *s)
{
    struct block *b = s->round_blk;
    if (b == NULL)
        return;
    s->round_blk = NULL;
    if (b->len > 0) {
        for (size_t i = 0; i < s->n; i++) {
            struct client *c = s->clients[i];
            size_t from = 0;
            if (c->gone != NULL)
                continue;
            if (c->round == s->round) {
                from = c->from;
                if (c->own_end > c->own_start) {
                    enqueue(s, c, b, from, c->own_start - from);
                    from = c->own_end;
                }
            }
            enqueue(s, c, b, from, b->len - from);
            if (!c->blocked && c->q_n > 0)
                flush_output(s, c);
            else
                note_backlog(s, c);
        }
    }
    s->round++;
    block_release(s, b);
}

static void own_begin(struct server *s, struct client *c)
{
    if (c->round == s->round && c->own_end > c->own_start && c->own_end != round_len(s))
        end_round(s);
    if (c->round != s->round) {
        c->round = s->round;
        c->from = 0;
        c->own_start = c->own_end = 0;
    }
    if (c->own_end == c->own_start)
        c->own_start = c->own_end = round_len(s);
}

static void own_end(struct server *s, struct client *c)
{
    c->own_end = round_len(s);
}

static int add_line(struct server *s, const struct client *c, const char *a, size_t alen, const char *b,
                    size_t blen)
{
    char *p = round_room(s, c->name_len + 3 + alen + blen);
    if (p == NULL)
        return -1;
    *p++ = '[';
    memcpy(p, c->name, c->name_len);
    p += c->name_len;
    *p++ = ']';
    *p++ = ' ';
    if (alen > 0) {
        memcpy(p, a, alen);
        p += alen;
    }
    memcpy(p, b, blen);
    s->round_blk->len += c->name_len + 3 + alen + blen;
    return 0;
}

static void announce(struct server *s, struct client *c, const char *what)
{
    char line[NAME_CAP + 32];
    int n = snprintf(line, sizeof line, "* %s %s\n", c->name, what);
    char *p;
    own_begin(s, c);
    if ((p = round_room(s, (size_t)n)) == NULL) {
        fprintf(stderr, "chat_raw_epoll: out of memory: a notice is lost\n");
        return;
    }
    memcpy(p, line, (size_t)n);
    s->round_blk->len += (size_t)n;
    own_end(s, c);
}

/* ---- input ----------------------------------------------------------------------- */

static int keep_partial(struct client *c, const char *p, size_t len)
{
    if (c->carry_len + len > c->carry_cap) {
        size_t cap = c->carry_cap ? c->carry_cap : 256;
        char *q;
        while (cap < c->carry_len + len)
            cap *= 2;
        if ((q = realloc(c->carry, cap)) == NULL)
            return -1;
        c->carry = q;
        c->carry_cap = cap;
    }
    memcpy(c->carry + c->carry_len, p, len);
    c->carry_len += len;
    return 0;
}

static void forget_partial(struct client *c)
{
    c->carry_len = 0;
    if (c->carry_cap > 4096) {
        free(c->carry);
        c->carry = NULL;
        c->carry_cap = 0;
    }
}

static void on_readable(struct server *s, struct client *c)
{
    const char *p, *end;
    ssize_t k;
    size_t n;

    do
        k = recv(c->fd, s->rbuf, READ_CHUNK, 0);
    while (k < 0 && errno == EINTR);
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (k == 0) {
        if (c->carry_len > 0) {
            own_begin(s, c);
            if (add_line(s, c, c->carry, c->carry_len, "\n", 1) != 0)
                fprintf(stderr, "chat_raw_epoll: out of memory: a line is lost\n");
            own_end(s, c);
            forget_partial(c);
        }
        c->said_bye = 1;
        drop(s, c, "closed the connection");
        return;
    }
    if (k < 0) {
        drop(s, c, errname(errno));
        return;
    }
    n = (size_t)k;

    own_begin(s, c);
    p = s->rbuf;
    end = s->rbuf + n;
    if (c->carry_len > 0) {
        const char *nl = memchr(p, '\n', n);
        if (nl == NULL) {
            if (c->carry_len + n > MAX_LINE)
                drop(s, c, "line too long");
            else if (keep_partial(c, p, n) != 0)
                drop(s, c, "out of memory");
            own_end(s, c);
            return;
        }
        if (c->carry_len + (size_t)(nl - p) > MAX_LINE) {
            drop(s, c, "line too long");
            own_end(s, c);
            return;
        }
        if (add_line(s, c, c->carry, c->carry_len, p, (size_t)(nl + 1 - p)) != 0) {
            drop(s, c, "out of memory");
            own_end(s, c);
            return;
        }
        forget_partial(c);
        p = nl + 1;
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL) {
            if ((size_t)(end - p) > MAX_LINE)
                drop(s, c, "line too long");
            else if (keep_partial(c, p, (size_t)(end - p)) != 0)
                drop(s, c, "out of memory");
            break;
        }
        if ((size_t)(nl - p) > MAX_LINE) {
            drop(s, c, "line too long");
            break;
        }
        if (add_line(s, c, NULL, 0, p, (size_t)(nl + 1 - p)) != 0) {
            drop(s, c, "out of memory");
            break;
        }
        p = nl + 1;
    }
    own_end(s, c);
}

/* ---- clients come and go --------------------------------------------------------- */

static void client_free(struct server *s, struct client *c)
{
    while (c->q_n > 0) {
        block_release(s, c->q[c->q_head].b);
        c->q_head = (c->q_head + 1) % c->q_cap;
        c->q_n--;
    }
    close(c->fd); /* leaves the epoll set with it */
    free(c->q);
    free(c->carry);
    free(c);
}

static void add_client(struct server *s, int fd)
{
    struct client *c;
    struct block *w;
    struct sockaddr_storage peer;
    socklen_t plen = sizeof peer;
    struct epoll_event ev;
    size_t others;
    int n, one = 1;

    if (reserve(&s->clients, s->n, &s->cap) != 0) {
        fprintf(stderr, "chat_raw_epoll: out of memory: turning a client away\n");
        close(fd);
        return;
    }
    if (getpeername(fd, (struct sockaddr *)&peer, &plen) != 0) {
        close(fd);
        return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    {
        int v = UNSENT_LOWAT;
        if (setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &v, sizeof v) != 0)
            perror("chat_raw_epoll: setsockopt(TCP_NOTSENT_LOWAT)");
    }
    if ((c = calloc(1, sizeof *c)) == NULL || (w = malloc(sizeof *w + NAME_CAP + 64)) == NULL) {
        fprintf(stderr, "chat_raw_epoll: out of memory: turning a client away\n");
        free(c);
        close(fd);
        return;
    }
    c->fd = fd;
    format_name(&peer, c->name, sizeof c->name);
    c->name_len = strlen(c->name);
    c->progress_ms = s->now_ms;
    c->round = s->round;
    c->from = c->own_start = c->own_end = round_len(s);
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.ptr = c;
    if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        fprintf(stderr, "chat_raw_epoll: epoll_ctl: %s: turning a client away\n", strerror(errno));
        free(w);
        free(c);
        close(fd);
        return;
    }
    c->events = EV_IN;

    others = s->n - s->n_gone;
    n = snprintf(w->data, NAME_CAP + 64, "* welcome %s, %zu other%s here\n", c->name, others,
                 others == 1 ? "" : "s");
    w->refs = 1;
    w->len = w->cap = (size_t)n;
    enqueue(s, c, w, 0, w->len);
    block_release(s, w);

    c->idx = s->n;
    s->clients[s->n++] = c;
    announce(s, c, "joined");
    fprintf(stderr, "chat_raw_epoll: %s joined (%zu connected)\n", c->name, s->n - s->n_gone);
}

static void listener_events(struct server *s, uint32_t events)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.ptr = &listener_tag;
    epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->lfd, &ev);
}

static void accept_clients(struct server *s)
{
    for (int i = 0; i < ACCEPT_BURST; i++) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            fprintf(stderr, "chat_raw_epoll: accept: %s (%s); pausing %d ms\n", errname(errno),
                    strerror(errno), ACCEPT_PAUSE_MS);
            listener_events(s, 0);
            s->accept_resume_ms = s->now_ms + ACCEPT_PAUSE_MS;
            return;
        }
        add_client(s, fd);
    }
}

static void reap(struct server *s)
{
    while (s->n_gone > 0) {
        for (size_t i = 0; i < s->n;) {
            struct client *c = s->clients[i];
            if (c->gone == NULL) {
                i++;
                continue;
            }
            s->clients[i] = s->clients[--s->n];
            s->clients[i]->idx = i;
            s->n_gone--;
            if (c->said_bye && c->q_n > 0) {
                const char *why = c->gone;
                c->gone = NULL;
                flush_output(s, c);
                c->gone = why;
            }
            unlist_paused(s, c);
            if (c->backed) {
                s->backed[c->bidx] = s->backed[--s->n_backed];
                s->backed[c->bidx]->bidx = c->bidx;
                c->backed = 0;
            }
            fprintf(stderr, "chat_raw_epoll: %s left: %s (%zu connected)\n", c->name, c->gone,
                    s->n - s->n_gone);
            announce(s, c, "left");
            client_free(s, c);
        }
        end_round(s);
    }
}

static int64_t review_backlogs(struct server *s)
{
    int64_t next = -1, now = s->now_ms;
    int hold = 0;

    for (size_t i = 0; i < s->n_backed; i++) {
        struct client *c = s->backed[i];
        int64_t idle = now - c->progress_ms, at;
        if (c->gone != NULL)
            continue;
        if (idle >= STALL_MS) {
            drop(s, c, "not reading: no progress for 5 s");
            continue;
        }
        at = c->progress_ms + STALL_MS;
        if (!c->no_hold && idle < DRAIN_MS) {
            if (c->hold_ms == 0)
                c->hold_ms = now;
            if (now - c->hold_ms >= HOLD_MS) {
                c->no_hold = 1;
                fprintf(stderr, "chat_raw_epoll: %s: %zu bytes behind after holding the input %d ms\n",
                        c->name, c->q_bytes, HOLD_MS);
            } else {
                hold = 1;
                if (c->progress_ms + DRAIN_MS < at)
                    at = c->progress_ms + DRAIN_MS;
                if (c->hold_ms + HOLD_MS < at)
                    at = c->hold_ms + HOLD_MS;
            }
        }
        if (next < 0 || at < next)
            next = at;
    }
    if (hold && !s->holding) {
        s->holding = 1;
        s->holds++;
        s->hold_began_ms = now;
    } else if (!hold && s->holding) {
        s->holding = 0;
        s->held_ms += now - s->hold_began_ms;
        resume_input(s);
    }
    return next;
}

static int main_loop(struct server *s)
{
    static struct epoll_event evs[MAX_EVENTS];

    for (;;) {
        int count, timeout = -1;
        int64_t next = review_backlogs(s);

        if (s->n_gone > 0) {
            reap(s);
            continue;
        }
        if (s->accept_resume_ms != 0 && (next < 0 || s->accept_resume_ms < next))
            next = s->accept_resume_ms;
        if (next >= 0)
            timeout = next > s->now_ms ? (int)(next - s->now_ms) : 0;

        count = epoll_wait(s->epfd, evs, MAX_EVENTS, timeout);
        s->now_ms = clock_ms();
        if (count < 0) {
            if (errno == EINTR)
                continue; /* the eventfd tells whether it was ours */
            perror("chat_raw_epoll: epoll_wait");
            return 1;
        }
        if (s->accept_resume_ms != 0 && s->now_ms >= s->accept_resume_ms) {
            listener_events(s, EPOLLIN);
            s->accept_resume_ms = 0;
        }

        for (int i = 0; i < count; i++) {
            uint32_t ev = evs[i].events;
            void *ptr = evs[i].data.ptr;
            struct client *c = ptr;
            if (ptr == &stop_tag) {
                if (stop_requested)
                    return 0;
                continue;
            }
            if (ptr == &listener_tag) {
                accept_clients(s);
                continue;
            }
            if (c->gone != NULL)
                continue; /* marked during this batch; freed only after it */
            if (ev & EPOLLOUT) {
                c->blocked = 0;
                flush_output(s, c);
            }
            if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                if (s->holding && !(ev & (EPOLLHUP | EPOLLERR))) {
                    if (!c->in_off)
                        pause_input(s, c);
                } else {
                    on_readable(s, c);
                }
            }
            if (round_len(s) >= ROUND_TARGET) {
                end_round(s);
                review_backlogs(s);
            }
        }
        end_round(s);
        reap(s);
        if (stop_requested)
            return 0;
    }
}

/* Listen as the library does: SO_REUSEADDR; NULL or "" host: dual-stack [::]; a name
 * with several addresses: its first IPv4 one, else its first. */
static int open_listener(const char *host, int port, char *where, size_t wcap)
{
    struct addrinfo hints, *list, *ai, *pick = NULL;
    char portstr[16];
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd, one = 1, rc;

    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    if (host != NULL && host[0] == '\0')
        host = NULL;
    if (host == NULL)
        hints.ai_family = AF_INET6;
    snprintf(portstr, sizeof portstr, "%d", port);
    if ((rc = getaddrinfo(host, portstr, &hints, &list)) != 0) {
        fprintf(stderr, "chat_raw_epoll: cannot listen on %s port %d: SK_ENOTFOUND (%s)\n",
                host ? host : "*", port, gai_strerror(rc));
        return -1;
    }
    for (ai = list; ai != NULL && pick == NULL; ai = ai->ai_next)
        if (ai->ai_family == AF_INET)
            pick = ai;
    if (pick == NULL)
        pick = list;
    fd = socket(pick->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (pick->ai_family == AF_INET6) {
            int v6only = host != NULL;
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
        }
        if (bind(fd, pick->ai_addr, pick->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
            int err = errno;
            close(fd);
            fd = -1;
            errno = err;
        }
    }
    freeaddrinfo(list);
    if (fd < 0) {
        fprintf(stderr, "chat_raw_epoll: cannot listen on %s port %d: %s (%s)\n", host ? host : "*", port,
                errname(errno), strerror(errno));
        return -1;
    }
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        perror("chat_raw_epoll: getsockname");
        close(fd);
        return -1;
    }
    format_name(&ss, where, wcap);
    return fd;
}

int main(int argc, char **argv)
{
    const char *host = DEFAULT_HOST;
    int port = DEFAULT_PORT, status;
    struct server s;
    struct sigaction sa;
    struct epoll_event ev;
    char where[NAME_CAP];

    if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc > 3 || (argc > 1 && argv[1][0] == '-') || (argc > 2 && parse_port(argv[2], &port) != 0)) {
        usage(stderr);
        return 2;
    }
    if (argc > 1)
        host = argv[1];

    raise_fd_limit();
    memset(&s, 0, sizeof s);
    s.now_ms = clock_ms();
    if ((s.rbuf = malloc(READ_CHUNK)) == NULL) {
        fprintf(stderr, "chat_raw_epoll: out of memory\n");
        return 1;
    }
    if ((s.epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
        (stop_fd = s.stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
        perror("chat_raw_epoll: epoll/eventfd");
        return 1;
    }
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.ptr = &stop_tag;
    if (epoll_ctl(s.epfd, EPOLL_CTL_ADD, s.stopfd, &ev) != 0) {
        perror("chat_raw_epoll: epoll_ctl");
        return 1;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0) {
        perror("chat_raw_epoll: sigaction");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN); /* writev to a vanished client: EPIPE, not a signal */

    if ((s.lfd = open_listener(host, port, where, sizeof where)) < 0)
        return 1;
    ev.events = EPOLLIN;
    ev.data.ptr = &listener_tag;
    if (epoll_ctl(s.epfd, EPOLL_CTL_ADD, s.lfd, &ev) != 0) {
        perror("chat_raw_epoll: epoll_ctl");
        return 1;
    }
    fprintf(stderr, "chat_raw_epoll: listening on %s\n", where);
    fflush(stderr);

    status = main_loop(&s);

    if (s.holding)
        s.held_ms += s.now_ms - s.hold_began_ms;
    fprintf(stderr, "chat_raw_epoll: input held %llu times, %lld ms in all\n", (unsigned long long)s.holds,
            (long long)s.held_ms);
    fprintf(stderr, "chat_raw_epoll: shutting down, closing %zu clients\n", s.n);
    for (size_t i = 0; i < s.n; i++)
        client_free(&s, s.clients[i]);
    if (s.round_blk != NULL)
        block_release(&s, s.round_blk);
    while (s.n_pool > 0)
        free(s.pool[--s.n_pool]);
    free(s.clients);
    free(s.paused);
    free(s.backed);
    close(s.lfd);
    close(s.stopfd);
    close(s.epfd);
    free(s.rbuf);
    return status;
}
