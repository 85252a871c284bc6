/* chat_load: a load generator and checker for examples/chat-server (and its raw-epoll
 * twin, tests/bench/chat_raw_epoll.c). A measurement tool, never a timed test (CTest
 * runs it only in a small smoke configuration, through chat_bench.sh --smoke).
 *
 *   chat_load [-c clients] [-n lines] [-s bytes] [-w window] [-x] [-t seconds] SERVER [host]
 *
 * Starts SERVER on host (default 127.0.0.1) port 0, notes its memory (VmRSS) before
 * anyone connects, connects `clients` clients (plus, with -x, one more that never
 * reads, connected last), waits until every client has been welcomed, and reports the
 * server's memory again and per client. Then each client sends `lines` lines of
 * `bytes` bytes (its index and a sequence number, padded) as fast as the server takes
 * them (the server's own flow control keeps readers from falling behind; -w caps the
 * lines in flight overall instead); every line must reach every other reading client
 * exactly once, in order per sender, with its sender's tag. Prints the lines delivered
 * per second: over the whole run, and (with -x) from the moment the client that never
 * reads was seen leaving, which leaves out the server's one-time wait for it. Then the
 * server's peak memory (VmHWM); then it stops the server with SIGTERM (it must exit
 * 0). The last line, "RESULT key=value ...", is for scripts (chat_bench.sh). Exit
 * status 0 when everything checked out.
 *
 * One thread, one epoll loop, no library: what is measured is the server. Linux only. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct cl {
    int fd;
    char tag[48];        /* "[127.0.0.1:PORT] " as the server writes it */
    int tag_len;
    char *carry;         /* the start of a line not complete yet */
    size_t carry_len;
    int welcomed, ended;
    uint32_t sent;       /* lines handed to the socket (or to pend) */
    char *pend;          /* bytes of lines not yet taken by the socket */
    size_t pend_off, pend_len;
};

static int nclients = 100, nlines = 100, line_bytes = 100, window = 0, staller = 0, timeout_s = 300;
static struct cl *cls;
static uint32_t *next_seq;  /* next_seq[reader * n + sender] */
static uint64_t delivered, expected, errors;
static size_t carry_cap;
static char stall_left[96];      /* "* NAME left" of the client that never reads */
static size_t stall_left_len;
static double t_stall_left;      /* when a reader first saw it (0: not yet) */
static uint64_t delivered_at_stall_left;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    perror(what);
    exit(2);
}

static long proc_status_kb(pid_t pid, const char *field)
{
    char path[64], line[256];
    long v = -1;
    size_t flen = strlen(field);
    FILE *f;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, flen) == 0 && line[flen] == ':')
            v = strtol(line + flen + 1, NULL, 10);
    fclose(f);
    return v;
}

static void report_error(int r, const char *fmt, const char *line, size_t len)
{
    if (errors++ < 10)
        fprintf(stderr, "chat_load: client %d: %s: %.*s\n", r, fmt, (int)(len > 80 ? 80 : len), line);
}

/* One complete line (without its newline) arrived at client r. */
static void on_line(int r, const char *p, size_t len)
{
    long s, seq;
    char *end;
    const char *q;

    if (len >= 2 && p[0] == '*' && p[1] == ' ') {
        if (len >= 10 && memcmp(p, "* welcome ", 10) == 0)
            cls[r].welcomed++;
        else if (t_stall_left == 0 && stall_left_len > 0 && len == stall_left_len &&
                 memcmp(p, stall_left, len) == 0) {
            t_stall_left = now_s();
            delivered_at_stall_left = delivered;
        }
        return; /* joins and departures */
    }
    if (len == 0 || p[0] != '[' || (q = memchr(p, ']', len)) == NULL || q + 2 > p + len) {
        report_error(r, "unexpected line", p, len);
        return;
    }
    s = strtol(q + 2, &end, 10);
    if (end == q + 2 || *end != ' ' || s < 0 || s >= nclients) {
        report_error(r, "bad sender index", p, len);
        return;
    }
    seq = strtol(end + 1, &end, 10);
    if ((size_t)cls[s].tag_len > len || memcmp(p, cls[s].tag, (size_t)cls[s].tag_len) != 0) {
        report_error(r, "wrong tag for its sender", p, len);
        return;
    }
    if (s == r) {
        report_error(r, "its own line came back", p, len);
        return;
    }
    if (next_seq == NULL || (uint32_t)seq != next_seq[(size_t)r * (size_t)nclients + (size_t)s]) {
        report_error(r, "line out of order, lost or repeated", p, len);
        return;
    }
    next_seq[(size_t)r * (size_t)nclients + (size_t)s]++;
    delivered++;
}

