/* chat_plain_epoll: a plain hand-written epoll broadcast server, the anchor the chat
 * server is measured against in issue 15 (docs/CHAT-PERFORMANCE.md).
 *
 *   chat_plain_epoll [host [port]]          (default: 127.0.0.1 1234)
 *
 * What a careful programmer writes for speed when flow control is not the point: no
 * engine (none of examples/chat/), no TCP_NOTSENT_LOWAT, no hold, no graceful close.
 *   - non-blocking sockets (accept4 SOCK_NONBLOCK), one thread, level-triggered epoll,
 *     256 events per wait, TCP_NODELAY;
 *   - one recv of up to 64 KiB per ready client per batch; its complete lines are
 *     copied once, tagged "[name] ", into the batch's block, a reference-counted
 *     buffer every client's queue shares (a new block once one holds 256 KiB);
 *   - when the batch is done, every other client's queue gets a reference to its
 *     pieces of the block, and each queue goes out with one writev of up to IOV_MAX
 *     pieces; a short write means the socket is full: EPOLLOUT until it is empty;
 *   - the least flow control that lets readers which keep reading keep up under a
 *     load with no window (chat_load without -w): while some client more than 256 KiB
 *     behind wrote something within the last second, nobody's input is read (EPOLLIN
 *     off, lazily, for those that turn out readable) until it is below 64 KiB; a client
 *     whose queue would pass 4 MiB is dropped (closed), so one that stopped reading
 *     stops holding after a second and is dropped soon after. (With no low-water
 *     mark the system holds up to a 4 MiB send buffer per client and says "writable"
 *     only when a third of it is free, so a reader that keeps reading can show no
 *     progress for a second: with the chat server's 1 MiB bound, 3 runs of 6 at 1000
 *     clients dropped such readers.) HIGH_WATER, LOW_WATER, MAX_QUEUE and
 *     BLOCK_TARGET may be set with -D for experiments.
 * It speaks the chat protocol as far as tests/bench/chat_load.c checks it: the welcome,
 * "* NAME joined" / "* NAME left", tagged lines to everyone but their sender, in order.
 * SIGTERM or SIGINT: exit 0. Linux only; no libsockkit header. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 256
#define READ_CHUNK (64 * 1024)
#ifndef BLOCK_TARGET
#define BLOCK_TARGET (256 * 1024)    /* a block is handed out once it holds this much */
#endif
#define BLOCK_CAP (256 * 1024)
#ifndef MAX_QUEUE
#define MAX_QUEUE (4 * 1024 * 1024) /* 1 MiB dropped readers that kept reading (see the top) */
#endif
#define MAX_LINE (64 * 1024)
#ifndef HIGH_WATER
#define HIGH_WATER (256 * 1024)
#endif
#ifndef LOW_WATER
#define LOW_WATER (64 * 1024)
#endif
#define DRAIN_MS 1000

struct block {
    size_t refs, len, cap;
    char data[];
};

struct piece {
    struct block *b;
    size_t off, len;
};

struct client {
    int fd;
    char name[64];
    size_t name_len;
    char *carry;                 /* a line begun, its newline not yet here */
    size_t carry_len, carry_cap;
    struct piece *q;             /* ring of pieces */
    size_t head, n, cap, bytes;
    struct block *own_b;         /* its own range in the current block: not for it */
    size_t own_start, own_end;
    size_t from;                 /* joined during this block: it gets from here */
    struct block *from_b;
    int blocked, gone, backed, paused;
    int64_t progress_ms;         /* when a write last took something */
    size_t idx;
};

static struct client **clients;
static size_t n_clients, cap_clients;
static struct block *cur;        /* the batch's block */
static struct block *free_blk[16];
static size_t n_free;
static int epfd, lfd;
static volatile sig_atomic_t stop;
static int n_gone;
static int64_t now_ms;
static int holding;
static long holds;
static int64_t held_ms, hold_began_ms;
static struct client **backed, **paused;
static size_t n_backed, n_paused;    /* both hold at most every client: sized with clients */

static int64_t clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void unback(struct client *c)
{
    for (size_t i = 0; i < n_backed; i++)
        if (backed[i] == c) {
            backed[i] = backed[--n_backed];
            break;
        }
    c->backed = 0;
}

