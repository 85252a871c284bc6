/* The chat server's engine (examples/chat/engine.c) driven through a fake I/O half:
 * no sockets, every transfer's outcome chosen by the test, so that the paths a real
 * peer reaches only by timing (a client that says goodbye and then resets while output
 * waits for it) run every time. The end-to-end scenarios are tests/examples/chat_test.py. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "engine.h"

enum send_mode { TAKE_ALL, TAKE_NOTHING, FAIL };

#define CONNS 4

static struct fake {
    struct chat_client *client; /* the engine's data for this connection */
    unsigned watched;
    const char *input;          /* what the next read returns (NULL: nothing now) */
    int eof;                    /* after the input: end of stream */
    enum send_mode send;
    char out[8192];             /* what the "socket" took */
    size_t out_len;
    int closed;
    int shut;
} fake[CONNS];

static int f_attach(void *io, chat_conn conn, struct chat_client *c)
{
    (void)io;
    fake[conn.fd].client = c;
    fake[conn.fd].watched = CHAT_IN;
    return 0;
}

static const char *f_watch(void *io, chat_conn conn, struct chat_client *c, unsigned want)
{
    (void)io;
    fake[conn.fd].client = c;
    fake[conn.fd].watched = want;
    return NULL;
}

static enum chat_io f_recv(void *io, chat_conn conn, char *buf, size_t cap, size_t *got, const char **why)
{
    struct fake *f = &fake[conn.fd];
    (void)io;
    (void)why;
    *got = 0;
    if (f->input != NULL) {
        size_t n = strlen(f->input);
        cr_assert_leq(n, cap);
        memcpy(buf, f->input, n);
        *got = n;
        f->input = NULL;
        return CHAT_IO_DONE;
    }
    return f->eof ? CHAT_IO_CLOSED : CHAT_IO_AGAIN;
}

static enum chat_io f_send(void *io, chat_conn conn, const struct chat_iov *iov, size_t n, size_t *sent,
                           const char **why)
{
    struct fake *f = &fake[conn.fd];
    (void)io;
    *sent = 0;
    if (f->send == FAIL) {
        *why = "SK_ECONNRESET";
        return CHAT_IO_FAILED;
    }
    if (f->send == TAKE_NOTHING)
        return CHAT_IO_AGAIN;
    for (size_t i = 0; i < n; i++) {
        cr_assert_leq(f->out_len + iov[i].len, sizeof f->out, "more output than the test expects");
        memcpy(f->out + f->out_len, iov[i].base, iov[i].len);
        f->out_len += iov[i].len;
        *sent += iov[i].len;
    }
    return CHAT_IO_DONE;
}

static int f_shutdown(void *io, chat_conn conn)
{
    (void)io;
    fake[conn.fd].shut = 1;
    return 0;
}

static void f_close(void *io, chat_conn conn)
{
    (void)io;
    fake[conn.fd].closed = 1;
    fake[conn.fd].client = NULL;
}

static const struct chat_ops ops = {16, f_attach, f_watch, f_recv, f_send, NULL, NULL, f_shutdown, f_close};

static int saw(int conn, const char *text)
{
    struct fake *f = &fake[conn];
    size_t n = strlen(text);
    for (size_t i = 0; i + n <= f->out_len; i++)
        if (memcmp(f->out + i, text, n) == 0)
            return 1;
    return 0;
}

/* One wait's worth of the server's loop: the events, then the end of the batch. */
static void event(struct chat_engine *e, int conn, unsigned events)
{
    chat_tick(e);
    cr_assert_not_null(fake[conn].client, "connection %d has no client", conn);
    chat_event(e, fake[conn].client, events);
    chat_batch_done(e);
}

static struct chat_engine *engine_with(int n)
{
    struct chat_engine *e;
    char name[32];
    memset(fake, 0, sizeof fake);
    cr_assert_not_null(e = chat_engine_new("test", &ops, NULL));
    chat_tick(e);
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "127.0.0.1:%d", 40000 + i);
        chat_join(e, (chat_conn){.fd = i}, name);
        cr_assert_not_null(fake[i].client);
    }
    chat_batch_done(e);
    return e;
}

/* Before the fix, reap()'s last flush of such a client counted it gone a second time,
 * after it had left the list: chat_wait_timeout and chat_batch_done then looped for
 * ever (the soak of tests/load/soak.py found the server spinning, deaf to SIGTERM). */
Test(chat_engine, a_client_that_said_goodbye_and_then_reset_while_output_waited_is_closed_and_the_rest_go_on,
     .timeout = 10)
{
    struct chat_engine *e = engine_with(3);

    fake[1].send = TAKE_NOTHING; /* its socket is full: the next line waits in its queue */
    fake[0].input = "hello\n";
    event(e, 0, CHAT_IN);
    cr_assert(saw(2, "] hello\n"), "the third client did not get the line");
    cr_assert(!saw(1, "] hello\n"));

    fake[1].eof = 1;             /* it says goodbye... */
    fake[1].send = FAIL;         /* ...and its last flush meets a reset */
    event(e, 1, CHAT_IN);
    cr_assert(fake[1].closed, "the client that left was not closed");

    cr_assert_geq(chat_wait_timeout(e), -1); /* returns, and the others carry on */
    fake[2].input = "still here\n";
    event(e, 2, CHAT_IN);
    cr_assert(saw(0, "] still here\n"), "a line after the departure did not arrive");
    cr_assert(saw(0, " left"), "the departure was not announced");
    chat_engine_close(e);
}

Test(chat_engine, a_client_that_said_goodbye_gets_its_waiting_output_in_a_last_flush, .timeout = 10)
{
    struct chat_engine *e = engine_with(2);

    fake[1].send = TAKE_NOTHING;
    fake[0].input = "for you\n";
    event(e, 0, CHAT_IN);
    cr_assert(!saw(1, "] for you\n"));

    fake[1].eof = 1;
    fake[1].send = TAKE_ALL;     /* the socket takes it now */
    event(e, 1, CHAT_IN);
    cr_assert(saw(1, "] for you\n"), "the waiting line was not flushed before the close");
    cr_assert(fake[1].closed);
    cr_assert_geq(chat_wait_timeout(e), -1);
    chat_engine_close(e);
}