static void on_readable(int r, char *buf, size_t cap)
{
    struct cl *c = &cls[r];
    for (int k = 0; k < 4; k++) {
        ssize_t n = recv(c->fd, buf, cap, MSG_DONTWAIT);
        char *p, *e, *nl;
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return;
            fprintf(stderr, "chat_load: client %d: %s (dropped by the server?)\n", r, strerror(errno));
            c->ended = 1;
            errors++;
            return;
        }
        if (n == 0) {
            fprintf(stderr, "chat_load: client %d: end of stream (dropped by the server?)\n", r);
            c->ended = 1;
            errors++;
            return;
        }
        p = buf;
        e = buf + n;
        while (p < e && (nl = memchr(p, '\n', (size_t)(e - p))) != NULL) {
            if (c->carry_len > 0) {
                size_t add = (size_t)(nl - p);
                if (c->carry_len + add <= carry_cap) {
                    memcpy(c->carry + c->carry_len, p, add);
                    on_line(r, c->carry, c->carry_len + add);
                } else {
                    report_error(r, "line too long", c->carry, c->carry_len);
                }
                c->carry_len = 0;
            } else {
                on_line(r, p, (size_t)(nl - p));
            }
            p = nl + 1;
        }
        if (p < e) {
            size_t add = (size_t)(e - p);
            if (c->carry_len + add > carry_cap) {
                report_error(r, "line too long", p, add);
                c->carry_len = 0;
            } else {
                memcpy(c->carry + c->carry_len, p, add);
                c->carry_len += add;
            }
        }
        if ((size_t)n < cap)
            return;
    }
}

/* Client i sends its next batch of lines, as far as the window allows. */
static void feed(int i, uint64_t *in_flight_budget)
{
    struct cl *c = &cls[i];
    if (c->pend_len == 0) {
        uint32_t batch = 16, k;
        size_t len = 0;
        if (c->sent >= (uint32_t)nlines || *in_flight_budget == 0)
            return;
        if (batch > (uint32_t)nlines - c->sent)
            batch = (uint32_t)nlines - c->sent;
        if (batch > *in_flight_budget)
            batch = (uint32_t)*in_flight_budget;
        for (k = 0; k < batch; k++) {
            int h = snprintf(c->pend + len, 32, "%d %u ", i, (unsigned)(c->sent + k));
            int pad = line_bytes - h > 0 ? line_bytes - h : 0;
            memset(c->pend + len + h, 'x', (size_t)pad);
            len += (size_t)h + (size_t)pad;
            c->pend[len++] = '\n';
        }
        c->sent += batch;
        *in_flight_budget -= batch;
        c->pend_off = 0;
        c->pend_len = len;
    }
    while (c->pend_len > 0) {
        ssize_t n = send(c->fd, c->pend + c->pend_off, c->pend_len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                fprintf(stderr, "chat_load: client %d: send: %s\n", i, strerror(errno));
                c->ended = 1;
                errors++;
                c->pend_len = 0;
            }
            return;
        }
        c->pend_off += (size_t)n;
        c->pend_len -= (size_t)n;
    }
}