static void note_backlog(struct client *c)
{
    if (!c->backed && c->bytes >= HIGH_WATER && !c->gone) {
        c->backed = 1;
        backed[n_backed++] = c;
    } else if (c->backed && c->bytes < LOW_WATER) {
        unback(c);
    }
}

static void set_events(struct client *c)
{
    struct epoll_event ev = {.events = (c->paused ? 0u : EPOLLIN) | (c->blocked ? EPOLLOUT : 0u), .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Hold the input while a client that is behind still drains; release it otherwise. */
static void review(void)
{
    int hold = 0;
    for (size_t i = 0; i < n_backed && !hold; i++)
        hold = !backed[i]->gone && now_ms - backed[i]->progress_ms < DRAIN_MS;
    if (!holding && hold) {
        holds++;
        hold_began_ms = now_ms;
    }
    if (holding && !hold) {
        held_ms += now_ms - hold_began_ms;
        while (n_paused > 0) {
            struct client *c = paused[--n_paused];
            c->paused = 0;
            if (!c->gone)
                set_events(c);
        }
    }
    holding = hold;
}

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static struct block *block_new(size_t more)
{
    struct block *b;
    size_t cap = more <= BLOCK_CAP ? BLOCK_CAP : more;
    if (more <= BLOCK_CAP && n_free > 0) {
        b = free_blk[--n_free];
    } else {
        if ((b = malloc(sizeof *b + cap)) == NULL) {
            perror("chat_plain_epoll: malloc");
            exit(1);
        }
        b->cap = cap;
    }
    b->refs = 1;
    b->len = 0;
    return b;
}

static void block_release(struct block *b)
{
    if (--b->refs > 0)
        return;
    if (b->cap == BLOCK_CAP && n_free < 16)
        free_blk[n_free++] = b;
    else
        free(b);
}

static void queue_push(struct client *c, struct block *b, size_t off, size_t len)
{
    if (len == 0 || c->gone)
        return;
    if (c->bytes + len > MAX_QUEUE) {
        c->gone = 1;
        n_gone++;
        return;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        struct piece *p = malloc(cap * sizeof *p);
        if (p == NULL) {
            perror("chat_plain_epoll: malloc");
            exit(1);
        }
        for (size_t i = 0; i < c->n; i++)
            p[i] = c->q[(c->head + i) % c->cap];
        free(c->q);
        c->q = p;
        c->cap = cap;
        c->head = 0;
    }
    c->q[(c->head + c->n) % c->cap] = (struct piece){b, off, len};
    c->n++;
    c->bytes += len;
    b->refs++;
}

/* One writev of the queue (a second only if the first took IOV_MAX pieces whole). */
static void flush(struct client *c)
{
    static struct iovec v[IOV_MAX];
    while (c->n > 0 && !c->gone) {
        size_t cnt = 0, want = 0;
        ssize_t k;
        for (; cnt < c->n && cnt < IOV_MAX; cnt++) {
            struct piece *p = &c->q[(c->head + cnt) % c->cap];
            v[cnt].iov_base = p->b->data + p->off;
            v[cnt].iov_len = p->len;
            want += p->len;
        }
        k = writev(c->fd, v, (int)cnt);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN) {
                c->gone = 1;
                n_gone++;
                return;
            }
            k = 0;
        }
        if (k > 0)
            c->progress_ms = now_ms;
        c->bytes -= (size_t)k;
        for (size_t sent = (size_t)k; sent > 0;) {
            struct piece *p = &c->q[c->head];
            if (sent < p->len) {
                p->off += sent;
                p->len -= sent;
                break;
            }
            sent -= p->len;
            block_release(p->b);
            c->head = (c->head + 1) % c->cap;
            c->n--;
        }
        if ((size_t)k < want) {
            if (!c->blocked) {
                c->blocked = 1;
                set_events(c);
            }
            note_backlog(c);
            return;
        }
    }
    if (c->blocked) {
        c->blocked = 0;
        set_events(c);
    }
    note_backlog(c);
}

