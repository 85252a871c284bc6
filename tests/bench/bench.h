/* sk_bench: shared declarations of the harness (bench.c), the raw POSIX twins
 * (bench_raw.c) and the libsockkit side (bench_sk.c). Benchmark code only. */
#ifndef SK_BENCH_H
#define SK_BENCH_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* The budget every libsockkit call gets (as real programs pass one), and the value a
 * raw twin with a timeout stores once in SO_RCVTIMEO / SO_SNDTIMEO. */
#define BENCH_TIMEOUT_MS 5000

#define BENCH_CHUNK (64 * 1024) /* bulk write and read size */
#define BENCH_PING 32           /* ping-pong message */
#define BENCH_MSG 64            /* one-way message */
#define BENCH_DGRAM 64          /* UDP datagram */
#define BENCH_DGRAM_BIG 1200    /* UDP datagram of the offload workloads (QUIC's usual size) */
#define BENCH_BURST 1500        /* K_UDP_BIG_BURST: datagrams sent at once (1.8 MB) */
#define BENCH_BURST_RCVBUF (1 << 20) /* ... into a receive buffer of 1 MiB (both receivers) */
#define BENCH_REQ_HEAD 4        /* request/response: a 4-byte header ... */
#define BENCH_REQ_BODY 60       /* ... then a 60-byte body, answered with 64 bytes */
#define BENCH_LINE 64           /* delimited line, '\n' last */
#define BENCH_LINE_1K 1024      /* the long lines of K_LINES1K */
#define BENCH_PERIOD 251        /* the bulk pattern repeats every 251 bytes */
#define BENCH_MARK UINT64_MAX   /* the sequence number of a UDP end marker */

/* What a measured function and its peer do; one value per workload. */
enum bench_kind {
    K_BULK_SEND,  /* measured writes 64 KiB at a time, peer drains */
    K_BULK_RECV,  /* peer writes 64 KiB at a time, measured reads 64 KiB at a time */
    K_PINGPONG,   /* 32 bytes there and back, peer echoes */
    K_MSG_SEND,   /* 64-byte messages one way, one call each; peer drains in bulk */
    K_MSG_RECV,   /* peer writes 64-byte messages in bulk, measured reads one per call */
    K_UDP_SEND,   /* measured sends datagrams, peer receives and counts */
    K_UDP_RECV,   /* peer sends datagrams, measured receives and counts */
    K_ACCEPT,     /* peer connects, measured accepts and closes */
    K_CONNECT,    /* measured connects and closes, peer accepts */
    K_REQRESP,    /* 4-byte then 60-byte request, 64-byte response: one latency each */
    K_LINES,      /* peer writes '\n'-terminated 64-byte lines in bulk, measured reads lines */
    K_LINES1K,    /* the same with 1024-byte lines */
    K_HEADBODY,   /* measured writes an 8-byte header and a 56-byte body per message */
    K_UDP_BURST,  /* peer sends a burst as fast as it can, measured receives: losses */
    K_UDP_BIG_SEND,  /* measured sends 1200 B datagrams, peer receives with UDP_GRO and counts */
    K_UDP_BIG_BURST, /* peer sends 1200 B datagrams in UDP_SEGMENT runs as fast as it can,
                        measured receives: losses */
    K_KINDS
};

struct bench_run {
    /* Set by the harness. */
    int kind;
    uint64_t n;          /* operations to do (see bench_kind) */
    int verify;          /* check every byte of bulk data (always done for messages) */
    int opt;             /* the variant's option: timeout, nodelay, batch size... */
    int peer_port;       /* the peer's port when the peer started first */
    int peer_fd;         /* the peer's listening or bound socket, when it started first */

    /* Set by the measured function. */
    int64_t t0, t1;      /* CLOCK_MONOTONIC ns around the measured loop */
    int64_t cpu0, cpu1;  /* the measured thread's CPU time (user + system), ns, likewise */
    uint64_t done;       /* operations completed */
    uint64_t extra;      /* e.g. datagrams the peer received */
    uint64_t calls;      /* UDP receivers: receive calls that returned datagrams */
    double *lat_us;      /* K_REQRESP: one latency per exchange (n entries) */
    char err[256];       /* the first failure, empty when everything checked out */