static pid_t start_server(const char *path, const char *host, int *port)
{
    char logname[] = "/tmp/chat_load_server_XXXXXX";
    int logfd = mkstemp(logname);
    pid_t pid;
    double deadline = now_s() + 10;
    if (logfd < 0)
        die("mkstemp");
    unlink(logname);
    pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(logfd, 2);
        execl(path, path, host, "0", (char *)NULL);
        perror("exec");
        _exit(127);
    }
    for (;;) {
        char buf[512];
        ssize_t n = pread(logfd, buf, sizeof buf - 1, 0);
        char *p;
        if (n > 0) {
            buf[n] = '\0';
            if ((p = strstr(buf, "listening on ")) != NULL && strchr(p, '\n') != NULL) {
                char *colon = strrchr(strtok(p + 13, "\n"), ':');
                *port = atoi(colon + 1);
                break;
            }
        }
        if (now_s() > deadline || waitpid(pid, NULL, WNOHANG) == pid) {
            fprintf(stderr, "chat_load: the server did not start\n");
            exit(2);
        }
        usleep(10000);
    }
    /* The server keeps logging joins and departures to this file; it is unlinked. */
    close(logfd);
    return pid;
}

static int connect_one(const char *host, int port, int rcvbuf)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd, one = 1;
    memset(&ss, 0, sizeof ss);
    if (strchr(host, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        inet_pton(AF_INET6, host, &a->sin6_addr);
        len = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, host, &a->sin_addr);
        len = sizeof *a;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&ss, len) != 0)
        die("connect");
    return fd;
}

/* The name the server gives the client on fd: "127.0.0.1:PORT" or "[::1]:PORT". */
static void local_name(int fd, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char ip[INET6_ADDRSTRLEN];
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        die("getsockname");
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        snprintf(out, cap, "[%s]:%d", ip, ntohs(a->sin6_port));
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        snprintf(out, cap, "%s:%d", ip, ntohs(a->sin_port));
    }
}

static void set_tag(struct cl *c)
{
    char name[64];
    local_name(c->fd, name, sizeof name);
    c->tag_len = snprintf(c->tag, sizeof c->tag, "[%s] ", name);
}