/* The batch is done (or its block is full): hand the block to every queue. */
static void end_block(void)
{
    struct block *b = cur;
    if (b == NULL)
        return;
    cur = NULL;
    for (size_t i = 0; i < n_clients; i++) {
        struct client *c = clients[i];
        size_t from = c->from_b == b ? c->from : 0;
        if (c->own_b == b && c->own_end > c->own_start) {
            queue_push(c, b, from, c->own_start - from);
            from = c->own_end;
        }
        queue_push(c, b, from, b->len - from);
        c->own_b = c->from_b = NULL;
        if (!c->blocked)
            flush(c);
        else
            note_backlog(c);
    }
    block_release(b);
    review(); /* hold as soon as someone falls behind, even in the middle of a batch */
}

static char *room(size_t more)
{
    if (cur != NULL && cur->len + more > cur->cap)
        end_block();
    if (cur == NULL)
        cur = block_new(more);
    return cur->data + cur->len;
}

/* Client c's bytes go into the block as one range (end the block if it had another). */
static void own_begin(struct client *c, size_t more)
{
    room(more);
    if (c->own_b == cur && c->own_end != cur->len)
        end_block(), room(more);
    if (c->own_b != cur) {
        c->own_b = cur;
        c->own_start = c->own_end = cur->len;
    }
}

static void put(struct client *c, const char *a, size_t alen, const char *b, size_t blen)
{
    char *p;
    own_begin(c, c->name_len + 3 + alen + blen);
    p = cur->data + cur->len;
    *p++ = '[';
    memcpy(p, c->name, c->name_len);
    p += c->name_len;
    *p++ = ']';
    *p++ = ' ';
    if (alen > 0) /* a or b may be NULL when empty: memcpy must not see it */
        memcpy(p, a, alen);
    if (blen > 0)
        memcpy(p + alen, b, blen);
    cur->len += c->name_len + 3 + alen + blen;
    c->own_end = cur->len;
}

static void notice(struct client *c, const char *what)
{
    char line[128];
    int n = snprintf(line, sizeof line, "* %s %s\n", c->name, what);
    own_begin(c, (size_t)n);
    memcpy(cur->data + cur->len, line, (size_t)n);
    cur->len += (size_t)n;
    c->own_end = cur->len;
}

static void on_readable(struct client *c, char *buf)
{
    ssize_t n = recv(c->fd, buf, READ_CHUNK, 0);
    const char *p = buf, *end;
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        c->gone = 1;
        n_gone++;
        return;
    }
    end = buf + n;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL) {
            size_t add = (size_t)(end - p);
            if (c->carry_len + add > MAX_LINE) {
                c->gone = 1;
                n_gone++;
                return;
            }
            if (c->carry_len + add > c->carry_cap) {
                c->carry_cap = c->carry_len + add + 1024;
                if ((c->carry = realloc(c->carry, c->carry_cap)) == NULL) {
                    perror("chat_plain_epoll: realloc");
                    exit(1);
                }
            }
            memcpy(c->carry + c->carry_len, p, add);
            c->carry_len += add;
            return;
        }
        put(c, c->carry, c->carry_len, p, (size_t)(nl + 1 - p));
        c->carry_len = 0;
        p = nl + 1;
    }
}

static void accept_clients(void)
{
    for (int i = 0; i < 64; i++) {
        struct sockaddr_in peer;
        socklen_t plen = sizeof peer;
        char ip[INET_ADDRSTRLEN], line[160];
        int one = 1, n;
        struct client *c;
        struct epoll_event ev;
        struct block *w;
        int fd = accept4(lfd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (n_clients == cap_clients) {
            cap_clients = cap_clients ? cap_clients * 2 : 64;
            clients = realloc(clients, cap_clients * sizeof *clients);
            backed = realloc(backed, cap_clients * sizeof *backed);
            paused = realloc(paused, cap_clients * sizeof *paused);
        }
        c = calloc(1, sizeof *c);
        if (clients == NULL || backed == NULL || paused == NULL || c == NULL) {
            perror("chat_plain_epoll: malloc");
            exit(1);
        }
        c->fd = fd;
        c->progress_ms = now_ms;
        inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof ip);
        c->name_len = (size_t)snprintf(c->name, sizeof c->name, "%s:%u", ip, (unsigned)ntohs(peer.sin_port));
        ev.events = EPOLLIN;
        ev.data.ptr = c;
        epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
        n = snprintf(line, sizeof line, "* welcome %s, %zu other%s here\n", c->name, n_clients,
                     n_clients == 1 ? "" : "s");
        w = block_new((size_t)n);
        memcpy(w->data, line, (size_t)n);
        w->len = (size_t)n;
        queue_push(c, w, 0, w->len);
        block_release(w);
        c->from_b = cur; /* what is in the block already is not for it */
        c->from = cur ? cur->len : 0;
        c->idx = n_clients;
        clients[n_clients++] = c;
        notice(c, "joined");
    }
}

