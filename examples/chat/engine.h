/* The chat server's broadcast engine: everything it does that touches no socket.
 *
 * The engine (engine.c, with queue.c for its blocks and queues) owns the clients,
 * their queues of shared line blocks, the rounds, the flow control and the rules that
 * drop a client. It makes no system call on a
 * socket: it asks the I/O half through struct chat_ops (watch, read, write, close),
 * and the I/O half tells it what happened (chat_join, chat_event). Two I/O halves use
 * it: examples/chat/server.c on libsockkit, and the benchmark's raw-epoll twin,
 * tests/bench/chat_raw_epoll.c, so both run the same algorithm by construction.
 * docs/CHAT.md explains the design. */
#ifndef CHAT_ENGINE_H
#define CHAT_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CHAT_NAME_CAP 435            /* a client's tag with its NUL: SK_ADDR_STRLEN (unix:@ names) */
#define CHAT_UNSENT_LOWAT (128 * 1024) /* TCP_NOTSENT_LOWAT while a client is behind (docs/CHAT.md) */
#define CHAT_UNSENT_LOWAT_UP (256 * 1024) /* ...and while it keeps up: a round goes in one send */
#define CHAT_MAX_EVENTS 256          /* events per wait */
#define CHAT_ACCEPT_BURST 64         /* connections taken per listener event */
#define CHAT_ACCEPT_PAUSE_MS 100     /* rest for the listener after accept fails (EMFILE) */

/* What a connection is watched for (chat_ops.watch), and what an event reports. */
#define CHAT_IN 0x1u
#define CHAT_OUT 0x2u
#define CHAT_HUP 0x4u                /* hang-up or error: the read tells which */

/* How one transfer went. */
enum chat_io {
    CHAT_IO_DONE,                    /* read something / wrote all of it */
    CHAT_IO_AGAIN,                   /* nothing to read / the socket took only *sent */
    CHAT_IO_CLOSED,                  /* read: end of stream */
    CHAT_IO_FAILED                   /* reset, broken pipe...: *why says which */
};

/* One connection, as its I/O half knows it: an endpoint or a descriptor. */
typedef union chat_conn {
    void *ptr;
    int fd;
} chat_conn;

/* One piece of a gather write. */
struct chat_iov {
    const char *base;
    size_t len;
};

struct chat_engine;
struct chat_client;                  /* the data of a connection's registration */

/* What the engine asks of its I/O half. Every call gets the `io` given to
 * chat_engine_new and never blocks. A reason (*why, or the value of watch) is a
 * static string such as "SK_ECONNRESET": the log says it when the client leaves. */
struct chat_ops {
    size_t max_iov;                  /* pieces per gather write */
    /* Watch conn for CHAT_IN, c being its events' data: 0, or -1 after a message. */
    int (*attach)(void *io, chat_conn conn, struct chat_client *c);
    /* Watch conn for `want` (CHAT_IN, CHAT_OUT, both or 0): NULL, or why not. */
    const char *(*watch)(void *io, chat_conn conn, struct chat_client *c, unsigned want);
    /* One read of at most cap bytes. */
    enum chat_io (*recv)(void *io, chat_conn conn, char *buf, size_t cap, size_t *got, const char **why);
    /* One gather write; *sent says how much the socket took, whatever the result. */
    enum chat_io (*send)(void *io, chat_conn conn, const struct chat_iov *iov, size_t n, size_t *sent,
                         const char **why);
    /* Client c fell behind (behind = 1: bound what the system holds unsent for it to
     * CHAT_UNSENT_LOWAT, so that what its reader takes shows) or caught up (0: back to
     * CHAT_UNSENT_LOWAT_UP). NULL where the system has no such bound. */
    void (*bound_unsent)(void *io, chat_conn conn, int behind);
    /* How many bytes the system still holds for conn, sent or not, that its reader
     * has not acknowledged (SIOCOUTQ), or -1 when it cannot tell. While a client is
     * behind, a fall in this count is progress too. NULL: never asked. */
    long (*unacked)(void *io, chat_conn conn);
    /* End conn's sending half (shutdown SHUT_WR): 0, or -1. */
    int (*shutdown)(void *io, chat_conn conn);
    /* Close conn, which also ends its registration. */
    void (*close)(void *io, chat_conn conn);
};

/* The program's name (log lines start with it), its I/O half: a new engine, or NULL
 * when memory is short. */
struct chat_engine *chat_engine_new(const char *prog, const struct chat_ops *ops, void *io);

/* Where the engine's log lines go (stderr until this is called): the fuzz harness
 * tests/fuzz/fuzz_chat_input.c sends them to /dev/null. */
void chat_engine_set_log(struct chat_engine *e, FILE *log);

/* The server stops: every client is sent our end of stream after what it was sent,
 * and its input is read until its own (a graceful close, for a second at most). The
 * I/O half goes on with its loop while chat_engine_closing says some are left. */
void chat_engine_stop(struct chat_engine *e);
size_t chat_engine_closing(const struct chat_engine *e);

/* Log how often the input was held, close every client, free the engine. */
void chat_engine_close(struct chat_engine *e);

/* A connection was accepted; name is its peer, "127.0.0.1:50432". The engine greets
 * it and announces it, or closes it when it cannot take it. */
void chat_join(struct chat_engine *e, chat_conn conn, const char *name);

/* Before each wait: review the backlogs, remove the clients that left, and say how
 * long the wait may last, in ms (-1: until something happens). */
int chat_wait_timeout(struct chat_engine *e);

/* After each wait: read the clock once for the whole batch of events. */
void chat_tick(struct chat_engine *e);

/* One event of the batch: CHAT_IN, CHAT_OUT and CHAT_HUP bits for client c. */
void chat_event(struct chat_engine *e, struct chat_client *c, unsigned events);

/* The batch is done: end the round and remove the clients that left. */
void chat_batch_done(struct chat_engine *e);

/* The listener rests (resting = 1, after accept failed and its events were switched
 * off) or works again (0); chat_listener_rested says when its rest is over. */
void chat_rest_listener(struct chat_engine *e, int resting);
int chat_listener_rested(const struct chat_engine *e);

/* Shared by both servers' main(): "PROG [host [port]]". Returns -1 to go on, or the
 * exit status (0 after -h, 2 after a usage line). */
int chat_parse_args(const char *prog, int argc, char **argv, const char **host, int *port);

/* A chat server needs one descriptor per client: take all the system allows. */
void chat_raise_fd_limit(const char *prog);

#endif