static void usage(void)
{
    fprintf(stderr, "usage: chat_load [-c clients] [-n lines] [-s bytes] [-w window] [-x] [-t seconds] SERVER [host]\n"
                    "  -c  reading clients (default 100)\n"
                    "  -n  lines each client sends (default 100; 0: connect, measure memory, stop)\n"
                    "  -s  bytes per line before the server's tag (default 100, 16..60000)\n"
                    "  -w  lines in flight at most (default 0: no cap, the server's flow control decides)\n"
                    "  -x  add one client that never reads (the server may drop it)\n"
                    "  -t  give up after this many seconds (default 300)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *server, *host = "127.0.0.1";
    int opt, port, epfd, stall_fd = -1, status;
    pid_t pid;
    double t0, t_conn, t_send = 0, t_done = 0, deadline;
    long hwm, rss_idle, rss_base;
    uint64_t budget;
    char *rbuf;
    struct rlimit rl;
    int stall_dropped = -1;

    while ((opt = getopt(argc, argv, "c:n:s:w:xt:h")) != -1) {
        switch (opt) {
        case 'c': nclients = atoi(optarg); break;
        case 'n': nlines = atoi(optarg); break;
        case 's': line_bytes = atoi(optarg); break;
        case 'w': window = atoi(optarg); break;
        case 'x': staller = 1; break;
        case 't': timeout_s = atoi(optarg); break;
        default: usage();
        }
    }
    if (optind >= argc || argc - optind > 2 || nclients < 2 || nlines < 0 || line_bytes < 16 ||
        line_bytes > 60000 || timeout_s < 1)
        usage();
    server = argv[optind];
    if (argc - optind == 2)
        host = argv[optind + 1];
    if (nlines > 0 && (uint64_t)nclients * (uint64_t)nclients > 200000000u) {
        fprintf(stderr, "chat_load: too many clients for the order check with -n > 0\n");
        return 2;
    }

    signal(SIGPIPE, SIG_IGN);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)nclients + 64) {
        fprintf(stderr, "chat_load: RLIMIT_NOFILE %lu is too low for %d clients\n",
                (unsigned long)rl.rlim_cur, nclients);
        return 2;
    }

    carry_cap = (size_t)line_bytes + 256;
    cls = calloc((size_t)nclients, sizeof *cls);
    rbuf = malloc(1 << 16);
    if (cls == NULL || rbuf == NULL)
        die("malloc");
    if (nlines > 0 && (next_seq = calloc((size_t)nclients * (size_t)nclients, sizeof *next_seq)) == NULL)
        die("calloc");
    pid = start_server(server, host, &port);
    rss_base = proc_status_kb(pid, "VmRSS");
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        die("epoll_create1");

    /* Connect everyone; drain what arrives meanwhile (joins) so nobody falls behind. */
    t0 = now_s();
    deadline = t0 + timeout_s;
    for (int i = 0; i < nclients; i++) {
        struct epoll_event ev;
        struct cl *c = &cls[i];
        c->fd = connect_one(host, port, 0);
        set_tag(c);
        c->carry = malloc(carry_cap);
        c->pend = malloc((size_t)16 * ((size_t)line_bytes + 32));
        if (c->carry == NULL || c->pend == NULL)
            die("malloc");
        ev.events = EPOLLIN;
        ev.data.u32 = (uint32_t)i;
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0)
            die("epoll_ctl");
        if (i % 64 == 63) {
            struct epoll_event evs[256];
            int n = epoll_wait(epfd, evs, 256, 0);
            for (int k = 0; k < n; k++)
                on_readable((int)evs[k].data.u32, rbuf, 1 << 16);
        }
    }
    if (staller) {
        char name[64];
        stall_fd = connect_one(host, port, 4096);
        local_name(stall_fd, name, sizeof name);
        stall_left_len = (size_t)snprintf(stall_left, sizeof stall_left, "* %s left", name);
    }
    for (;;) {
        struct epoll_event evs[256];
        int n, all = 1;
        for (int i = 0; i < nclients && all; i++)
            all = cls[i].welcomed > 0 || cls[i].ended;
        if (all)
            break;
        if (now_s() > deadline) {
            fprintf(stderr, "chat_load: timed out waiting for every welcome\n");
            errors++;
            break;
        }
        n = epoll_wait(epfd, evs, 256, 100);
        for (int k = 0; k < n; k++)
            on_readable((int)evs[k].data.u32, rbuf, 1 << 16);
    }
    t_conn = now_s();
    rss_idle = proc_status_kb(pid, "VmRSS");
    printf("clients: %d reading%s, all welcomed in %.2f s; server VmRSS %ld kB, %ld kB before the "
           "first client (%.2f kB per client)\n",
           nclients, staller ? " + 1 never reading" : "", t_conn - t0, rss_idle, rss_base,
           (double)(rss_idle - rss_base) / (nclients + staller));

    if (nlines > 0 && errors == 0) {
        uint64_t total_lines = (uint64_t)nclients * (uint64_t)nlines;
        int rr = 0;
        expected = total_lines * (uint64_t)(nclients - 1);
        t_send = now_s();
        while (delivered < expected && errors == 0) {
            struct epoll_event evs[512];
            uint64_t sent_lines = 0, in_flight;
            int n, more = 0;
            /* Lines in flight: sent but not yet at every reader. */
            for (int i = 0; i < nclients; i++)
                sent_lines += cls[i].sent;
            in_flight = sent_lines - delivered / (uint64_t)(nclients - 1);
            if (window <= 0)
                budget = UINT64_MAX;
            else
                budget = in_flight < (uint64_t)window ? (uint64_t)window - in_flight : 0;
            for (int k = 0; k < nclients; k++) {
                int i = (rr + k) % nclients;
                if (!cls[i].ended)
                    feed(i, &budget);
                more |= cls[i].pend_len > 0;
            }
            rr = (rr + 1) % nclients;
            n = epoll_wait(epfd, evs, 512, more ? 0 : 10);
            for (int k = 0; k < n; k++)
                on_readable((int)evs[k].data.u32, rbuf, 1 << 16);
            if (now_s() > deadline) {
                fprintf(stderr, "chat_load: timed out with %llu of %llu deliveries\n",
                        (unsigned long long)delivered, (unsigned long long)expected);
                errors++;
            }
        }
        t_done = now_s();
    }

    if (staller) {
        /* Did the server drop the client that never reads? Read what it holds. */
        /* What the server handed to the system before it closed still arrives: read
         * until end of stream, or until nothing comes for a second. */
        stall_dropped = 0;
        for (;;) {
            struct pollfd p = {stall_fd, POLLIN, 0};
            ssize_t n;
            if (poll(&p, 1, 1000) == 0)
                break; /* quiet for a second: still connected */
            n = recv(stall_fd, rbuf, 1 << 16, MSG_DONTWAIT);
            if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)))
                continue;
            stall_dropped = 1; /* end of stream or reset */
            break;
        }
    }

    hwm = proc_status_kb(pid, "VmHWM");
    if (nlines > 0 && t_done > t_send) {
        double secs = t_done - t_send;
        char wtext[32];
        if (window > 0)
            snprintf(wtext, sizeof wtext, "window %d", window);
        else
            snprintf(wtext, sizeof wtext, "no window");
        printf("lines: %d per client of %d bytes, %s; %llu deliveries in %.2f s = %.0f lines/s delivered (%.1f MB/s)\n",
               nlines, line_bytes, wtext, (unsigned long long)delivered, secs, delivered / secs,
               delivered * (double)(line_bytes + cls[0].tag_len + 1) / secs / 1e6);
        if (t_stall_left > 0 && t_done > t_stall_left && delivered > delivered_at_stall_left) {
            double s2 = t_done - t_stall_left;
            uint64_t d2 = delivered - delivered_at_stall_left;
            printf("after the client that never reads left (%.2f s into the run): %llu deliveries in %.2f s "
                   "= %.0f lines/s delivered\n",
                   t_stall_left - t_send, (unsigned long long)d2, s2, d2 / s2);
        }
    }
    if (staller)
        printf("the client that never reads: %s\n", stall_dropped ? "dropped by the server" : "still connected");
    printf("server peak memory: VmHWM %ld kB\n", hwm);

    kill(pid, SIGTERM);
    if (waitpid(pid, &status, 0) != pid)
        die("waitpid");
    {
        struct rusage ru, self;
        double cpu_server, cpu_self, secs = t_done > t_send ? t_done - t_send : 0;
        double secs2 = t_stall_left > 0 && t_done > t_stall_left ? t_done - t_stall_left : 0;
        uint64_t d2 = secs2 > 0 ? delivered - delivered_at_stall_left : 0;
        getrusage(RUSAGE_CHILDREN, &ru);
        getrusage(RUSAGE_SELF, &self);
        cpu_server = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
        cpu_self = self.ru_utime.tv_sec + self.ru_utime.tv_usec / 1e6 + self.ru_stime.tv_sec + self.ru_stime.tv_usec / 1e6;
        printf("CPU seconds (user+system): server %.2f, chat_load %.2f\n", cpu_server, cpu_self);
        printf("RESULT clients=%d staller=%d lines=%d bytes=%d deliveries=%llu secs=%.4f rate=%.0f "
               "steady_deliveries=%llu steady_secs=%.4f steady_rate=%.0f stall_dropped=%d rss_base_kb=%ld "
               "rss_kb=%ld hwm_kb=%ld cpu_server=%.3f cpu_load=%.3f errors=%llu\n",
               nclients, staller, nlines, line_bytes, (unsigned long long)delivered, secs,
               secs > 0 ? delivered / secs : 0, (unsigned long long)d2, secs2, secs2 > 0 ? d2 / secs2 : 0,
               stall_dropped, rss_base, rss_idle, hwm, cpu_server, cpu_self,
               (unsigned long long)errors + (!WIFEXITED(status) || WEXITSTATUS(status) != 0));
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "chat_load: the server did not exit 0 on SIGTERM\n");
        errors++;
    }
    for (int i = 0; i < nclients; i++) {
        close(cls[i].fd);
        free(cls[i].carry);
        free(cls[i].pend);
    }
    if (stall_fd >= 0)
        close(stall_fd);
    close(epfd);
    free(cls);
    free(next_seq);
    free(rbuf);
    if (errors) {
        printf("check: FAILED (%llu errors)\n", (unsigned long long)errors);
        return 1;
    }
    if (nlines > 0)
        printf("check: every line reached every other reading client exactly once, in order, with its sender's tag\n");
    return 0;
}