/* Remove the clients marked gone; their departure goes to the others. */
static void reap(void)
{
    while (n_gone > 0) {
        for (size_t i = 0; i < n_clients;) {
            struct client *c = clients[i];
            if (!c->gone) {
                i++;
                continue;
            }
            clients[i] = clients[--n_clients];
            clients[i]->idx = i;
            n_gone--;
            notice(c, "left");
            if (c->backed)
                unback(c);
            if (c->paused)
                for (size_t k = 0; k < n_paused; k++)
                    if (paused[k] == c) {
                        paused[k] = paused[--n_paused];
                        break;
                    }
            if (cur != NULL && c->own_b == cur)
                c->own_b = NULL;
            while (c->n > 0) {
                block_release(c->q[c->head].b);
                c->head = (c->head + 1) % c->cap;
                c->n--;
            }
            close(c->fd);
            free(c->q);
            free(c->carry);
            free(c);
        }
        end_block();
    }
}

/* On SIGTERM: every client leaves and everything is freed, so that a sanitizer build
 * (the asan stage runs chat.bench_smoke) reports a real leak, not the ones at exit. */
static void shut_down(char *buf)
{
    for (size_t i = 0; i < n_clients; i++)
        if (!clients[i]->gone) {
            clients[i]->gone = 1;
            n_gone++;
        }
    reap();
    end_block();
    while (n_free > 0)
        free(free_blk[--n_free]);
    free(clients);
    free(backed);
    free(paused);
    free(buf);
    close(epfd);
    close(lfd);
}

int main(int argc, char **argv)
{
    static struct epoll_event evs[MAX_EVENTS];
    const char *host = argc > 1 ? argv[1] : "127.0.0.1";
    int port = argc > 2 ? atoi(argv[2]) : 1234, one = 1;
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    struct sigaction sa;
    struct rlimit rl;
    char *buf = malloc(READ_CHUNK);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: epoll_wait returns EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    if (buf == NULL || inet_pton(AF_INET, strcmp(host, "localhost") == 0 ? "127.0.0.1" : host, &a.sin_addr) != 1) {
        fprintf(stderr, "chat_plain_epoll: usage: chat_plain_epoll [IPv4 address [port]]\n");
        return 2;
    }
    if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0 ||
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, SOMAXCONN) != 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &alen) != 0 || (epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
        epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev) != 0) {
        perror("chat_plain_epoll: listen");
        return 1;
    }
    now_ms = clock_ms();
    fprintf(stderr, "chat_plain_epoll: listening on %s:%u\n", host, (unsigned)ntohs(a.sin_port));

    while (!stop) {
        int count;
        review();
        count = epoll_wait(epfd, evs, MAX_EVENTS, n_backed > 0 ? 100 : -1);
        now_ms = clock_ms();
        if (count < 0) {
            if (errno == EINTR)
                continue;
            perror("chat_plain_epoll: epoll_wait");
            return 1;
        }
        for (int i = 0; i < count; i++) {
            struct client *c = evs[i].data.ptr;
            if (c == NULL) {
                accept_clients();
                continue;
            }
            if (c->gone)
                continue; /* closed only after the batch */
            if (evs[i].events & EPOLLOUT)
                flush(c);
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                if (!holding || (evs[i].events & (EPOLLHUP | EPOLLERR))) {
                    on_readable(c, buf);
                } else if (!c->paused) {
                    c->paused = 1; /* lazily: only those that turn out readable */
                    paused[n_paused++] = c;
                    set_events(c);
                }
            }
            if (cur != NULL && cur->len >= BLOCK_TARGET)
                end_block();
        }
        end_block();
        reap();
    }
    fprintf(stderr, "chat_plain_epoll: input held %ld times, %lld ms in all\n", holds, (long long)held_ms);
    shut_down(buf);
    return 0;
}