    /* The peer thread. */
    pthread_t peer;
    int peer_running;
    uint64_t peer_count; /* what the peer counted (bytes, messages, datagrams) */
    char peer_err[256];
    int go;              /* the peer's start signal (gate below), for sources */
    int stop;            /* a receiver saw the end (UDP), atomic */
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

/* Shared helpers (bench.c). */
int64_t bench_now_ns(void);
/* Around the measured loop: wall clock and this thread's CPU time. */
void bench_start(struct bench_run *r);
void bench_stop(struct bench_run *r);
/* Record the first failure of the measured side; returns -1. */
int bench_fail(struct bench_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The bulk pattern: BENCH_CHUNK + BENCH_PERIOD bytes; the byte at stream offset o is
 * bench_pattern()[o % BENCH_PERIOD], so any piece of the stream starting at o is
 * bench_pattern() + o % BENCH_PERIOD. */
const unsigned char *bench_pattern(void);
/* Check a piece of the bulk stream that starts at stream offset off. */
int bench_check_bulk(const unsigned char *buf, size_t len, uint64_t off);
/* A message or datagram of len bytes (>= 8) for sequence number seq, and its check. */
void bench_fill_msg(unsigned char *buf, size_t len, uint64_t seq);
int bench_check_msg(const unsigned char *buf, size_t len, uint64_t seq);
/* A '\n'-terminated line of BENCH_LINE bytes for seq, and its check. */
void bench_fill_line(unsigned char *buf, uint64_t seq);
int bench_check_line(const unsigned char *buf, size_t len, uint64_t seq);
/* The same for lines of want bytes (>= 18), and the line length of a lines workload. */
void bench_fill_line_n(unsigned char *buf, size_t want, uint64_t seq);
int bench_check_line_n(const unsigned char *buf, size_t len, size_t want, uint64_t seq);
static inline size_t bench_line_len(const struct bench_run *r)
{
    return r->kind == K_LINES1K ? BENCH_LINE_1K : BENCH_LINE;
}
/* Start the peer now that the measured side listens or is bound at port (for the
 * workloads whose measured side must exist first: accept, UDP receive). */
int bench_peer_start(struct bench_run *r, int port);
/* Let a waiting source peer start (bulk, message and UDP sources). */
void bench_go(struct bench_run *r);
/* UDP: after the measured sender's n datagrams, send end markers on its descriptor
 * until the receiving peer has seen one (at most 2 s). */
void bench_udp_send_markers(struct bench_run *r, int fd);
/* UDP: is this datagram an end marker? */
int bench_is_marker(const unsigned char *buf, size_t len);

/* One measured function per workload and side; opt as in bench_run. */
typedef int (*bench_fn)(struct bench_run *r);

int raw_bulk_send(struct bench_run *r);
int raw_bulk_recv(struct bench_run *r);
int raw_pingpong(struct bench_run *r);      /* opt: SO_RCVTIMEO/SO_SNDTIMEO ms, 0 none */
int raw_msg_send(struct bench_run *r);
int raw_msg_recv(struct bench_run *r);
int raw_udp_send(struct bench_run *r);      /* opt: 0 connected send(), 1 sendto(), 2 sendmmsg() x64 */
int raw_udp_recv(struct bench_run *r);      /* opt: 0 recv(), 1 recvmmsg() x64 */
int raw_accept(struct bench_run *r);
int raw_connect(struct bench_run *r);       /* opt: SO_SNDTIMEO ms before connect, 0 none */
int raw_reqresp(struct bench_run *r);       /* opt: TCP_NODELAY on (1) or left off (0) */
int raw_lines(struct bench_run *r);         /* opt: 0 one recv per line, else own buffer of opt bytes */
int raw_headbody(struct bench_run *r);      /* opt: 0 two send()s, 1 sendmsg() */
int raw_udp_burst(struct bench_run *r);     /* one recv() per datagram */
int raw_udp_big_send(struct bench_run *r);  /* 1200 B, 64 per call: opt 0 sendmmsg(), 1 sendmmsg() of UDP_SEGMENT runs */
int raw_udp_big_burst(struct bench_run *r); /* 1200 B, one recv() per datagram */

int sk_bulk_send(struct bench_run *r);      /* opt: timeout_ms for every call */
int sk_bulk_recv(struct bench_run *r);
int sk_pingpong(struct bench_run *r);
int sk_msg_send(struct bench_run *r);
int sk_msg_recv(struct bench_run *r);
int sk_udp_send_(struct bench_run *r);      /* opt: 0 sk_udp_send, 1 sk_udp_sendto */
int sk_udp_recv_(struct bench_run *r);
int sk_accept(struct bench_run *r);
int sk_connect_(struct bench_run *r);
int sk_reqresp(struct bench_run *r);        /* opt: 1 default (nodelay), 0 set_nodelay(0) */

/* The batch APIs of issue 6. */
int sk_lines(struct bench_run *r);          /* sk_tcp_recv_until */
int sk_lines_slice(struct bench_run *r);    /* sk_tcp_recv_slice */
int sk_headbody(struct bench_run *r);       /* sk_tcp_send_allv */
int sk_udp_send_batch_(struct bench_run *r); /* opt: datagrams per call */
int sk_udp_recv_batch_(struct bench_run *r); /* opt: datagrams per call */
int sk_udp_burst(struct bench_run *r);      /* opt: datagrams per call */

/* UDP offloads (issue 15). */
int sk_udp_big_send(struct bench_run *r);   /* 1200 B, sk_udp_send_batch; opt: datagrams per call */
int sk_udp_big_burst(struct bench_run *r);  /* 1200 B, sk_udp_recv_batch of 64; opt 1: sk_udp_set_gro on */

#endif /* SK_BENCH_H */
